"""``python -m ntl``."""

import sys

from ntl.cli import main

sys.exit(main())
