"""Gradient-magnitude similarity (GMS) anomaly maps.

For an image x and its reconstruction or translation x̂ (both in [0, 1]):

    G(x)  = sqrt((x ∗ p_x)² + (x ∗ p_y)²)            Prewitt gradients p_x, p_y
    GMS   = (2·G(x)·G(x̂) + c) / (G(x)² + G(x̂)² + c)    1 where the structure agrees
    mGMSD = 1 − (1/L)·Σ_l GMS(x_l, x̂_l)               L scales, x_l downsampled by 2^l

Each scale's GMS map is upsampled back to the input size before averaging, so the
result is a per-pixel map in [0, 1] (0 where the two images have the same local
structure). ``c = 0.0026`` follows the GMSD literature for images in [0, 1].
Works on torch tensors ``(batch, 1, H, W)``; runs on whatever device they live on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GMS_CONSTANT = 0.0026
DEFAULT_SCALES = 4

_PREWITT_X = torch.tensor([[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]]) / 3.0


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Prewitt gradient magnitude of ``(B, 1, H, W)`` images (replicate-padded borders)."""
    kernel_x = _PREWITT_X.to(images.device, images.dtype).view(1, 1, 3, 3)
    kernel_y = kernel_x.transpose(2, 3)
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, kernel_x)
    gy = F.conv2d(padded, kernel_y)
    return torch.sqrt(gx * gx + gy * gy + 1e-12)


def gms_map(images: torch.Tensor, references: torch.Tensor, c: float = GMS_CONSTANT) -> torch.Tensor:
    """Per-pixel gradient-magnitude similarity in (0, 1]."""
    g1 = gradient_magnitude(images)
    g2 = gradient_magnitude(references)
    return (2 * g1 * g2 + c) / (g1 * g1 + g2 * g2 + c)


def mgmsd_map(images: torch.Tensor, references: torch.Tensor, scales: int = DEFAULT_SCALES, c: float = GMS_CONSTANT) -> torch.Tensor:
    """Multi-scale GMS deviation map ``1 − mean_l GMS_l`` at the input resolution, in [0, 1]."""
    if images.shape != references.shape:
        raise ValueError(f"mGMSD needs equal shapes, got {tuple(images.shape)} and {tuple(references.shape)}")
    height, width = images.shape[-2:]
    total = torch.zeros_like(images)
    x, y = images, references
    for level in range(scales):
        if level > 0:
            x = F.avg_pool2d(x, 2)
            y = F.avg_pool2d(y, 2)
        similarity = gms_map(x, y, c)
        if level > 0:
            similarity = F.interpolate(similarity, size=(height, width), mode="bilinear", align_corners=False)
        total = total + similarity
    return (1.0 - total / scales).clamp_(min=0.0)
