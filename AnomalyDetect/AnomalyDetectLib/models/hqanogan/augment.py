"""Adaptive discriminator augmentation (ADA, Karras et al., NeurIPS 2020) for one-channel slices.

:func:`augment` is applied to every image the discriminator sees, real and generated, so the
generator is never asked to produce augmented images ("non-leaking" as long as p stays well
below 1). Each transformation is applied to each image independently with probability p; the
grey-image subset of ADA's "bgc" pipeline is used:

* geometric, composed into one affine map and sampled once (bilinear, reflection padding):
  x-flip; rotation by a multiple of 90°; integer translation up to 1/8 of the size per axis;
  isotropic scaling by 2^N(0, 0.2²); rotation by U(−180°, 180°);
* intensity, on [0, 1] images: brightness + N(0, 0.1²) (ADA's 0.2 on [−1, 1]); contrast about
  the image mean by 2^N(0, 0.5²).

Left out: anisotropic scaling and fractional translation (little to add for grey slices) and
ADA's colour transforms (luma flip, hue, saturation: no colour). Everything is built from
differentiable tensor operations (``affine_grid`` / ``grid_sample``), so the generator's
gradient flows through the augmentation; at p = 0 the input is returned unchanged.

:class:`AdaptiveProbability` adapts p from the overfitting heuristic r_t = E[sign(D(x_real))]
(over the real images of the last ``interval`` steps): p += sign(r_t − target)·N/(1000·speed_kimg)
for the N images seen, clamped to [0, 1].
"""

from __future__ import annotations

import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("xflip", "rotate90", "translate", "scale", "rotate", "brightness", "contrast")


def augment(images: torch.Tensor, probability: float) -> torch.Tensor:
    """Randomly augmented copy of ``images`` ``(B, C, H, W)`` in [0, 1] (uses torch's global random state)."""
    if probability <= 0:
        return images
    batch, device, dtype = images.shape[0], images.device, images.dtype

    def chosen() -> torch.Tensor:
        return torch.rand(batch, device=device) < probability

    def where(mask: torch.Tensor, values: torch.Tensor, default: float) -> torch.Tensor:
        return torch.where(mask, values, torch.full_like(values, default))

    def normal(std: float) -> torch.Tensor:
        return torch.randn(batch, device=device, dtype=dtype) * std

    def rotation(angle: torch.Tensor) -> torch.Tensor:
        cos, sin = torch.cos(angle), torch.sin(angle)
        matrix = torch.eye(3, device=device, dtype=dtype).repeat(batch, 1, 1)
        matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1] = cos, -sin, sin, cos
        return matrix

    # Output → input sampling coordinates in affine_grid's normalised [−1, 1] frame.
    matrix = torch.eye(3, device=device, dtype=dtype).repeat(batch, 1, 1)
    flip = chosen() & (torch.rand(batch, device=device) < 0.5)
    matrix[:, 0, 0] = torch.where(flip, -1.0, 1.0).to(dtype)
    quarter = chosen()
    turns = torch.where(quarter, torch.randint(1, 4, (batch,), device=device), 0)
    matrix = matrix @ rotation(turns.to(dtype) * (math.pi / 2))
    shift = chosen()
    pixels = torch.round((torch.rand(batch, 2, device=device, dtype=dtype) * 2 - 1) * 0.125 * images.shape[-1])
    translation = torch.eye(3, device=device, dtype=dtype).repeat(batch, 1, 1)
    translation[:, :2, 2] = torch.where(shift[:, None], pixels * 2.0 / images.shape[-1], torch.zeros_like(pixels))
    matrix = matrix @ translation
    scaled = chosen()
    factor = where(scaled, torch.exp2(normal(0.2)), 1.0)
    matrix = matrix @ torch.diag_embed(torch.stack([1 / factor, 1 / factor, torch.ones_like(factor)], 1))
    rotated = chosen()
    matrix = matrix @ rotation(where(rotated, (torch.rand(batch, device=device, dtype=dtype) * 2 - 1) * math.pi, 0.0))
    geometric = flip | quarter | shift | scaled | rotated
    if bool(geometric.any()):
        grid = F.affine_grid(matrix[:, :2], list(images.shape), align_corners=False)
        sampled = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        images = torch.where(geometric[:, None, None, None], sampled, images)  # untouched images stay bit-identical

    brightness = where(chosen(), normal(0.1), 0.0)
    images = images + brightness[:, None, None, None]
    contrast = chosen()
    if bool(contrast.any()):
        factor = where(contrast, torch.exp2(normal(0.5)), 1.0)
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = torch.where(contrast[:, None, None, None], (images - mean) * factor[:, None, None, None] + mean, images)
    return images


class AdaptiveProbability:
    """The augmentation probability p and its controller (see the module docstring).

    ``observe(real_logits)`` every step, ``adjust()`` every ``interval`` steps. Under
    multi-process training the sign sums are all-reduced, so every rank keeps the same p.
    """

    def __init__(self, target: float = 0.6, interval: int = 4, speed_kimg: float = 10.0, probability: float = 0.0, adaptive: bool = True):
        self.target, self.interval, self.speed_kimg, self.adaptive = float(target), int(interval), float(speed_kimg), bool(adaptive)
        self.probability = float(probability)
        self.sign_sum, self.count = 0.0, 0
        self.last_rt = float("nan")

    def observe(self, real_logits: torch.Tensor) -> None:
        self.sign_sum += float(torch.sign(real_logits.detach()).sum())
        self.count += int(real_logits.numel())

    def adjust(self) -> Optional[float]:
        """Update p from the images observed since the last adjustment; returns r_t (None when nothing was observed)."""
        totals = torch.tensor([self.sign_sum, float(self.count)], dtype=torch.float64)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(totals)
        self.sign_sum, self.count = 0.0, 0
        if totals[1] == 0:
            return None
        self.last_rt = float(totals[0] / totals[1])
        if self.adaptive:
            step = math.copysign(float(totals[1]) / (1000.0 * self.speed_kimg), self.last_rt - self.target)
            self.probability = min(1.0, max(0.0, self.probability + step))
        return self.last_rt

    def state_dict(self) -> Dict:
        return {"probability": self.probability, "sign_sum": self.sign_sum, "count": self.count, "last_rt": self.last_rt}

    def load_state_dict(self, state: Dict) -> None:
        self.probability, self.sign_sum = float(state["probability"]), float(state["sign_sum"])
        self.count, self.last_rt = int(state["count"]), float(state["last_rt"])
