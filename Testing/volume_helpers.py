"""Helpers shared by the volume tests: test_volume_io, test_volume_dicom and test_volume_errors.

Constants and functions that make synthetic voxels and geometry, and look at files on disk.
"""

from __future__ import annotations

import os

import numpy as np

SPACING = (0.7, 0.9, 3.0)
ORIGIN_RAS = (-101.3, 47.25, 12.5)
# NIfTI keeps the sform/qform in float32; SimpleITK brings the geometry back to ~3e-6 mm here.
NIFTI_ATOL = 1e-5
EXACT_ATOL = 1e-12
ROUND_TRIP_SUFFIXES = (".nii.gz", ".nrrd", ".mha")


def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    """A proper rotation: Rz(az) @ Ry(ay) @ Rx(ax)."""
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


DIRECTIONS = {
    "identity": np.eye(3),
    "oblique": rotation(0.3, -0.2, 0.5),
    "flip": np.diag([1.0, -1.0, 1.0]),  # determinant -1: a mirrored (left-handed) grid
    "oblique_flip": rotation(-0.4, 0.25, 0.1) @ np.diag([1.0, 1.0, -1.0]),
}


def make_matrix(direction=None, spacing=SPACING, origin=ORIGIN_RAS) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = (np.eye(3) if direction is None else np.asarray(direction, dtype=float)) @ np.diag(spacing)
    matrix[:3, 3] = origin
    return matrix


def random_voxels(shape=(5, 6, 7), dtype=np.float32, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = max(int(info.min), -2000), min(int(info.max), 3000)
        return rng.integers(low, high, size=shape, endpoint=True).astype(dtype)
    return (rng.normal(size=shape) * 100).astype(dtype)


def snapshot(paths):
    """Bytes and modification time of each file, to prove reading leaves them alone."""
    return {str(p): (open(p, "rb").read(), os.stat(p).st_mtime_ns) for p in paths}


def entries(folder) -> list:
    return sorted(os.listdir(folder))
