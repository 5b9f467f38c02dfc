"""Regions of interest: where the anomaly models look.

A :class:`RegionOfInterest` is a box in patient RAS millimetres, axis-aligned, any side of it
possibly open (±inf): a z-range is a box open in x and y. It comes from the user (``box``,
``z_range``) or from landmarks (``between``: the span of two named landmarks plus a margin).
Detection with an ROI scores only slices that meet the box and only the pixels inside it;
every other slice gets score 0 and is marked *skipped* (it is not dropped: outputs keep the
input's slice count), and the ROI used is reported with the result.

Example::

    roi = RegionOfInterest.between(found, "vertebrae_T12", "vertebrae_L5", margin_mm=20, axes="S")
    result = detect(volume, bundle, roi=roi)
    result.skipped          # slices outside the ROI
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np

from .defaults import ROI_MARGIN_MM
from .errors import AnomalyDetectError
from .volume import Volume

_AXES = {"R": 0, "A": 1, "S": 2}


@dataclass(frozen=True)
class RegionOfInterest:
    lower: tuple  # (x, y, z) RAS mm, -inf where open
    upper: tuple  # (x, y, z) RAS mm, +inf where open
    source: str = "user"

    def __post_init__(self):
        lower, upper = np.asarray(self.lower, dtype=float), np.asarray(self.upper, dtype=float)
        if lower.shape != (3,) or upper.shape != (3,) or np.isnan(lower).any() or np.isnan(upper).any():
            raise AnomalyDetectError(f"A region of interest needs 3 lower and 3 upper RAS bounds; got {self.lower}, {self.upper}.")
        if np.any(lower > upper):
            raise AnomalyDetectError(f"Region of interest is empty: lower bounds {tuple(lower)} exceed upper bounds {tuple(upper)}.")
        object.__setattr__(self, "lower", tuple(float(v) for v in lower))
        object.__setattr__(self, "upper", tuple(float(v) for v in upper))

    @classmethod
    def z_range(cls, low_mm: float, high_mm: float, source: str = "user") -> RegionOfInterest:
        """Everything between two superior (S, RAS z) coordinates."""
        return cls((-np.inf, -np.inf, min(low_mm, high_mm)), (np.inf, np.inf, max(low_mm, high_mm)), source)

    @classmethod
    def box(cls, corner_a: Sequence[float], corner_b: Sequence[float], source: str = "user") -> RegionOfInterest:
        a, b = np.asarray(corner_a, dtype=float), np.asarray(corner_b, dtype=float)
        return cls(tuple(np.minimum(a, b)), tuple(np.maximum(a, b)), source)

    @classmethod
    def between(cls, landmarks: Dict[str, Sequence[float]], first: str, second: str, margin_mm: float = ROI_MARGIN_MM,
                axes: str = "S") -> RegionOfInterest:
        """The span of two landmarks (RAS points by name) along ``axes`` ("S": a z-range; "RAS": a box), widened by ``margin_mm``."""
        missing = [name for name in (first, second) if name not in landmarks]
        if missing:
            raise AnomalyDetectError(f"Cannot bound the region of interest: landmark(s) {missing} not found (found: {sorted(landmarks)}).")
        if margin_mm < 0 or not set(axes) <= set(_AXES) or not axes:
            raise AnomalyDetectError(f"ROI margin must be ≥ 0 and axes a combination of R, A, S; got {margin_mm}, {axes!r}.")
        a, b = np.asarray(landmarks[first], dtype=float), np.asarray(landmarks[second], dtype=float)
        lower, upper = np.full(3, -np.inf), np.full(3, np.inf)
        for axis in axes:
            index = _AXES[axis]
            lower[index] = min(a[index], b[index]) - margin_mm
            upper[index] = max(a[index], b[index]) + margin_mm
        return cls(tuple(lower), tuple(upper), f"between landmarks {first} and {second}, margin {margin_mm:g} mm, along {axes}")

    def contains(self, points_ras: np.ndarray) -> np.ndarray:
        points = np.asarray(points_ras, dtype=float)
        return np.all((points >= np.asarray(self.lower)) & (points <= np.asarray(self.upper)), axis=-1)

    @property
    def open_in_plane(self) -> bool:
        """True for a z-range: open along x and y."""
        return all(np.isinf(self.lower[a]) and np.isinf(self.upper[a]) for a in (0, 1))

    def pixel_masks(self, volume: Volume, slices: Sequence[int]) -> np.ndarray:
        """(len(slices), rows, columns) bool: pixels whose voxel (its centre ± ½ voxel along k) meets the region."""
        _, rows, columns = volume.shape
        if self.open_in_plane:
            inside = self.slice_mask(volume)[list(slices)] if len(slices) else np.zeros(0, bool)
            return np.broadcast_to(inside[:, None, None], (len(inside), rows, columns)).copy()
        matrix = volume.ijk_to_ras
        j, i = np.meshgrid(np.arange(rows, dtype=float), np.arange(columns, dtype=float), indexing="ij")
        plane = i[..., None] * matrix[:3, 0] + j[..., None] * matrix[:3, 1] + matrix[:3, 3]  # RAS of slice 0's pixels
        masks = np.zeros((len(slices), rows, columns), dtype=bool)
        for index, k in enumerate(slices):  # each voxel as the segment k ± ½ through its centre: a thin slab still meets it
            masks[index] = self._segment_meets(plane + (k - 0.5) * matrix[:3, 2], matrix[:3, 2])
        return masks

    def _segment_meets(self, starts: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Whether the segments starts + t·direction, t in [0, 1], meet the box (slab method)."""
        t_low = np.zeros(starts.shape[:-1])
        t_high = np.ones(starts.shape[:-1])
        ok = np.ones(starts.shape[:-1], dtype=bool)
        for axis in range(3):
            low, high, step = self.lower[axis], self.upper[axis], float(direction[axis])
            values = starts[..., axis]
            if abs(step) < 1e-12:
                ok &= (values >= low) & (values <= high)
                continue
            with np.errstate(invalid="ignore"):
                a, b = (low - values) / step, (high - values) / step
            t_low = np.maximum(t_low, np.minimum(a, b))
            t_high = np.minimum(t_high, np.maximum(a, b))
        return ok & (t_low < t_high)  # touching a face is not meeting

    def slice_mask(self, volume: Volume) -> np.ndarray:
        """(slices,) bool: slices whose voxels (the slab k ± ½) meet the region."""
        slices, rows, columns = volume.shape
        matrix = volume.ijk_to_ras
        corners = np.array([[i, j] for i in (-0.5, columns - 0.5) for j in (-0.5, rows - 0.5)])
        in_plane = corners @ matrix[:3, :2].T + matrix[:3, 3]  # (4, 3)
        result = np.zeros(slices, dtype=bool)
        lower, upper = np.asarray(self.lower), np.asarray(self.upper)
        for k in range(slices):
            slab = np.concatenate([in_plane + (k - 0.5) * matrix[:3, 2], in_plane + (k + 0.5) * matrix[:3, 2]])
            result[k] = not (np.any(slab.max(0) <= lower) or np.any(slab.min(0) >= upper))  # bounding boxes overlap
        if not self.open_in_plane:  # an oblique slab's bounding box may overlap without the slab meeting the box
            candidates = np.flatnonzero(result)
            for start in range(0, len(candidates), 32):
                chunk = candidates[start : start + 32]
                result[chunk] = self.pixel_masks(volume, chunk).any(axis=(1, 2))
        return result

    def describe(self) -> Dict:
        def plain(values):
            return [None if not np.isfinite(v) else round(v, 2) for v in values]

        return {"lower_ras_mm": plain(self.lower), "upper_ras_mm": plain(self.upper), "source": self.source}
