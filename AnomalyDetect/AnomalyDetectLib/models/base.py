"""What every method provides, and helpers shared by reconstruction methods.

A method object (``METHOD`` in the method's package) has:

* ``NAME``; ``DEFAULT_ARCHITECTURE`` and ``DEFAULT_TRAINING`` (dicts saved in bundles);
  ``MAPS`` (the anomaly maps it can produce) and ``DEFAULT_MAP``;
* ``build_networks(architecture) -> torch.nn.ModuleDict``;
* ``anomaly_maps(networks, images, map_kind) -> (B, 1, H, W)`` for images
  ``(B, C, H, W)`` in [0, 1], higher = more anomalous;
* ``make_trainer(networks, training, device) -> trainer`` whose ``step(images)``
  returns a dict of float losses, ``validation_loss(images)`` a float computed on
  normal images only (used for checkpoint selection), and ``state_dict()`` /
  ``load_state_dict()`` for the optimisers.
"""

from __future__ import annotations

import torch

from ..gms import mgmsd_map

RECONSTRUCTION_MAPS = ("residual", "mgmsd")


def reconstruction_map(images: torch.Tensor, reconstructions: torch.Tensor, map_kind: str) -> torch.Tensor:
    """Per-pixel anomaly map between images and their reconstructions (channel mean)."""
    if map_kind == "residual":
        return (images - reconstructions).abs().mean(dim=1, keepdim=True)
    if map_kind == "mgmsd":
        maps = [mgmsd_map(images[:, c : c + 1], reconstructions[:, c : c + 1]) for c in range(images.shape[1])]
        return torch.stack(maps, 0).mean(0)
    raise ValueError(f"Unknown map kind '{map_kind}'; expected one of {RECONSTRUCTION_MAPS}.")


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
