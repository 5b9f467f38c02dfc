"""Seeded pseudo-lesions: synthetic anomalies pasted into normal slices.

Used by the translation method (``models/translation``) to build its abnormal domain Y
from normal slices x without any labels: y = (1 − α)·x + α·f, with α the lesion's
feathered mask and f its fill. One lesion per image; its kind is drawn per image:

* "blob" (probability ``blob_probability``): f = x + s·c·(1 + t·n), a shift of the
  underlying tissue by a random contrast c (sign s: brighter or darker) modulated by
  smoothed noise n (unit standard deviation, strength t) as texture;
* "patch": f = g·x(q) + o, tissue of the same image resampled from elsewhere,
  q = c_src + R(θ)·(p − c_dst)/k, i.e. a region around c_src shrunk by k < 1, rotated
  by θ and centred on c_dst, with intensity gain g and offset o.

The shape is an irregular blob: S = {p : Σ_k a_k·exp(−‖p − c_k‖² / 2σ_k²) > ½} for a
few Gaussians near the centre (the first, a_0 = 1, on it), whose radius r is drawn as a
fraction of the image size; α = blur(S) · E, with E the foreground eroded by ``margin``,
so lesions lie entirely inside the eroded foreground. The foreground is image >
``foreground_threshold`` with holes filled (4-connected flood fill from the border).
Lesion centres are drawn uniformly from E, patch sources from the foreground eroded by
``source_margin`` (so that the shrunk region holds mostly tissue).

Everything works on ``(B, C, H, W)`` tensors in [0, 1], batched, on the images' device;
random numbers come from a CPU ``torch.Generator`` (or ``seed``), so results are
reproducible. The input is never modified. Example::

    from AnomalyDetectLib.pseudolesion import PseudoLesionConfig, add_pseudo_lesions
    lesioned, masks = add_pseudo_lesions(images, PseudoLesionConfig(), seed=0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from .preprocess import MRPercentile


@dataclass
class PseudoLesionConfig:
    """Parameters of :func:`add_pseudo_lesions`; lengths are fractions of the image size (its smaller side)."""

    blob_probability: float = 0.5  # chance that an image gets a blob; otherwise a patch
    radius_range: Tuple[float, float] = (0.04, 0.14)  # lesion radius r
    gaussians_range: Tuple[int, int] = (1, 4)  # how many Gaussians make up the shape (inclusive)
    spread: float = 0.7  # further Gaussians lie within spread·r of the centre
    sigma_range: Tuple[float, float] = (0.45, 0.85)  # their widths σ_k, relative to r
    feather: float = 0.015  # σ of the Gaussian blur that softens the edge
    margin: float = 0.08  # erosion of the foreground that lesions must stay inside
    # foreground = image > this, holes filled. The MR normaliser's own foreground threshold: real MR background
    # is noise up to ~0.1 after normalisation, and 0.02 (used up to commit 61cc38c) took 93 % of a slice for foreground.
    foreground_threshold: float = MRPercentile.foreground_threshold
    contrast_range: Tuple[float, float] = (0.12, 0.45)  # blob: |intensity shift| c
    brighter_probability: float = 0.5  # blob: chance of s = +1 (brighter)
    texture_strength: float = 0.3  # blob: t, relative modulation of the shift by the texture
    texture_scale: float = 0.03  # blob: σ of the blur that smooths the texture noise
    patch_scale_range: Tuple[float, float] = (0.5, 0.9)  # patch: shrink factor k of the source region
    # The image size (pixels) that the fractions above refer to; None = each image's own smaller side. Training
    # on crops of larger slices (trainer fit --crop-size) sets the full slice size, so lesions keep their size
    # relative to the anatomy instead of to the crop.
    size_reference: Optional[int] = None
    source_margin: float = 0.15  # patch: erosion of the foreground that source centres c_src lie in (``margin`` if that is empty)
    patch_gain_range: Tuple[float, float] = (0.75, 1.25)  # patch: intensity gain g
    patch_offset_range: Tuple[float, float] = (0.05, 0.2)  # patch: |offset o|, sign drawn like s

    @classmethod
    def from_dict(cls, values: Optional[Dict]) -> PseudoLesionConfig:
        """A config from JSON-style overrides (lists become tuples); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values or {}) - known)
        if unknown:
            raise ValueError(f"Unknown pseudo-lesion parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in (values or {}).items()})


def filled_foreground(images: torch.Tensor, threshold: float) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: any channel above ``threshold``, with enclosed holes filled.

    The background reachable from outside the image (4-connected flood fill, one pixel per
    iteration, on a one-pixel frame of background) is the complement of the filled foreground.
    """
    background = F.pad(~(images > threshold).any(dim=1, keepdim=True), (1, 1, 1, 1), value=True)
    outside = torch.zeros_like(background)
    outside[..., 0, :] = outside[..., -1, :] = outside[..., :, 0] = outside[..., :, -1] = True
    for _ in range(background.shape[-2] * background.shape[-1]):
        grown = outside.clone()
        grown[..., 1:, :] |= outside[..., :-1, :]
        grown[..., :-1, :] |= outside[..., 1:, :]
        grown[..., :, 1:] |= outside[..., :, :-1]
        grown[..., :, :-1] |= outside[..., :, 1:]
        grown &= background
        if torch.equal(grown, outside):
            break
        outside = grown
    return ~outside[..., 1:-1, 1:-1]


def erode(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Square erosion of a bool ``(B, 1, H, W)`` mask by ``radius`` pixels (outside the image counts as background)."""
    if radius <= 0:
        return mask
    padded = F.pad((~mask).float(), (radius, radius, radius, radius), value=1.0)
    spread = F.max_pool2d(F.max_pool2d(padded, (1, 2 * radius + 1), stride=1), (2 * radius + 1, 1), stride=1)
    return spread == 0


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, 1, H, W)`` (reflect-padded; σ in pixels, none below 0.3)."""
    if sigma < 0.3:
        return images
    radius = max(1, min(int(math.ceil(3 * sigma)), min(images.shape[-2:]) - 1))
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    blurred = F.conv2d(F.pad(images, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    return F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))


def add_pseudo_lesions(
    images: torch.Tensor,
    config: Optional[PseudoLesionConfig] = None,
    generator: Optional[torch.Generator] = None,
    seed: Optional[int] = None,
    foreground: Optional[torch.Tensor] = None,
    return_kinds: bool = False,
):
    """One pseudo-lesion per image: returns ``(lesioned, masks)`` (and ``is_blob`` ``(B,)`` with ``return_kinds``).

    ``images`` ``(B, C, H, W)`` in [0, 1] (unchanged); ``masks`` ``(B, 1, H, W)`` float α in [0, 1].
    ``generator`` (CPU) or ``seed`` makes the draw reproducible; ``foreground`` ``(B, 1, H, W)``
    bool overrides the thresholded, filled one. An image without eroded foreground is left as is.
    """
    config = config or PseudoLesionConfig()
    if generator is None:
        generator = torch.Generator()
        if seed is not None:
            generator.manual_seed(int(seed))
    batch, _, height, width = images.shape
    size = float(config.size_reference or min(height, width))
    device, dtype = images.device, images.dtype
    if foreground is None:
        foreground = filled_foreground(images, config.foreground_threshold)
    allowed = erode(foreground.bool(), int(round(config.margin * size)))

    def uniform(bounds, *shape):
        low, high = float(bounds[0]), float(bounds[1])
        return (low + (high - low) * torch.rand(*shape, generator=generator)).to(device, dtype)

    def signs(probability):
        return torch.where(torch.rand(batch, generator=generator) < probability, 1.0, -1.0).to(device, dtype)

    is_blob = (torch.rand(batch, generator=generator) < config.blob_probability).to(device)
    centres = _sample_points(allowed, generator)
    radii = uniform(config.radius_range, batch) * size
    rows = torch.arange(height, device=device, dtype=dtype).view(1, height, 1)
    columns = torch.arange(width, device=device, dtype=dtype).view(1, 1, width)

    # Shape: Gaussians around the centre, the first on it with amplitude 1, the others only if active.
    low, high = int(config.gaussians_range[0]), int(config.gaussians_range[1])
    count = high
    active = torch.arange(count).view(1, count) < torch.randint(low, high + 1, (batch, 1), generator=generator)
    amplitudes = uniform((0.6, 1.0), batch, count) * active.to(device, dtype)
    amplitudes[:, 0] = 1.0
    offsets = uniform((-config.spread, config.spread), batch, count, 2) * radii.view(batch, 1, 1)
    offsets[:, 0] = 0.0
    sigmas = uniform(config.sigma_range, batch, count) * radii.view(batch, 1)
    gaussian_centres = centres.view(batch, 1, 2) + offsets
    distance2 = (rows.unsqueeze(1) - gaussian_centres[..., 0, None, None]) ** 2 + (columns.unsqueeze(1) - gaussian_centres[..., 1, None, None]) ** 2
    field = (amplitudes[..., None, None] * torch.exp(-distance2 / (2 * sigmas[..., None, None] ** 2))).sum(dim=1, keepdim=True)
    alpha = gaussian_blur((field > 0.5).to(dtype), config.feather * size) * allowed.to(dtype)

    # Blob fill: the tissue shifted by a textured contrast.
    texture = gaussian_blur(torch.randn(batch, 1, height, width, generator=generator).to(device, dtype), config.texture_scale * size)
    texture = texture / texture.flatten(1).std(dim=1).clamp(min=1e-6).view(batch, 1, 1, 1)
    contrast = (signs(config.brighter_probability) * uniform(config.contrast_range, batch)).view(batch, 1, 1, 1)
    blob_fill = images + contrast * (1.0 + config.texture_strength * texture)

    # Patch fill: the region around a second foreground point, shrunk by k, rotated by θ, moved to the centre.
    sources_allowed = erode(foreground.bool(), int(round(config.source_margin * size)))
    sources_allowed = torch.where(sources_allowed.flatten(1).any(dim=1).view(batch, 1, 1, 1), sources_allowed, allowed)
    sources = _sample_points(sources_allowed, generator)
    scale = uniform(config.patch_scale_range, batch).view(batch, 1, 1)
    angle = uniform((0.0, 2 * math.pi), batch).view(batch, 1, 1)
    dy, dx = rows - centres[:, 0, None, None], columns - centres[:, 1, None, None]
    source_rows = sources[:, 0, None, None] + (torch.cos(angle) * dy - torch.sin(angle) * dx) / scale
    source_columns = sources[:, 1, None, None] + (torch.sin(angle) * dy + torch.cos(angle) * dx) / scale
    grid = torch.stack([(2 * source_columns + 1) / width - 1, (2 * source_rows + 1) / height - 1], dim=-1)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gain = uniform(config.patch_gain_range, batch).view(batch, 1, 1, 1)
    offset = (signs(0.5) * uniform(config.patch_offset_range, batch)).view(batch, 1, 1, 1)
    patch_fill = gain * moved + offset

    fill = torch.where(is_blob.view(batch, 1, 1, 1), blob_fill, patch_fill)
    lesioned = ((1.0 - alpha) * images + alpha * fill).clamp(0.0, 1.0)
    return (lesioned, alpha, is_blob) if return_kinds else (lesioned, alpha)


def _sample_points(allowed: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``(B, 2)`` (row, column) drawn uniformly from each mask (the allowed pixel with the largest uniform draw).

    An empty mask gives pixel (0, 0); its α is 0 everywhere anyway.
    """
    batch, _, height, width = allowed.shape
    draws = torch.rand(batch, height * width, generator=generator).to(allowed.device)
    index = torch.where(allowed.reshape(batch, -1), draws, -1.0).argmax(dim=1)
    return torch.stack([index // width, index % width], dim=1).float()
