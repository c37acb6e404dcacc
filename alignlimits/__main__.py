"""``python -m alignlimits``: the command-line interface (see :mod:`alignlimits.cli`)."""

from alignlimits.cli import main

raise SystemExit(main())
