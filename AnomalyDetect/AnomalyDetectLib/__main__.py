"""``python -m AnomalyDetectLib detect ...``: see :mod:`AnomalyDetectLib.cli`."""

from .cli import main

raise SystemExit(main())
