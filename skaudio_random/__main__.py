"""``python -m skaudio_random``: the ``skaudio-random`` command line."""

import sys

from .cli import main

sys.exit(main())
