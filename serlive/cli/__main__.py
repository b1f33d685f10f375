"""``python -m serlive.cli``: the same as the ``serlive`` command (the desktop entry's launcher uses it)."""

import sys

from serlive.cli.commands import main

sys.exit(main())
