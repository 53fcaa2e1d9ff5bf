"""``python -m justfit``: the command line, as the ``justfit`` script runs it (and as launchers that take a
module, ``torchrun -m justfit`` and ``accelerate launch -m justfit``, start it)."""

import sys

from justfit.cli.main import main

sys.exit(main())
