"""``python -m semicycle`` and ``torchrun -m semicycle``: the command line."""

from .cli import main

raise SystemExit(main())
