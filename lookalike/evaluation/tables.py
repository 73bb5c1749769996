"""The catalog protocol's report files: a Markdown table of evaluations, and
``report.md`` + ``report.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lookalike.evaluation.protocol import Evaluation
from lookalike.files import atomic_write_with


def format_table(evaluations: Sequence[Evaluation], digits: int = 3) -> str:
    """A Markdown table: one row per evaluation, one column per metric."""
    if not evaluations:
        return ""
    keys = list(evaluations[0].metrics)
    for evaluation in evaluations[1:]:
        keys += [key for key in evaluation.metrics if key not in keys]
    lines = [
        "| features | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for evaluation in evaluations:
        cells = [
            f"{evaluation.metrics[key]:.{digits}f}" if key in evaluation.metrics else ""
            for key in keys
        ]
        lines.append(f"| {evaluation.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    evaluations: Sequence[Evaluation],
    context: dict[str, Any],
    extra_markdown: str = "",
) -> tuple[Path, Path]:
    """``report.md`` + ``report.json`` in ``out_dir`` (written atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        **context,
        "results": [
            {"name": e.name, "queries": e.n_queries, "metrics": e.metrics} for e in evaluations
        ],
    }
    lines = ["# lookalike evaluation", ""]
    lines += [f"- {key}: {value}" for key, value in context.items()]
    lines += ["", format_table(evaluations), "", extra_markdown]
    md_path, json_path = out_dir / "report.md", out_dir / "report.json"
    for path, text in ((md_path, "\n".join(lines)), (json_path, json.dumps(payload, indent=2))):
        atomic_write_with(path, lambda tmp, text=text: tmp.write_text(text))
    return md_path, json_path
