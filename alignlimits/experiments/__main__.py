"""``python -m alignlimits.experiments``: see :mod:`alignlimits.experiments.cli`."""

from alignlimits.experiments.cli import main

raise SystemExit(main())
