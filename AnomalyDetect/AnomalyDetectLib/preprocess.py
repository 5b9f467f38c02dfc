"""Intensity normalisation, foreground masks and slice resampling.

The normalisation a model was trained with is part of its bundle manifest
(its ``normalisation`` entry) and is rebuilt here with :func:`normaliser_from_config`,
so detection always prepares voxels exactly as training did. Normalised intensities
lie in [0, 1].

Two kinds exist:

* ``"ct_window"``: Hounsfield units clipped to ``[low_hu, high_hu]`` and scaled to
  [0, 1]; foreground is the body (``> body_hu``).
* ``"mr_percentile"``: MR has no absolute scale, so each volume is scaled by robust
  percentiles of its own foreground: ``low`` = the volume minimum, ``high`` = the
  ``high_percentile`` of voxels above a rough foreground cut. Foreground is
  normalised intensity ``> foreground_threshold``.
* ``"mr_histogram"``: the same two end points, and in between a piecewise-linear
  histogram-landmark standardisation (Nyúl and Udupa, Magn. Reson. Med. 1999): the
  foreground deciles of each volume are mapped to ``standard`` positions, the mean
  of the training volumes' own deciles under ``"mr_percentile"``. It is fitted once
  on the training patients (:func:`fit_histogram_standard`) and stored in the bundle,
  so scanners whose grey-level histograms differ in shape are brought onto one scale.

Statistics are computed on a strided subsample of at most ~4 M voxels so that large
CTs need no full-volume float copy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Dict, Optional, Tuple

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
        low, high, _ = self._ends(voxels)
        return IntensityScale(low, high)

    def _ends(self, voxels: np.ndarray) -> Tuple[float, float, np.ndarray]:
        """(low, high, the rough-foreground voxels of the subsample) of one volume."""
        sample = _subsample(voxels).astype(np.float64, copy=False)
        low = float(sample.min())
        top = float(np.percentile(sample, 99.5))
        rough = sample[sample > low + self.rough_foreground_fraction * (top - low)]
        if rough.size == 0:
            raise VolumeError("MR normalisation found no foreground (the volume is nearly constant).")
        high = float(np.percentile(rough, self.high_percentile))
        if high <= low:
            raise VolumeError("MR normalisation failed: the foreground has no intensity range.")
        return low, high, rough

    def foreground(self, raw: np.ndarray, scale: IntensityScale) -> np.ndarray:
        return scale.apply(raw) > self.foreground_threshold

    def to_config(self) -> Dict:
        return asdict(self)


@dataclass(frozen=True)
class PiecewiseScale:
    """Piecewise-linear mapping through ``(raw, standard)`` knots, extended beyond the ends, clipped to [0, 1]."""

    raw: Tuple[float, ...]
    standard: Tuple[float, ...]

    @property
    def low(self) -> float:
        """The raw value that maps to 0 (the volume minimum): the padding value outside the volume."""
        return self.raw[0]

    def apply(self, raw: np.ndarray) -> np.ndarray:
        knots = np.asarray(self.raw, dtype=np.float32)
        values = np.asarray(self.standard, dtype=np.float32)
        slopes = np.diff(values) / np.diff(knots)
        data = raw.astype(np.float32)
        segment = np.searchsorted(knots[1:-1], data, side="right")  # 0 … len(knots) − 2; the outer segments extend
        scaled = values[segment] + (data - knots[segment]) * slopes[segment]
        return np.clip(scaled, 0.0, 1.0, out=scaled)


@dataclass(frozen=True)
class MRHistogram(MRPercentile):
    """:class:`MRPercentile`'s end points with the foreground's ``percentiles`` mapped to fitted ``standard`` positions."""

    percentiles: Tuple[float, ...] = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
    standard: Tuple[float, ...] = ()
    kind: str = "mr_histogram"

    def __post_init__(self):
        object.__setattr__(self, "percentiles", tuple(float(p) for p in self.percentiles))
        object.__setattr__(self, "standard", tuple(float(v) for v in self.standard))
        percentiles = np.asarray(self.percentiles)
        if percentiles.size == 0 or np.any(np.diff(percentiles) <= 0) or percentiles[0] <= 0 or percentiles[-1] >= self.high_percentile:
            raise BundleError(f"mr_histogram percentiles must increase strictly within (0, {self.high_percentile:g}); got {list(self.percentiles)}.")
        standard = np.asarray(self.standard)
        if standard.size and (standard.size != percentiles.size or not np.all(np.isfinite(standard))
                              or np.any(np.diff(standard) <= 0) or standard[0] <= 0 or standard[-1] >= 1):
            raise BundleError("mr_histogram standard positions must be one per percentile, increasing strictly within (0, 1); "
                              f"got {list(self.standard)}.")

    def landmarks(self, voxels: np.ndarray) -> Tuple[float, float, np.ndarray]:
        """(low, high, the foreground's percentiles) of one volume, raw intensities, made strictly increasing."""
        low, high, rough = self._ends(voxels)
        inner = np.percentile(rough, self.percentiles)
        # Coarse (e.g. 8-bit) data can tie neighbouring percentiles; keep every segment of positive width.
        gap = 1e-4 * (high - low)
        knots = np.maximum.accumulate(np.concatenate([[low], inner, [high]]))
        knots = knots + gap * np.arange(knots.size)
        return float(knots[0]), float(knots[-1]), knots[1:-1]

    def fit(self, voxels: np.ndarray) -> PiecewiseScale:
        if not self.standard:
            raise BundleError("mr_histogram normalisation has no fitted standard positions (fit it on training volumes first).")
        low, high, inner = self.landmarks(voxels)
        return PiecewiseScale((low, *inner.tolist(), high), (0.0, *self.standard, 1.0))

    def to_config(self) -> Dict:
        config = asdict(self)
        config["percentiles"], config["standard"] = list(self.percentiles), list(self.standard)
        return config


def fit_histogram_standard(normaliser: MRHistogram, volumes) -> MRHistogram:
    """``normaliser`` with ``standard`` = the mean position of each percentile in ``volumes`` (iterable of arrays) under min/high scaling."""
    positions = []
    for voxels in volumes:
        low, high, inner = normaliser.landmarks(voxels)
        positions.append((inner - low) / (high - low))
    if not positions:
        raise VolumeError("Histogram standardisation needs at least one training volume.")
    standard = np.clip(np.mean(positions, axis=0), 1e-3, 1 - 1e-3)
    standard = np.maximum.accumulate(standard) + 1e-4 * np.arange(standard.size)  # strictly increasing
    return replace(normaliser, standard=tuple(standard.tolist()))


NORMALISERS = {"ct_window": CTWindow, "mr_percentile": MRPercentile, "mr_histogram": MRHistogram}


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
    try:
        return cls(**config)
    except (TypeError, ValueError) as error:
        raise BundleError(f"Normalisation {kind!r} has an invalid setting: {error}") from None


def resize_slices(slices: np.ndarray, size: int) -> np.ndarray:
    """Resample ``(n, rows, cols)`` slices to ``(n, size, size)`` float32.

    Non-square slices are first padded (bottom/right, with 0) to a square so the aspect
    ratio is kept; :func:`restore_slices` undoes both steps. Downsampling is anti-aliased
    (bilinear, half-pixel centres). With torch installed its ``F.interpolate`` does the work,
    so every model sees exactly the inputs it was trained on; without torch the numpy
    equivalent (:func:`resample_slices`) does, equal to float rounding (≤ 1e-6 on [0, 1] images).
    """
    n, rows, columns = slices.shape
    side = max(rows, columns)
    padded = np.zeros((n, side, side), dtype=np.float32)
    padded[:, :rows, :columns] = slices
    if side == size:
        return padded
    torch = _torch()
    if torch is None:
        return resample_slices(padded, size, antialias=side > size)
    resized = torch.nn.functional.interpolate(torch.from_numpy(padded)[:, None], size=(size, size), mode="bilinear",
                                              align_corners=False, antialias=side > size)
    return resized[:, 0].numpy()


def restore_slices(maps: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`resize_slices` for maps: ``(n, size, size)`` → ``(n, rows, cols)`` float32 (plain bilinear)."""
    rows, columns = shape
    side = max(rows, columns)
    maps = np.ascontiguousarray(maps, dtype=np.float32)
    if maps.shape[-1] == side:
        return maps[:, :rows, :columns]
    torch = _torch()
    if torch is None:
        return resample_slices(maps, side, antialias=False, crop=(rows, columns))
    resized = torch.nn.functional.interpolate(torch.from_numpy(maps)[:, None], size=(side, side), mode="bilinear", align_corners=False)
    return resized[:, 0, :rows, :columns].numpy()


def resample_slices(images: np.ndarray, side: int, antialias: bool, crop: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Numpy bilinear resampling of square ``(n, S, S)`` images to ``(n, side, side)``, or only its ``crop`` ``(rows, columns)`` corner.

    Matches torch's ``F.interpolate(mode="bilinear", align_corners=False, antialias=...)``;
    the rows and columns outside the crop are never computed.
    """
    rows, columns = crop or (side, side)
    weights = _bilinear_weights(images.shape[-1], side, antialias)
    return _resample(images, weights[:rows], weights[:columns])


def _torch():
    """The torch module, or None when it is not installed (detection then runs on numpy and onnxruntime alone)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _resample(images: np.ndarray, row_weights: np.ndarray, column_weights: np.ndarray) -> np.ndarray:
    """``row_weights @ image @ column_weights.T`` for each image of ``(n, H, W)``: a separable linear resampling.

    Done as two 2-D products over the whole stack, so a slice's result does not depend on how
    many slices share the batch (a broadcast 3-D matmul takes other code paths for n > 1).
    """
    n, height, width = images.shape
    columns = np.ascontiguousarray(images, dtype=np.float32).reshape(n * height, width) @ column_weights.T
    columns = columns.reshape(n, height, -1).transpose(0, 2, 1).reshape(-1, height)
    resampled = (columns @ row_weights.T).reshape(n, -1, row_weights.shape[0]).transpose(0, 2, 1)
    return np.ascontiguousarray(resampled, dtype=np.float32)


@lru_cache(maxsize=32)
def _bilinear_weights(size_in: int, size_out: int, antialias: bool) -> np.ndarray:
    """``(size_out, size_in)`` float32 matrix of 1-D bilinear resampling with half-pixel centres.

    Without ``antialias`` each output sample interpolates its two nearest inputs at
    ``(i + 0.5)·scale − 0.5`` (clamped at 0), as ``align_corners=False`` does. With it (for
    downsampling) the triangle filter is widened by the scale factor and normalised, the
    convention of PIL and of torch's ``antialias=True``, so every input pixel contributes.
    """
    scale = size_in / size_out
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    for index in range(size_out):
        if antialias:
            support = max(scale, 1.0)
            centre = scale * (index + 0.5)
            first = max(int(centre - support + 0.5), 0)
            last = min(int(centre + support + 0.5), size_in)
            taps = np.arange(first, last)
            triangle = np.clip(1.0 - np.abs((taps - centre + 0.5) / support), 0.0, None)
            if triangle.sum() > 0:
                weights[index, first:last] = triangle / triangle.sum()
        else:
            # Single precision, as torch computes source positions for float32 images.
            source = max(np.float32(size_in / size_out) * np.float32(index + 0.5) - np.float32(0.5), np.float32(0.0))
            low = int(source)
            high = min(low + 1, size_in - 1)
            fraction = float(source - np.float32(low))
            weights[index, low] += 1.0 - fraction
            weights[index, high] += fraction
    weights.setflags(write=False)
    return weights.astype(np.float32)


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
