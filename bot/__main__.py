"""`python -m bot ...`: the staff command line."""

import sys

from bot.cli import main

sys.exit(main())
