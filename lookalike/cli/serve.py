"""``lookalike serve``: the HTTP API and web page over a bundle (uvicorn).

User errors (no bundle, a bad port) raise ``ValueError``/``BundleError`` so
:func:`lookalike.cli.main` prints one line and exits 2, like every other command.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from lookalike.cli.parsers.serve import add_parsers as add_parsers  # the old import path
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
        page_look=args.page_look,
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
