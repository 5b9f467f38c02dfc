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


#: Landmark shapes of :func:`make_landmark_phantom`: equally bright, told apart by shape alone.
LANDMARK_SHAPES = ("ball", "shell", "rod")


def make_landmark_phantom(
    seed: int = 0,
    shape: Tuple[int, int, int] = (36, 60, 60),
    spacing: Tuple[float, float, float] = (1.5, 1.5, 2.0),
    present: Tuple[str, ...] = LANDMARK_SHAPES,
    direction: Optional[np.ndarray] = None,
) -> Tuple[Volume, dict]:
    """A CT-like body (HU) holding distinctive landmark shapes; returns the volume and ``{name: RAS centre}``.

    ``spacing`` is (i, j, k) in mm and ``direction`` a 3×3 matrix of RAS unit columns (default
    LPS-like axes), so geometry can be anisotropic and oblique. Shapes (700 HU in a ~40 HU body
    with noise): "ball" (solid sphere, radius 5 mm), "shell" (hollow sphere, 3.5–6.5 mm), "rod"
    (cylinder along the patient's superior axis, radius 2.5 mm, 16 mm long), with partial-volume
    edges (a voxel on a border holds the shape's share of it, roughly, as a scanner would record it).
    Centres are at least 22 mm apart and 12 mm inside the body.
    """
    rng = np.random.default_rng(seed)
    axes = np.diag([-1.0, -1.0, 1.0]) if direction is None else np.asarray(direction, dtype=float)
    matrix = np.eye(4)
    matrix[:3, :3] = axes * np.asarray(spacing, dtype=float)
    slices, rows, columns = shape
    centre_ijk = (np.array([columns, rows, slices], dtype=float) - 1) / 2
    matrix[:3, 3] = -matrix[:3, :3] @ centre_ijk  # the body's centre at RAS (0, 0, 0)
    k, j, i = np.meshgrid(np.arange(slices), np.arange(rows), np.arange(columns), indexing="ij")
    ras = np.stack([i, j, k], -1).astype(np.float32) @ matrix[:3, :3].T.astype(np.float32) + matrix[:3, 3].astype(np.float32)
    sizes = np.array([columns, rows, slices]) - 1
    extent = np.abs(matrix[:3, :3]) @ sizes / 2  # half-size of the (possibly oblique) box along R, A, S
    inverse = np.linalg.inv(matrix[:3, :3])
    half_axes = extent * np.array([0.9, 0.85, 1.2]) * rng.uniform(0.92, 1.0, 3)
    body_radius = np.sqrt(((ras / half_axes) ** 2).sum(-1))
    voxels = np.full(shape, -1000.0, dtype=np.float32)
    body = body_radius < 1.0
    voxels[body] = 40.0 + 20.0 * _smooth_noise(rng, shape, passes=2)[body]
    centres = {}
    voxel = float(np.mean(spacing))
    for name in present:
        if name not in LANDMARK_SHAPES:
            raise ValueError(f"unknown landmark shape {name!r}; expected some of {LANDMARK_SHAPES}")
        for _ in range(1000):
            candidate = rng.uniform(-1, 1, 3) * np.maximum(half_axes - 12.0, 1.0) * 0.75
            ijk = inverse @ (candidate - matrix[:3, 3])
            margin = 12.0 / np.asarray(spacing, dtype=float)  # voxels: the whole shape stays in the volume
            inside_box = np.all(ijk >= margin) and np.all(ijk <= sizes - margin)
            deep = np.sum((candidate / np.maximum(half_axes - 12.0, 1e-6)) ** 2) <= 1.0 and np.all(half_axes > 12.0)
            if inside_box and deep and all(np.linalg.norm(candidate - other) >= 22.0 for other in centres.values()):
                break
        else:
            raise ValueError(f"the phantom of shape {shape} and spacing {spacing} is too small for {len(present)} landmarks")
        centres[name] = candidate
        offset = ras - candidate.astype(np.float32)
        distance = np.sqrt((offset ** 2).sum(-1))
        if name == "ball":
            inside = _partial(5.0 - distance, voxel)
        elif name == "shell":
            inside = _partial(6.5 - distance, voxel) * _partial(distance - 3.5, voxel)
        else:
            inside = _partial(2.5 - np.sqrt(offset[..., 0] ** 2 + offset[..., 1] ** 2), voxel) * _partial(8.0 - np.abs(offset[..., 2]), voxel)
        voxels += inside * (700.0 - voxels)
    voxels += rng.normal(0.0, 10.0, shape).astype(np.float32) * body
    volume = Volume(np.round(voxels).astype(np.int16), matrix, f"landmark_phantom{seed:03d}", "CT")
    return volume, {name: tuple(float(v) for v in centre) for name, centre in centres.items()}


def _partial(signed_distance_mm: np.ndarray, voxel_mm: float) -> np.ndarray:
    """Approximate fraction of a voxel inside a surface, from the signed distance of its centre (inside > 0)."""
    return np.clip(signed_distance_mm / voxel_mm + 0.5, 0.0, 1.0)


def write_plumbing_landmark_bundle(path: str, classes=("first", "second"), seed: int = 0) -> str:
    """Write a valid landmark bundle with seeded random weights and return ``path``.

    For testing how landmarks flow through the product (markups, regions of interest), not how
    well they are found: every class is reported where its probability peaks, because
    ``min_confidence`` is tiny; a coarse grid keeps detection to about a second.
    """
    import torch

    from .bundle import save_bundle
    from .landmark_detection import landmark_normaliser
    from .models.landmarks import METHOD

    torch.manual_seed(seed)
    architecture = dict(METHOD.DEFAULT_ARCHITECTURE, widths=[4, 8, 8], dense=8, classes=list(classes))
    detection = dict(METHOD.DEFAULT_DETECTION, extent_mm=32.0, grid_mm=12.0, min_confidence=0.01)
    manifest = {"method": "landmarks", "architecture": architecture, "input_size": 32, "channels": 3, "modality": "MR",
                "normalisation": landmark_normaliser("MR").to_config(), "thresholds": {"confidence": 0.01}, "scoring": detection,
                "training": {"note": "untrained: random weights for tests"}}
    networks = METHOD.build_networks(architecture).eval()
    save_bundle(path, manifest, {name: value.numpy() for name, value in networks.state_dict().items()})
    return path
