"""``python -m lookalike`` runs the command line."""

import sys

from lookalike.cli import main

sys.exit(main())
