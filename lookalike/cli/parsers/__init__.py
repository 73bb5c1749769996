"""The command line's argument parsers, one module per command group, apart from the code
that runs the commands: building the parser imports nothing heavier than argparse, so
``lookalike --help``, a command's ``--help`` and argument errors answer at once.

Each module has ``add_parsers(sub)``; every subcommand sets ``command=(group, function)``,
the function of :mod:`lookalike.cli.<group>` that :mod:`lookalike.cli.commands` runs.
"""
