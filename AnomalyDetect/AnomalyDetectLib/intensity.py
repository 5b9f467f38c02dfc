"""What intensity says: weighting a structural anomaly map by how unusual a pixel's brightness is for this patient.

Reconstruction and translation maps say where a slice differs from its normal counterpart; they
do not say whether the difference is the kind a lesion makes. In FLAIR (and T2) the lesions of
interest are brighter than the surrounding tissue, and a plain intensity threshold is already a
strong detector on skull-stripped brains. :class:`IntensityWeighting` combines the two: with
``z = (x − m) / s``, the pixel's normalised intensity ``x`` against the median ``m`` and robust
standard deviation ``s`` of the patient's own tissue (the scoring region of the whole volume),

    weighted map = map^(1 − share) · max(z + offset_sd, 0)^share       (direction "brighter")

``share`` 0.5 (the default) is the geometric mean sqrt(map · weight); a larger share gives intensity
more say (the AUROCs depend on it, thresholds are calibrated on whatever map it makes)

with ``z = (m − x) / s`` for ``"darker"`` (e.g. hypodense CT lesions). The geometric mean keeps a
pixel high only where both the model and the intensity agree: bright normal structures that the
model reproduces (scalp fat, vessels) and structural misfits that are not hyperintense both stay
low. ``offset_sd`` keeps pixels slightly below the tissue median from being zeroed, so lesion
borders keep graded values. The map's unit is that of the geometric mean; thresholds are
calibrated on the weighted map. Configured by the manifest's ``scoring["intensity_weighting"]``
(None = off, as in bundles made before it existed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from .errors import BundleError
from .scoring import robust_spread

DIRECTIONS = ("brighter", "darker")


def tissue_statistics(values: np.ndarray) -> Tuple[float, float]:
    """Median and robust standard deviation (:func:`AnomalyDetectLib.scoring.robust_spread`, at least 1e-6) of normalised tissue intensities."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return 0.5, 1.0
    return float(np.median(values)), max(robust_spread(values), 1e-6)


@dataclass(frozen=True)
class IntensityWeighting:
    direction: str = "brighter"
    offset_sd: float = 1.0
    share: float = 0.5

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise BundleError(f"intensity_weighting direction must be one of {DIRECTIONS}, got {self.direction!r}.")
        if not np.isfinite(self.offset_sd):
            raise BundleError(f"intensity_weighting offset_sd must be a finite number, got {self.offset_sd!r}.")
        if not 0.0 < self.share < 1.0:
            raise BundleError(f"intensity_weighting share must be between 0 and 1 (exclusive), got {self.share!r}.")

    def weight(self, normalised: np.ndarray, median: float, spread: float) -> np.ndarray:
        """``max(z + offset_sd, 0)`` per pixel for normalised intensities (any shape)."""
        z = (normalised - np.float32(median)) / np.float32(spread)
        if self.direction == "darker":
            z = -z
        return np.maximum(z + np.float32(self.offset_sd), 0.0).astype(np.float32)

    def apply(self, maps: np.ndarray, normalised: np.ndarray, median: float, spread: float) -> np.ndarray:
        """Weighted maps (same shape as ``maps``, float32, ≥ 0); ``normalised`` is the matching slices' intensities."""
        structure, weight = np.maximum(maps, 0.0), self.weight(normalised, median, spread)
        if self.share == 0.5:
            return np.sqrt(structure * weight).astype(np.float32)
        return (structure ** np.float32(1.0 - self.share) * weight ** np.float32(self.share)).astype(np.float32)

    def to_config(self) -> Dict:
        config = asdict(self)
        if self.share == 0.5:  # manifests written before the setting existed stay as they were
            del config["share"]
        return config

    @classmethod
    def from_config(cls, config: Optional[Dict]) -> Optional[IntensityWeighting]:
        if not config:
            return None
        unknown = set(config) - {"direction", "offset_sd", "share"}
        if unknown:
            raise BundleError(f"scoring intensity_weighting has unknown settings {sorted(unknown)}.")
        try:
            return cls(str(config.get("direction", "brighter")), float(config.get("offset_sd", 1.0)), float(config.get("share", 0.5)))
        except (TypeError, ValueError) as error:
            raise BundleError(f"scoring intensity_weighting has an invalid setting (direction, offset_sd or share): {error}") from None
