"""The ``lookalike`` command: parses arguments, calls the library, prints.

Every subcommand has ``--help``. Errors a user can cause (a missing folder, an unreadable
image, an unknown id) print one line naming the problem and exit with status 2; they never
show a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SHARED_CATALOG = Path(__file__).resolve().parents[1].parent / "shared" / "fashion-images"
DEMO_BUNDLES = Path("bundles")


class UsageError(Exception):
    """A mistake in the command line; printed without a traceback."""


def default_catalog() -> Path | None:
    """The bundled reference catalog (../shared/fashion-images next to the checkout)."""
    for candidate in (SHARED_CATALOG, Path.cwd().parent / "shared" / "fashion-images"):
        if candidate.is_dir():
            return candidate
    return None


def parse_key_values(pairs: Sequence[str] | None, what: str) -> dict[str, list[str]]:
    """``["Gender=Women", "Colour=Red,Blue"]`` -> {"Gender": ["Women"], "Colour": [...]}."""
    result: dict[str, list[str]] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} must look like COLUMN=VALUE, got {pair!r}")
        values = [v.strip() for v in value.split(",") if v.strip()]
        result.setdefault(key.strip(), []).extend(values)
    return result


def parse_options(pairs: Sequence[str] | None) -> dict[str, object]:
    """``--set epochs=5 --set lr=0.001`` -> typed dict (JSON values where they parse)."""
    options: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set must look like OPTION=VALUE, got {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


# --- build / train / index ------------------------------------------------------------------
def _add_build_arguments(parser: argparse.ArgumentParser, needs_catalog: bool = True) -> None:
    if needs_catalog:
        parser.add_argument("catalog", type=Path, help="folder of product images (any tree)")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument(
        "--encoder",
        default=None,
        help="encoder: hybrid (default), cae (the paper's auto-encoder), efficientnet-lite0",
    )
    parser.add_argument("--metadata", type=Path, help="metadata CSV (default: fashion.csv)")
    parser.add_argument("--id-column", help="CSV column holding the item id")
    parser.add_argument("--image-column", help="CSV column holding the image file name")
    parser.add_argument(
        "--split",
        help="CSV of id,split: labels of 'test' items are never trained on "
        "(default: CATALOG/split.csv if present; '' to use every label)",
    )
    parser.add_argument(
        "--label-column",
        action="append",
        dest="label_columns",
        help="metadata column the encoder may learn from (repeatable; default: all categorical)",
    )
    parser.add_argument(
        "--index",
        default="auto",
        choices=["auto", "flat", "hnsw", "ivfpq"],
        help="index type (auto: exact below the measured threshold, approximate above)",
    )
    parser.add_argument("--epochs", type=int, help="training epochs (cae: 30 by default)")
    parser.add_argument("--input-size", type=int, help="model input side in pixels")
    parser.add_argument(
        "--set",
        action="append",
        metavar="OPTION=VALUE",
        help="any other encoder option, e.g. --set lr=0.001 --set denoise_std=0.1",
    )
    parser.add_argument("--workdir", type=Path, help="cache/checkpoint folder (default: OUT/work)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _build_config(args: argparse.Namespace, catalog: Path):
    from lookalike.pipeline import DEFAULT_ENCODER, BuildConfig

    options = parse_options(args.set)
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.input_size is not None:
        options["input_size"] = args.input_size
    return BuildConfig(
        catalog=str(catalog.resolve()),
        metadata_csv=str(args.metadata.resolve()) if args.metadata else None,
        id_column=args.id_column,
        image_column=args.image_column,
        encoder=args.encoder or DEFAULT_ENCODER,
        encoder_options=options,
        index=args.index,
        split_csv=args.split,
        label_columns=args.label_columns,
        workdir=str(args.workdir.resolve()) if args.workdir else None,
    )


def cmd_build(args: argparse.Namespace) -> int:
    """Train the encoder, embed the catalog, index it, write the bundle."""
    from lookalike.pipeline import build_bundle

    build_bundle(_build_config(args, args.catalog), args.out, progress=not args.quiet)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the encoder only (resumable); `lookalike index` then builds the bundle."""
    from lookalike.pipeline import build_bundle

    config = _build_config(args, args.catalog)
    build_bundle(
        config, args.out, progress=not args.quiet, reuse_trained=args.resume, train_only=True
    )
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """Embed + index with the encoder that `lookalike train` left in the work folder."""
    from lookalike.pipeline import build_bundle

    config = _build_config(args, args.catalog)
    build_bundle(config, args.out, progress=not args.quiet, reuse_trained="required")
    return 0


# --- recommend ------------------------------------------------------------------------------
def _format_table(result, columns: Sequence[str]) -> str:
    header = ["rank", "id", "distance", *columns]
    rows = [
        [str(r.rank), r.id, f"{r.distance:.4f}", *(r.metadata.get(c, "") for c in columns)]
        for r in result.results
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
        for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def display_columns(recommender, limit: int = 5) -> list[str]:
    """Metadata columns worth printing, most useful first."""
    preferred = ["ProductTitle", "ProductType", "Colour", "Gender", "SubCategory"]
    columns = recommender.metadata_columns
    ordered = [c for c in preferred if c in columns] + [c for c in columns if c not in preferred]
    return ordered[:limit]


def grid_rows_for(recommender, results, query_images) -> list:
    """Grid rows (query tile + result tiles with captions) for ``results``."""
    from lookalike.grid import GridRow, load_tile_image

    rows = []
    for result, query_image in zip(results, query_images, strict=True):
        if result.error:
            continue
        captions = [
            f"{r.id}  d={r.distance:.3f}\n{r.metadata.get('ProductType', '')} "
            f"{r.metadata.get('Colour', '')}".strip()
            for r in result.results
        ]
        rows.append(
            GridRow(
                query=query_image,
                query_caption=f"query\n{Path(result.query).name}",
                results=[load_tile_image(r.path) for r in result.results],
                captions=captions,
            )
        )
    return rows


def cmd_recommend(args: argparse.Namespace) -> int:
    """Recommend lookalikes for image files and/or catalog items."""
    import lookalike
    from lookalike.grid import draw_grid, load_tile_image

    if args.like or args.dislike:
        return _recommend_profile(args)
    if not args.images and not args.item:
        raise UsageError("give at least one IMAGE, --item ID or --like ID|PHOTO")
    recommender = lookalike.load(args.bundle)
    filters = parse_key_values(args.filter, "--filter")
    collapse = not args.allow_duplicates
    results, query_images = [], []
    if args.images:
        for path in args.images:
            if not Path(path).is_file():
                raise UsageError(f"image not found: {path}")
        results += recommender.recommend_images(
            [str(p) for p in args.images], args.k, filters=filters, collapse_duplicates=collapse
        )
        query_images += [load_tile_image(p) for p in args.images]
    if args.item:
        results += recommender.recommend_items(
            args.item, args.k, filters=filters, collapse_duplicates=collapse
        )
        query_images += [
            load_tile_image(recommender.item(recommender.row(i)).path) for i in args.item
        ]
    if args.json:
        for result in results:
            print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        columns = display_columns(recommender)
        for result in results:
            print(f"\nquery: {result.query}")
            print(f"  error: {result.error}" if result.error else _format_table(result, columns))
    if args.grid:
        path = draw_grid(
            grid_rows_for(recommender, results, query_images),
            args.grid,
            title=f"lookalike: top-{args.k}",
        )
        print(f"grid written to {path}", file=sys.stderr)
    return 1 if any(r.error for r in results) else 0


def _recommend_profile(args: argparse.Namespace) -> int:
    """`recommend --like ... --dislike ...`: one list for the shopper's whole profile."""
    import lookalike
    from lookalike.personal import Profile, read_interactions, recommend_profile

    if args.images or args.item:
        raise UsageError("--like/--dislike make one profile query; drop IMAGE and --item")
    if not args.like:
        raise UsageError("a profile needs at least one --like")
    recommender = lookalike.load(args.bundle)
    liked_rows, photos = [], []
    for value in args.like:
        if Path(value).is_file():
            photos.append(value)
        else:
            liked_rows.append(recommender.row(value))
    vectors = None
    if photos:
        vectors, ok, errors = recommender.encode_images(photos)
        if errors:
            raise UsageError("; ".join(message for _, message in errors))
    profile = Profile(
        liked_rows, [recommender.row(i) for i in args.dislike or []], vectors, user=args.user
    )
    log = None
    if args.interactions:
        log = read_interactions(
            args.interactions, {i: r for r, i in enumerate(recommender.items.ids)}
        )
        for problem in log.problems[:5]:
            print(f"warning: {problem}", file=sys.stderr)
    results = recommend_profile(
        recommender,
        profile,
        args.k,
        method=args.method,
        diversity=args.diversity,
        filters=parse_key_values(args.filter, "--filter"),
        interactions=log,
        collapse_duplicates=not args.allow_duplicates,
    )
    from lookalike.recommend import QueryResult

    result = QueryResult(query="profile: like " + ", ".join(args.like), results=results)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print(f"\n{result.query}")
        print(_format_table(result, display_columns(recommender)))
    return 0


def cmd_evaluate_personal(args: argparse.Namespace) -> int:
    """Simulated shoppers: personalised methods vs best-sellers (hit-rate@10, nDCG@10)."""
    from lookalike.personal_eval import SimulatorConfig, evaluate_personal

    config = SimulatorConfig(shoppers=args.shoppers, seed=args.seed)
    out = args.out or Path(args.bundle) / "report" / "personal.json"
    evaluate_personal(args.bundle, config, out=out, progress=not args.quiet)
    print(f"written to {out}")
    return 0


# --- evaluate -------------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run the evaluation protocol on a bundle (and baselines) and write the report."""
    from lookalike.report import evaluate_bundle

    evaluate_bundle(
        args.bundle,
        out_dir=args.out,
        catalog=args.catalog,
        split_csv=args.split,
        primary=args.label_column,
        columns=args.also or None,
        baselines=not args.no_baselines,
        compare_bundles=args.compare or [],
        robustness=not args.no_robustness,
        progress=not args.quiet,
    )
    return 0


# --- demo / check ---------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """Build (or reuse) a bundle for the reference catalog, then show recommendations."""
    import lookalike
    from lookalike.bundle import BundleError, read_bundle
    from lookalike.grid import draw_grid, load_tile_image
    from lookalike.pipeline import DEFAULT_ENCODER, BuildConfig, build_bundle

    catalog = args.catalog or default_catalog()
    if catalog is None:
        raise UsageError(
            "no catalog given and the reference catalog ../shared/fashion-images is not here; "
            "run `lookalike demo PATH/TO/IMAGES`"
        )
    encoder = args.encoder or DEFAULT_ENCODER
    out = args.out or DEMO_BUNDLES / f"demo-{encoder}"
    config = BuildConfig(catalog=str(Path(catalog).resolve()), encoder=encoder)
    if args.epochs is not None:
        config.encoder_options["epochs"] = args.epochs
    try:
        existing = read_bundle(out).config
    except BundleError:
        existing = None
    started = time.perf_counter()
    if existing == json.loads(json.dumps(config.__dict__)) and not args.rebuild:
        print(f"reusing the bundle in {out} (use --rebuild to build it again)")
    else:
        print(f"building a {encoder} bundle for {catalog} into {out} ...")
        build_bundle(config, out)
        print(f"built in {time.perf_counter() - started:.0f}s")
    recommender = lookalike.load(out)
    rng_ids = _demo_items(recommender, args.queries)
    results = recommender.recommend_items(rng_ids, args.k)
    columns = display_columns(recommender)
    for result in results:
        query = recommender.item(recommender.row(result.query))
        print(f"\nquery: {result.query}  " + "  ".join(query.metadata.get(c, "") for c in columns))
        print(_format_table(result, columns))
    images = [load_tile_image(recommender.item(recommender.row(i)).path) for i in rng_ids]
    grid = draw_grid(
        grid_rows_for(recommender, results, images),
        Path(out) / "demo_grid.png",
        title=f"lookalike demo ({encoder}): query | top-{args.k}",
    )
    print(f"\nresult grid: {grid}")
    print(f"try: lookalike recommend --bundle {out} PHOTO.jpg   |   lookalike serve --bundle {out}")
    return 0


def _demo_items(recommender, count: int) -> list[str]:
    """A deterministic, varied set of query items (different product types when known)."""
    seen, picked = set(), []
    for row in range(0, len(recommender), max(1, len(recommender) // 97)):
        kind = recommender.items.metadata[row].get("ProductType", row)
        if kind not in seen:
            seen.add(kind)
            picked.append(recommender.items.ids[row])
        if len(picked) == count:
            break
    return picked


def cmd_check(args: argparse.Namespace) -> int:
    """Verify a bundle's checksums and counts."""
    from lookalike.bundle import check_bundle, current_version_dir

    problems = check_bundle(args.bundle)
    if problems:
        for problem in problems:
            print(f"problem: {problem}")
        return 1
    print(f"ok: {current_version_dir(args.bundle)}")
    return 0


# --- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="lookalike",
        description="Visual apparel recommender: learn image features, index them, "
        "recommend items that look alike.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="train + embed + index a catalog into a bundle")
    _add_build_arguments(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("train", help="train the encoder only (checkpoints every epoch)")
    _add_build_arguments(p)
    p.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start training from scratch instead of the last checkpoint",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("index", help="embed + index with the encoder `train` left behind")
    _add_build_arguments(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("recommend", help="lookalikes for photos or catalog items")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("images", nargs="*", type=Path, help="query image files")
    p.add_argument("--item", action="append", help="catalog item id to query (repeatable)")
    p.add_argument("-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument(
        "--filter",
        action="append",
        metavar="COLUMN=VALUE[,VALUE]",
        help="only items whose metadata matches, e.g. --filter Gender=Women",
    )
    p.add_argument(
        "--allow-duplicates",
        action="store_true",
        help="keep byte-identical images under different ids in the results",
    )
    p.add_argument(
        "--like",
        action="append",
        metavar="ID|PHOTO",
        help="a liked catalog item or photo: one list for the whole profile",
    )
    p.add_argument(
        "--dislike",
        action="append",
        metavar="ID",
        help="a disliked catalog item: lookalikes of it sink",
    )
    p.add_argument(
        "--method",
        default="fusion",
        choices=["fusion", "mean"],
        help="profile method: fusion (RRF of per-item lists) or mean embedding",
    )
    p.add_argument(
        "--diversity",
        type=float,
        default=0.0,
        help="0..1: maximal-marginal-relevance trade-off (0 = off)",
    )
    p.add_argument(
        "--interactions",
        type=Path,
        help="CSV user_id,item_id,event[,timestamp] for the collaborative blend",
    )
    p.add_argument("--user", help="the shopper's user_id in --interactions")
    p.add_argument("--json", action="store_true", help="one JSON object per query")
    p.add_argument("--grid", type=Path, help="write a PNG grid: each query then its top-k")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("evaluate", help="measure retrieval quality (P@k, mAP) of a bundle")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("--catalog", type=Path, help="catalog folder (default: the bundle's)")
    p.add_argument("--split", type=Path, help="id,split CSV (default: CATALOG/split.csv)")
    p.add_argument("--label-column", default="ProductType", help="relevance label column")
    p.add_argument("--also", action="append", help="more label columns for P@10 (repeatable)")
    p.add_argument("--out", type=Path, help="report folder (default: BUNDLE/report)")
    p.add_argument(
        "--compare",
        action="append",
        type=Path,
        help="another bundle to put in the same table (repeatable)",
    )
    p.add_argument("--no-baselines", action="store_true", help="skip raw-pixel/chance rows")
    p.add_argument("--no-robustness", action="store_true", help="skip degraded-copy queries")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "demo", help="build (or reuse) a bundle of the reference catalog and show recommendations"
    )
    p.add_argument(
        "catalog", nargs="?", type=Path, help="catalog folder (default: ../shared/fashion-images)"
    )
    p.add_argument("--out", type=Path, help="bundle folder (default: bundles/demo-ENCODER)")
    p.add_argument("--encoder", help="encoder (default: hybrid)")
    p.add_argument("--epochs", type=int, help="training epochs (cae)")
    p.add_argument("--queries", type=int, default=4, help="number of example queries")
    p.add_argument("-k", type=int, default=5, help="results per query")
    p.add_argument("--rebuild", action="store_true", help="build even if a bundle exists")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "evaluate-personal", help="simulated shoppers: personalised methods vs best-sellers"
    )
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("--shoppers", type=int, default=300, help="simulated shoppers")
    p.add_argument("--seed", type=int, default=0, help="simulator seed")
    p.add_argument("--out", type=Path, help="JSON output (default BUNDLE/report/personal.json)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_evaluate_personal)

    p = sub.add_parser("check", help="verify a bundle's integrity (checksums, counts)")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.set_defaults(func=cmd_check)

    for extension in EXTENSIONS:
        extension(sub)
    return parser


# Other modules (server, catalog updates, personalisation) add subcommands here.
EXTENSIONS: list = []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lookalike`` console script."""
    from lookalike.bundle import BundleError
    from lookalike.catalog import CatalogError
    from lookalike.imaging import ImageDecodeError
    from lookalike.recommend import FilterError, UnknownItemError

    _load_extensions()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (
        UsageError,
        CatalogError,
        BundleError,
        ImageDecodeError,
        FilterError,
        UnknownItemError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        print(f"lookalike {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _load_extensions() -> None:
    import importlib

    for module in ("lookalike.server.cli", "lookalike.updates"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


if __name__ == "__main__":
    # Run through the imported module so extensions register on the same EXTENSIONS list.
    from lookalike.cli import main as _main

    sys.exit(_main())
