"""``python -m ocrlab`` (and ``accelerate launch -m ocrlab ...``): the ``ocrlab`` command."""

import sys

from .cli import main

sys.exit(main())
