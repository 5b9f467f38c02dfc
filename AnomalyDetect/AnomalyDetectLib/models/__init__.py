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
    "hqanogan": "AnomalyDetectLib.models.hqanogan",
}

#: Models that are not anomaly detectors but share the bundle format (run by
#: ``AnomalyDetectLib.landmark_detection``, trained by ``trainer.landmarks``).
LANDMARK_METHODS = {
    "landmarks": "AnomalyDetectLib.models.landmarks",
}


def get_method(name: str):
    """The registered method object for ``name`` (raises BundleError for unknown names)."""
    modules = dict(METHODS, **LANDMARK_METHODS)
    if name not in modules:
        raise BundleError(f"Unknown method '{name}'; known methods: {', '.join(sorted(modules))}.")
    return importlib.import_module(modules[name]).METHOD
