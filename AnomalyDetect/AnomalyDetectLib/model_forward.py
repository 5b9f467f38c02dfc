"""The forward passes detection runs, as torch modules: run by the torch backend, and exported to ONNX as they are.

One module per model kind, so the two backends compute the same graph:

* :class:`AnalyseForward`: images ``(B, C, H, W)`` float32 in [0, 1] → anomaly maps
  ``(B, H, W)`` float32 (the manifest's map kind) and, for methods that have one, the
  per-image score ``(B,)``; the method's own ``analyse`` is the whole computation,
  reconstruction maps (residual, mGMSD, attention) included.
* :class:`ClassifierForward`: landmark patches ``(B, 3, S, S)`` → class probabilities
  ``(B, K + 1)`` (softmax of the classifier's logits; column 0 = "none").

This module imports torch; :mod:`AnomalyDetectLib.backends` imports it only for the torch backend.
"""

from __future__ import annotations

import torch
from torch import nn


class AnalyseForward(nn.Module):
    """``method.analyse(networks, images, map_kind)`` with the map's channel axis dropped.

    Returns ``(maps, scores)`` for methods with image scores, else ``(maps,)``.
    ``output_names`` (for export) finds out which, with one probe batch.
    """

    def __init__(self, method, networks: nn.ModuleDict, map_kind: str, channels: int, input_size: int):
        super().__init__()
        self.method = method
        self.networks = networks
        self.map_kind = map_kind
        self.input_shape = (channels, input_size, input_size)
        if map_kind not in method.MAPS:
            raise ValueError(f"{method.NAME} has no map '{map_kind}'; it offers {', '.join(method.MAPS)}.")

    def forward(self, images: torch.Tensor):
        maps, scores = self.method.analyse(self.networks, images, self.map_kind)
        maps = maps[:, 0].float()
        return (maps,) if scores is None else (maps, scores.float())

    @property
    def output_names(self):
        probe = torch.zeros(1, *self.input_shape, device=next(self.networks.parameters()).device)
        with torch.no_grad():
            return ["map", "image_score"][: len(self(probe))]


class ClassifierForward(nn.Module):
    """Softmax class probabilities of the landmark classifier (``networks["classifier"]``, used by reference)."""

    output_names = ["probabilities"]

    def __init__(self, networks: nn.ModuleDict):
        super().__init__()
        self.classifier = networks["classifier"]

    def forward(self, patches: torch.Tensor):
        return (torch.softmax(self.classifier(patches).float(), dim=1),)
