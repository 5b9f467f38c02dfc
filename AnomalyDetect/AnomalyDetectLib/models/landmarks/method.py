"""The landmark classifier as a bundle "method": architecture defaults and network construction.

It is not an anomaly method (it is registered in ``LANDMARK_METHODS``, not ``METHODS``):
``AnomalyDetectLib.landmark_detection.LandmarkDetector`` runs it, ``trainer.landmarks``
trains it. The manifest's ``architecture["classes"]`` lists the landmark names; class 0 is
"none".
"""

from __future__ import annotations

from typing import Dict

from torch import nn

from ..base import Method
from .networks import MiniVGG


class LandmarkClassifier(Method):
    NAME = "landmarks"
    TASK = "landmarks"
    DEFAULT_ARCHITECTURE = {"input_size": 32, "channels": 3, "widths": [16, 32, 64], "dense": 128, "classes": []}
    # Sampling and detection settings saved in the manifest's "scoring" entry.
    DEFAULT_DETECTION = {
        "extent_mm": 64.0,  # side of each 2.5D plane: 32 samples of 2 mm
        "grid_mm": 10.0,  # coarse candidate grid
        "candidates_per_class": 3,  # best coarse points refined per landmark
        "min_confidence": 0.5,  # below this a landmark is reported absent
        # final mean shift: samples at ±centre_window × grid_mm around the point, centre_iterations times
        # (chosen on the OpenKBP validation patients: ±5 mm, 3 steps; docs/BENCHMARKS.md)
        "centre_window": 0.5,
        "centre_iterations": 3,
    }

    def build_networks(self, architecture: Dict) -> nn.ModuleDict:
        arch = dict(self.DEFAULT_ARCHITECTURE, **architecture)
        classes = list(arch["classes"])
        if len(set(classes)) != len(classes) or not all(isinstance(name, str) and name for name in classes):
            raise ValueError(f"landmark classes must be distinct non-empty names, got {classes}")
        network = MiniVGG(int(arch["channels"]), int(arch["input_size"]), [int(w) for w in arch["widths"]], int(arch["dense"]),
                          len(classes) + 1)
        return nn.ModuleDict({"classifier": network})


METHOD = LandmarkClassifier()
