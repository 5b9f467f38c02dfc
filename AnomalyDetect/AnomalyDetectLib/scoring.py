"""From per-pixel anomaly maps to slice scores, level calibration and thresholds.

Slice score: the mean of the top ``top_fraction`` of map values over the slice's
scoring region (a robust maximum): the foreground with holes filled, less an outer rim
of ``interior_erosion_mm`` (e.g. scalp and skull, which reconstruct poorly everywhere and
would otherwise dominate every slice's score). The rim is not removed from a volume whose
background is one constant value (skull-stripped or otherwise masked: its edge is the organ
itself; :func:`AnomalyDetectLib.preprocess.has_masked_background`) unless
``rim_on_masked_background`` is True. The anomaly map is zero outside that region. Slices whose foreground covers less than
``min_foreground_fraction`` of the slice are not scored (score 0, ``scored`` False):
they hold too little tissue for a meaningful score.

Level calibration: reconstruction error depends on anatomical level (the skull base
and orbits reconstruct worse than the upper brain). A :class:`LevelCalibration`
stores, for the relative level of a slice within the volume's foreground extent
(0 = first, 1 = last scored slice), the median and spread of scores of NORMAL
validation slices; a calibrated score is ``(score − median(level)) / spread(level)``,
i.e. "how unusual for this level". It is fitted without any anomalous labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

DEFAULT_SCORING = {
    "map": "mgmsd",
    "top_fraction": 0.01,
    "min_foreground_fraction": 0.10,
    "level_calibration": True,
    "interior_erosion_mm": 0.0,
    "rim_on_masked_background": False,
    "intensity_weighting": None,
    "slice_score": "map",
    "map_dilation_mm": 0.0,
}


def dilate_maps(maps: np.ndarray, spacing_rc_mm: Tuple[float, float], window_mm: float) -> np.ndarray:
    """Running maximum of each map ``(n, rows, cols)`` over a ``window_mm`` square (in-plane spacing ``(row, column)`` mm).

    An edge-based map (mGMSD) lights a large homogeneous lesion at its border only; the
    maximum carries the border's evidence into the interior, and the intensity weighting
    (:mod:`AnomalyDetectLib.intensity`) then keeps it to pixels bright enough to be lesion.
    The window is an odd number of pixels per axis, at least 1 (``window_mm`` 0 = unchanged).
    """
    if window_mm <= 0:
        return maps
    from scipy import ndimage

    sides = [max(1, int(round(window_mm / max(float(spacing), 1e-6)))) | 1 for spacing in spacing_rc_mm]
    if sides == [1, 1]:
        return maps
    return ndimage.maximum_filter(maps, size=(1, *sides), mode="nearest")


def slice_scores(maps: np.ndarray, foreground: np.ndarray, top_fraction: float) -> np.ndarray:
    """``(n, H, W)`` maps and boolean foreground → ``(n,)`` top-fraction means (0 without foreground)."""
    scores = np.zeros(len(maps), dtype=np.float64)
    for index, (anomaly_map, mask) in enumerate(zip(maps, foreground)):
        values = anomaly_map[mask]
        if values.size == 0:
            continue
        count = max(1, int(round(top_fraction * values.size)))
        scores[index] = float(np.partition(values, values.size - count)[values.size - count :].mean())
    return scores


def scored_slices(foreground_fraction: np.ndarray, min_foreground_fraction: float) -> np.ndarray:
    return np.asarray(foreground_fraction) >= min_foreground_fraction


def relative_levels(scored: np.ndarray) -> np.ndarray:
    """Each slice's level in [0, 1] between the first and last scored slice (clipped outside)."""
    indices = np.flatnonzero(scored)
    levels = np.zeros(len(scored), dtype=np.float64)
    if indices.size == 0:
        return levels
    first, last = indices[0], indices[-1]
    span = max(last - first, 1)
    return np.clip((np.arange(len(scored)) - first) / span, 0.0, 1.0)


@dataclass
class LevelCalibration:
    """Median and robust spread of normal slice scores at ``centres`` (relative levels)."""

    centres: List[float]
    medians: List[float]
    spreads: List[float]

    @classmethod
    def fit(cls, levels: Sequence[float], scores: Sequence[float], bins: int = 8, min_per_bin: int = 8) -> LevelCalibration:
        """Fit on normal slices; bins with fewer than ``min_per_bin`` slices borrow from neighbours."""
        levels = np.asarray(levels, dtype=float)
        scores = np.asarray(scores, dtype=float)
        if scores.size < 2:
            raise ValueError("level calibration needs at least two normal slices")
        centres = (np.arange(bins) + 0.5) / bins
        global_spread = robust_spread(scores)
        medians, spreads = [], []
        for centre in centres:
            half_width = 0.5 / bins
            chosen = np.abs(levels - centre) <= half_width
            while chosen.sum() < min_per_bin and half_width < 1.0:
                half_width *= 1.5
                chosen = np.abs(levels - centre) <= half_width
            values = scores[chosen] if chosen.any() else scores
            medians.append(float(np.median(values)))
            spreads.append(float(max(robust_spread(values), 0.25 * global_spread, 1e-6)))
        return cls(centres.tolist(), medians, spreads)

    def apply(self, levels: np.ndarray, scores: np.ndarray) -> np.ndarray:
        median = np.interp(levels, self.centres, self.medians)
        spread = np.interp(levels, self.centres, self.spreads)
        return (np.asarray(scores) - median) / spread

    def to_config(self) -> Dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: Optional[Dict]) -> Optional[LevelCalibration]:
        return cls(**config) if config else None


def robust_spread(values: np.ndarray) -> float:
    """Robust standard deviation (1.4826 × median absolute deviation)."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def normal_quantile_threshold(normal_scores: np.ndarray, quantile: float) -> float:
    """Threshold at a quantile of NORMAL validation scores (false-positive rate ≈ 1 − quantile)."""
    normal_scores = np.asarray(normal_scores, dtype=float)
    if normal_scores.size == 0:
        raise ValueError("no normal validation scores to calibrate a threshold on")
    return float(np.quantile(normal_scores, quantile))
