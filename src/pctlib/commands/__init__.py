"""Subcommands of the ``pctlib`` command line, one module each; importing a module registers its commands."""
