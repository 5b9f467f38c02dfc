"""2.5D context: a slice together with its neighbours, sampled at a fixed distance in mm.

A model with context sees, for slice k, ``slices`` (odd) images as input channels: the slice
itself in the middle and neighbours at ``±spacing_mm, ±2·spacing_mm, ...`` along the slice
normal. Sampling in millimetres rather than in slice steps makes thin- and thick-slice volumes
look alike to the model. Neighbours between two stored slices are interpolated linearly; beyond
the first or last slice the end slice is repeated (replicated ends).

Channel order follows the patient, not the file: channel 0 is always the neighbour on the
negative side of the dominant RAS axis of the slice normal (inferior for axial slices, posterior
for coronal, right for sagittal), so a volume stored with its slices in reverse order gives the
same model input. The bundle manifest's ``context`` entry (``{"slices": 3, "spacing_mm": 3.0}``)
records what the model was trained with; detection builds the same input. A manifest without
the entry is a 2D model (one channel).

Example::

    context = SliceContext(slices=3, spacing_mm=3.0)
    stacks = context.gather(volume.voxels, [10, 11], volume.ijk_to_ras)   # (2, 3, rows, cols) float32
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import numpy as np

from .errors import BundleError


def slice_gap_mm(ijk_to_ras: np.ndarray) -> float:
    """Distance between neighbouring slice planes in mm (not the k column's length, which is longer for sheared grids)."""
    axes = np.asarray(ijk_to_ras, dtype=float)[:3, :3]
    in_plane = np.cross(axes[:, 0], axes[:, 1])
    area = float(np.linalg.norm(in_plane))
    if area == 0.0:
        raise ValueError("The volume's i and j axes are parallel: no slice plane.")
    return abs(float(np.linalg.det(axes))) / area


def slice_direction_sign(ijk_to_ras: np.ndarray) -> int:
    """+1 when k increases towards the positive side of the slice normal's dominant RAS axis, else −1."""
    axes = np.asarray(ijk_to_ras, dtype=float)[:3, :3]
    normal = np.cross(axes[:, 0], axes[:, 1])
    dominant = int(np.argmax(np.abs(normal)))
    # k's component along the dominant axis gives the direction of increasing k.
    return 1 if axes[dominant, 2] >= 0 else -1


@dataclass(frozen=True)
class SliceContext:
    """How many slices a model sees (odd) and how far apart they are (mm along the slice normal)."""

    slices: int = 1
    spacing_mm: float = 0.0

    def __post_init__(self):
        if int(self.slices) < 1 or int(self.slices) % 2 == 0:
            raise BundleError(f"context slices must be an odd number ≥ 1, got {self.slices}.")
        if self.slices > 1 and not (np.isfinite(self.spacing_mm) and self.spacing_mm > 0):
            raise BundleError(f"context spacing_mm must be a positive number of millimetres, got {self.spacing_mm}.")

    @property
    def channels(self) -> int:
        return int(self.slices)

    @property
    def is_2d(self) -> bool:
        return self.slices == 1

    def offsets_mm(self) -> np.ndarray:
        """Offsets of the channels from the centre slice in mm, negative side first: e.g. ``[-3, 0, 3]``."""
        half = self.slices // 2
        return np.arange(-half, half + 1, dtype=float) * float(self.spacing_mm)

    def gather(self, voxels: np.ndarray, indices: Sequence[int], ijk_to_ras: np.ndarray) -> np.ndarray:
        """``(n, slices, rows, cols)`` float32 stacks for slice ``indices`` of ``(k, rows, cols)`` ``voxels``.

        ``ijk_to_ras`` is the volume's matrix (its slice axis is k); in-plane flips or transposes
        applied to ``voxels`` beforehand do not matter, as only k is resampled.
        """
        indices = np.asarray(indices, dtype=int)
        count = voxels.shape[0]
        if self.is_2d:
            return voxels[indices][:, None].astype(np.float32)
        step = self.offsets_mm() / slice_gap_mm(ijk_to_ras) * slice_direction_sign(ijk_to_ras)  # in k units
        out = np.empty((len(indices), self.slices) + voxels.shape[1:], dtype=np.float32)
        for channel, delta in enumerate(step):
            position = np.clip(indices + delta, 0, count - 1)
            below = np.floor(position).astype(int)
            above = np.minimum(below + 1, count - 1)
            weight = (position - below).astype(np.float32)[:, None, None]
            lower = voxels[below].astype(np.float32)
            if np.any(weight > 0):
                out[:, channel] = lower + weight * (voxels[above].astype(np.float32) - lower)
            else:
                out[:, channel] = lower
        return out

    def to_config(self) -> Dict:
        return {"slices": int(self.slices), "spacing_mm": float(self.spacing_mm)}

    @classmethod
    def from_config(cls, config: Optional[Dict]) -> SliceContext:
        """From a manifest's ``context`` entry; None or missing = a 2D model. Unknown keys are an error."""
        if not config:
            return cls()
        unknown = set(config) - {"slices", "spacing_mm"}
        if unknown:
            raise BundleError(f"The manifest's context has unknown settings {sorted(unknown)}; expected 'slices' and 'spacing_mm'.")
        try:
            return cls(int(config.get("slices", 1)), float(config.get("spacing_mm", 0.0)))
        except (TypeError, ValueError) as error:
            raise BundleError(f"The manifest's context {config!r} is not valid: {error}") from None
