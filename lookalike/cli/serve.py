"""``lookalike serve``: the HTTP API and web page over a bundle (uvicorn).

User errors (no bundle, a bad port) raise ``ValueError``/``BundleError`` so
:func:`lookalike.cli.main` prints one line and exits 2, like every other command.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from lookalike.server.app import API_KEY_ENV, configured_api_key, create_app
from lookalike.server.profile_api import use_interactions
from lookalike.server.protocol import JsonErrorH11Protocol


def cmd_serve(args: argparse.Namespace) -> int:
    """Load the bundle and serve it until interrupted."""
    # The thread pools were set for one query at a time by lookalike.cli.main(), before
    # faiss and PyTorch loaded (they read their settings when loaded).
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    if args.decode_budget_mb <= 0:
        raise ValueError(f"--decode-budget-mb must be positive, got {args.decode_budget_mb}")
    # The app logs under "lookalike.server" (bundle loaded, unreadable images, 500s).
    logging.basicConfig(
        level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s"
    )
    # The key itself never goes on the command line, where `ps` would show it.
    env = args.api_key_env or API_KEY_ENV
    api_key = configured_api_key(None, env)
    if args.api_key_env and api_key is None:
        raise ValueError(f"--api-key-env {env}: that environment variable is not set or empty")
    app = create_app(
        args.bundle,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        cors_origins=args.cors_origins or (),
        thumbnail_dir=args.thumbnail_dir,
        api_key=api_key,
        api_key_env=None,
        decode_budget_bytes=int(args.decode_budget_mb * 2**20),
    )
    if args.interactions:
        if not args.interactions.is_file():
            raise FileNotFoundError(f"interaction log not found: {args.interactions}")
        use_interactions(app, args.interactions)
    updates = f"enabled (API key from ${env})" if api_key else "disabled (no API key)"
    print(f"lookalike: catalog updates {updates}", flush=True)
    print(f"lookalike: serving {args.bundle} on http://{args.host}:{args.port}/", flush=True)
    # JSON 400s for requests the HTTP parser refuses (lookalike/server/protocol.py).
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, http=JsonErrorH11Protocol
    )
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``lookalike`` parser."""
    p = sub.add_parser("serve", help="serve the HTTP API and web page for a bundle")
    p.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument(
        "--max-upload-mb", type=float, default=10, help="largest photo upload in MB (default 10)"
    )
    p.add_argument(
        "--decode-budget-mb",
        type=float,
        default=512,
        help="memory all image decodes in flight share; more wait (503 after 30 s) (default 512)",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        dest="cors_origins",
        metavar="ORIGIN",
        help="allow browser calls from ORIGIN, e.g. https://shop.example (repeatable; "
        "default: none)",
    )
    p.add_argument(
        "--thumbnail-dir", type=Path, help="thumbnail cache folder (default: BUNDLE/thumbnails)"
    )
    p.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="environment variable holding the API key that enables POST/DELETE /api/items "
        "(default: LOOKALIKE_API_KEY; updates are disabled when it is unset)",
    )
    p.add_argument(
        "--interactions",
        type=Path,
        metavar="CSV",
        help="user_id,item_id,event log blended into /api/recommend/profile (collaborative KNN)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default info)",
    )
    p.set_defaults(func=cmd_serve)
