"""Showing every slice to a model the way a radiologist sees it.

Volumes store their voxels in whatever order the scanner or converter chose: a DICOM
series usually runs right→left along columns and anterior→posterior along rows, a NIfTI
written by another tool may run the other way, and a model trained on one layout sees
the other upside down. :class:`InPlaneOrientation` turns each ``(rows, columns)`` slice
into the standard radiological display of its plane by transposing and flipping the two
in-plane axes only: the slice axis, and so every slice index, stays as stored.

Display conventions (screen right, screen down), as in Slicer's slice views:

* axial: patient left, posterior
* coronal: patient left, inferior
* sagittal: posterior, inferior

A volume already stored that way (DICOM's usual layout; the LGG FLAIR volumes; 2D images,
which load with that geometry) is left untouched. :meth:`apply` and :meth:`undo` return
views, not copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Slice normal's dominant RAS axis -> (screen-right direction, screen-down direction) in RAS.
_DISPLAY = {
    2: (np.array([-1.0, 0.0, 0.0]), np.array([0.0, -1.0, 0.0])),  # axial
    1: (np.array([-1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0])),  # coronal
    0: (np.array([0.0, -1.0, 0.0]), np.array([0.0, 0.0, -1.0])),  # sagittal
}
PLANES = {2: "axial", 1: "coronal", 0: "sagittal"}


@dataclass(frozen=True)
class InPlaneOrientation:
    """How to turn stored ``(..., rows, columns)`` slices into display orientation."""

    transpose: bool = False
    flip_rows: bool = False
    flip_columns: bool = False
    plane: str = "axial"

    @classmethod
    def of(cls, ijk_to_ras: np.ndarray) -> InPlaneOrientation:
        """The orientation for a volume with this IJK→RAS matrix (i = columns, j = rows, k = slices)."""
        axes = np.asarray(ijk_to_ras, dtype=float)[:3, :3]
        lengths = np.linalg.norm(axes, axis=0)
        if not np.all(np.isfinite(axes)) or np.any(lengths == 0):
            return cls()
        column_axis, row_axis, normal = (axes / lengths).T
        dominant = int(np.argmax(np.abs(normal)))
        right, down = _DISPLAY[dominant]
        as_stored = abs(column_axis @ right) + abs(row_axis @ down)
        swapped = abs(row_axis @ right) + abs(column_axis @ down)
        transpose = swapped > as_stored
        screen_columns, screen_rows = (row_axis, column_axis) if transpose else (column_axis, row_axis)
        return cls(bool(transpose), bool(screen_rows @ down < 0), bool(screen_columns @ right < 0), PLANES[dominant])

    @property
    def is_identity(self) -> bool:
        return not (self.transpose or self.flip_rows or self.flip_columns)

    def apply(self, slices: np.ndarray) -> np.ndarray:
        """Stored ``(..., rows, columns)`` → display orientation (a view)."""
        out = np.swapaxes(slices, -1, -2) if self.transpose else slices
        if self.flip_rows:
            out = out[..., ::-1, :]
        if self.flip_columns:
            out = out[..., :, ::-1]
        return out

    def undo(self, slices: np.ndarray) -> np.ndarray:
        """Display orientation → stored layout (a view); ``undo(apply(a))`` is ``a``."""
        out = slices
        if self.flip_columns:
            out = out[..., :, ::-1]
        if self.flip_rows:
            out = out[..., ::-1, :]
        return np.swapaxes(out, -1, -2) if self.transpose else out

    def spacing_rows_columns(self, spacing_ijk) -> tuple:
        """Pixel size (rows, columns) in mm of display-oriented slices, from the (i, j, k) spacing."""
        rows, columns = float(spacing_ijk[1]), float(spacing_ijk[0])
        return (columns, rows) if self.transpose else (rows, columns)
