"""Intensity normalisation, foreground masks and slice resampling.

The normalisation a model was trained with is part of its bundle manifest
(``manifest["normalisation"]``) and is rebuilt here with :func:`normaliser_from_config`,
so detection always prepares voxels exactly as training did. Normalised intensities
lie in [0, 1].

Two kinds exist:

* ``"ct_window"``: Hounsfield units clipped to ``[low_hu, high_hu]`` and scaled to
  [0, 1]; foreground is the body (``> body_hu``).
* ``"mr_percentile"``: MR has no absolute scale, so each volume is scaled by robust
  percentiles of its own foreground: ``low`` = the volume minimum, ``high`` = the
  ``high_percentile`` of voxels above a rough foreground cut. Foreground is
  normalised intensity ``> foreground_threshold``.

Statistics are computed on a strided subsample of at most ~4 M voxels so that large
CTs need no full-volume float copy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Tuple

import numpy as np

from .errors import BundleError, VolumeError

MAX_STAT_VOXELS = 4_000_000


def _subsample(voxels: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil((voxels.size / MAX_STAT_VOXELS) ** (1 / 3))))
    return voxels[::step, ::step, ::step]


@dataclass(frozen=True)
class IntensityScale:
    """Per-volume mapping ``(raw - low) / (high - low)`` clipped to [0, 1]."""

    low: float
    high: float

    def apply(self, raw: np.ndarray) -> np.ndarray:
        scaled = (raw.astype(np.float32) - np.float32(self.low)) / np.float32(self.high - self.low)
        return np.clip(scaled, 0.0, 1.0, out=scaled)


@dataclass(frozen=True)
class CTWindow:
    low_hu: float = -160.0
    high_hu: float = 240.0
    body_hu: float = -500.0
    kind: str = "ct_window"

    def fit(self, voxels: np.ndarray) -> IntensityScale:
        return IntensityScale(self.low_hu, self.high_hu)

    def foreground(self, raw: np.ndarray, scale: IntensityScale) -> np.ndarray:
        return raw > self.body_hu

    def to_config(self) -> Dict:
        return asdict(self)


@dataclass(frozen=True)
class MRPercentile:
    high_percentile: float = 99.0
    rough_foreground_fraction: float = 0.1
    foreground_threshold: float = 0.08
    kind: str = "mr_percentile"

    def fit(self, voxels: np.ndarray) -> IntensityScale:
        sample = _subsample(voxels).astype(np.float64, copy=False)
        low = float(sample.min())
        top = float(np.percentile(sample, 99.5))
        rough = sample[sample > low + self.rough_foreground_fraction * (top - low)]
        if rough.size == 0:
            raise VolumeError("MR normalisation found no foreground (the volume is nearly constant).")
        high = float(np.percentile(rough, self.high_percentile))
        if high <= low:
            raise VolumeError("MR normalisation failed: the foreground has no intensity range.")
        return IntensityScale(low, high)

    def foreground(self, raw: np.ndarray, scale: IntensityScale) -> np.ndarray:
        return scale.apply(raw) > self.foreground_threshold

    def to_config(self) -> Dict:
        return asdict(self)


NORMALISERS = {"ct_window": CTWindow, "mr_percentile": MRPercentile}


def normaliser_from_config(config: Dict):
    """Rebuild a normaliser from a manifest's ``normalisation`` entry."""
    config = dict(config)
    kind = config.get("kind")
    if kind not in NORMALISERS:
        raise BundleError(f"Unknown normalisation kind {kind!r}; expected one of {sorted(NORMALISERS)}.")
    cls = NORMALISERS[kind]
    fields = set(cls.__dataclass_fields__)
    unknown = set(config) - fields
    if unknown:
        raise BundleError(f"Normalisation {kind!r} has unknown settings {sorted(unknown)}.")
    return cls(**config)


def resize_slices(slices: np.ndarray, size: int) -> np.ndarray:
    """Resample ``(n, rows, cols)`` slices to ``(n, size, size)``.

    Non-square slices are first padded (bottom/right, with 0) to a square so the aspect
    ratio is kept; :func:`restore_slices` undoes both steps. Downsampling is anti-aliased.
    """
    import torch
    import torch.nn.functional as F

    n, rows, columns = slices.shape
    side = max(rows, columns)
    padded = np.zeros((n, side, side), dtype=np.float32)
    padded[:, :rows, :columns] = slices
    tensor = torch.from_numpy(padded)[:, None]
    if side == size:
        return padded
    resized = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)
    return resized[:, 0].numpy()


def restore_slices(maps: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`resize_slices` for maps: ``(n, size, size)`` → ``(n, rows, cols)``."""
    import torch
    import torch.nn.functional as F

    rows, columns = shape
    side = max(rows, columns)
    tensor = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[:, None]
    if tensor.shape[-1] != side:
        tensor = F.interpolate(tensor, size=(side, side), mode="bilinear", align_corners=False)
    return tensor[:, 0, :rows, :columns].numpy()


def interior_mask(foreground: np.ndarray, spacing_rc_mm: Tuple[float, float], erosion_mm: float) -> np.ndarray:
    """Foreground slices ``(n, rows, cols)`` with holes filled, minus a rim of ``erosion_mm``.

    Holes are filled first so that dark structures inside the body (ventricles in FLAIR,
    air in bowel) are not treated as outside. With ``erosion_mm`` > 0 the outer rim
    (scalp and skull in head MR) is removed: pixels closer than that to the outside are
    dropped. In-plane spacing ``(row, column)`` in mm makes the rim physical.
    """
    from scipy import ndimage

    interior = np.empty_like(foreground, dtype=bool)
    for index, mask in enumerate(foreground):
        filled = ndimage.binary_fill_holes(mask)
        if erosion_mm > 0 and filled.any():
            distance = ndimage.distance_transform_edt(filled, sampling=spacing_rc_mm)
            filled = distance > erosion_mm
        interior[index] = filled
    return interior


def has_masked_background(raw: np.ndarray, foreground: np.ndarray, max_varying_fraction: float = 0.02) -> bool:
    """True when everything outside the (filled, slightly dilated) foreground is one exact value.

    A scanner image has noise in the air around the patient; a volume whose background is a
    single constant has been masked, nearly always by brain extraction (skull stripping) or a
    similar crop to the organ. There the foreground's edge is the organ's surface, not scalp
    and skull, so no outer rim should be removed from the scoring region. ``raw`` and
    ``foreground`` are ``(n, rows, cols)`` slices of one volume (a sample of its slices is
    enough). False when no background pixel is seen.
    """
    from scipy import ndimage

    outside_values = []
    for raw_slice, mask in zip(raw, foreground):
        filled = ndimage.binary_fill_holes(mask)
        outside = ~ndimage.binary_dilation(filled, iterations=3)
        if outside.any():
            outside_values.append(raw_slice[outside])
    if not outside_values:
        return False
    values = np.concatenate(outside_values)
    constant = values.min()
    return bool((values != constant).mean() < max_varying_fraction)
