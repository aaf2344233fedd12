"""``python -m vidbook ...`` runs the command line."""

import sys

from vidbook.cli import main

sys.exit(main())
