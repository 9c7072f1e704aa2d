"""``python -m polmlip ...``: the ``polmlip`` command (also what ``torchrun -m polmlip`` runs)."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
