"""Result grids: PNGs of test queries with their top-k, hits framed green and misses red."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lookalike.evaluation import Evaluation
from lookalike.grid import GridRow, draw_grid, load_tile_image


def result_grids(
    recommender,
    evaluation: Evaluation,
    query_rows: np.ndarray,
    primary: str,
    out_dir: Path,
    n_grids: int = 3,
    per_grid: int = 6,
    k: int = 5,
) -> list[Path]:
    """PNG grids of test queries with their top-k, hits framed green and misses red."""
    rng = np.random.default_rng(0)
    picks = rng.choice(
        len(query_rows), size=min(len(query_rows), n_grids * per_grid), replace=False
    )
    labels = [m.get(primary, "") for m in recommender.items.metadata]
    paths = []
    for g in range(n_grids):
        rows = []
        for i in picks[g * per_grid : (g + 1) * per_grid]:
            q = int(query_rows[i])
            found = [int(r) for r in evaluation.result_rows[i][:k] if r >= 0]
            rows.append(
                GridRow(
                    query=load_tile_image(recommender.items.paths[q]),
                    query_caption=f"{recommender.items.ids[q]}\n{labels[q]}",
                    results=[load_tile_image(recommender.items.paths[r]) for r in found],
                    captions=[f"{recommender.items.ids[r]}\n{labels[r]}" for r in found],
                    hits=[labels[r] == labels[q] for r in found],
                )
            )
        if rows:
            paths.append(
                draw_grid(
                    rows,
                    out_dir / f"grid_{g + 1}.png",
                    title=f"{evaluation.name}: query | top-{k} (green = same {primary})",
                )
            )
    return paths
