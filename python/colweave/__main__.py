"""``python -m colweave`` is the ``colweave`` command."""

import sys

from colweave.cli import main

sys.exit(main())
