"""``python -m selfsup_perception``: the ``selfsup`` command line."""

import sys

from .cli import main

sys.exit(main())
