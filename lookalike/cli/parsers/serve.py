"""The arguments of ``lookalike serve``: argparse only, so ``--help`` and argument
errors answer without loading the command (:mod:`lookalike.cli.serve` runs it)."""

from __future__ import annotations

import argparse
from pathlib import Path


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
        metavar="LOG",
        help="user_id,item_id,event[,timestamp] log: with timestamps, a known user's "
        "/api/recommend/profile picks come from its sources (learned blend, with reasons); "
        "POST /api/events appends to it (API key); without, collaborative KNN",
    )
    p.add_argument(
        "--no-look",
        dest="page_look",
        action="store_false",
        help="the web page sends uploaded photos as plain photo queries, without shopping the "
        "look (no garment boxes; the API still answers look=true)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default info)",
    )
    p.set_defaults(command=("serve", "cmd_serve"))
