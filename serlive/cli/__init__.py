"""The ``serlive`` command: subcommands (none = the desktop app), their arguments and their output.

A thin adapter: it parses, then calls the live engine (:mod:`serlive.live`), the file
analysis (:mod:`serlive.files`) or the GUI, and formats what they return.
"""

from serlive.cli.commands import main

__all__ = ["main"]
