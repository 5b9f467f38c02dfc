"""The registry of anomaly-detection methods.

Each method lives in a sub-package of its own (networks, training step, scoring,
README) and is registered here with one line: name → module path. The module must
expose ``METHOD``, an object following :class:`AnomalyDetectLib.models.base.Method`.
Modules are imported only when asked for, so reading a manifest needs no torch.
"""

from __future__ import annotations

import importlib

from ..errors import BundleError

METHODS = {
    "skipganomaly": "AnomalyDetectLib.models.skipganomaly",
    "ganomaly": "AnomalyDetectLib.models.ganomaly",
    "acae": "AnomalyDetectLib.models.acae",
    "anogan": "AnomalyDetectLib.models.anogan",
    "fanogan": "AnomalyDetectLib.models.fanogan",
    "translation": "AnomalyDetectLib.models.translation",
}


def get_method(name: str):
    """The registered method object for ``name`` (raises BundleError for unknown names)."""
    if name not in METHODS:
        raise BundleError(f"Unknown method '{name}'; known methods: {', '.join(sorted(METHODS))}.")
    return importlib.import_module(METHODS[name]).METHOD
