"""``python -m riskbench``: the same as the ``riskbench`` command."""

import sys

from riskbench.cli import main

if __name__ == "__main__":
    sys.exit(main())
