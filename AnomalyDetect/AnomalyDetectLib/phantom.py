"""Synthetic head phantoms with known geometry and optional inserted lesions.

Used by the test suites, the Slicer module's self-test and demos: no patient data
needed. A phantom is an ellipsoidal "head" (bright rim like scalp/skull marrow in
FLAIR, grey-matter-like interior, two dark "ventricles"), with smooth random texture
and per-volume shape jitter, stored as uint8-like values 0–200 in (k, j, i) order.
A lesion is a bright ellipsoid inside the head; its mask is returned beside it.

Example::

    from AnomalyDetectLib.phantom import make_head_phantom
    volume, mask = make_head_phantom(seed=3, lesion=True)
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .volume import Volume


def make_head_phantom(
    seed: int = 0,
    shape: Tuple[int, int, int] = (24, 64, 64),
    lesion: bool = False,
    lesion_radius: float = 0.22,
    ijk_to_ras: Optional[np.ndarray] = None,
    name: Optional[str] = None,
) -> Tuple[Volume, np.ndarray]:
    """A phantom volume and its boolean lesion mask (all False without a lesion).

    ``lesion_radius`` is relative to the head's in-plane half-width. The lesion sits in
    the middle third of the slices so that its slices are surrounded by normal ones.
    """
    rng = np.random.default_rng(seed)
    slices, rows, columns = shape
    k, j, i = np.meshgrid(
        np.linspace(-1, 1, slices), np.linspace(-1, 1, rows), np.linspace(-1, 1, columns), indexing="ij"
    )
    half_axes = np.array([1.05, 0.8, 0.68]) * (1 + 0.05 * rng.standard_normal(3))
    radius = np.sqrt((k / half_axes[0]) ** 2 + (j / half_axes[1]) ** 2 + (i / half_axes[2]) ** 2)
    head = radius < 1.0
    voxels = np.zeros(shape, dtype=np.float32)
    voxels[head] = 90.0
    voxels[(radius > 0.86) & head] = 150.0
    for side in (-1, 1):
        centre_i = side * 0.16 * (1 + 0.1 * rng.standard_normal())
        ventricle = ((i - centre_i) / 0.09) ** 2 + ((j + 0.05) / 0.3) ** 2 + (k / 0.5) ** 2 < 1.0
        voxels[ventricle] = 35.0
    texture = _smooth_noise(rng, shape, passes=2)
    voxels += np.where(head, 8.0 * texture, 0.0)
    mask = np.zeros(shape, dtype=bool)
    if lesion:
        centre = np.array([rng.uniform(-0.25, 0.25), rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)])
        axes = lesion_radius * np.array([1.6, 1.0, 1.0]) * rng.uniform(0.8, 1.2, 3)
        blob = ((k - centre[0]) / axes[0]) ** 2 + ((j - centre[1]) / axes[1]) ** 2 + ((i - centre[2]) / axes[2]) ** 2 < 1.0
        mask = blob & head & (radius < 0.8)
        voxels[mask] = 185.0 + 6.0 * texture[mask]
    voxels += rng.normal(0.0, 2.0, shape).astype(np.float32) * head
    voxels = np.clip(voxels, 0, 255).round().astype(np.uint8)
    matrix = np.diag([-1.0, -1.0, 2.0, 1.0]) if ijk_to_ras is None else np.asarray(ijk_to_ras, dtype=float)
    return Volume(voxels, matrix, name or f"phantom{seed:03d}", "MR"), mask


def _smooth_noise(rng: np.random.Generator, shape, passes: int) -> np.ndarray:
    noise = rng.standard_normal(shape).astype(np.float32)
    for _ in range(passes):
        for axis in range(3):
            noise = (np.roll(noise, 1, axis) + noise + np.roll(noise, -1, axis)) / 3.0
    return noise / (noise.std() + 1e-6)
