"""Patches around points of a volume, and tiling of axial slices.

Conventions used throughout:

* ``volume.voxels`` is indexed ``(k, j, i)`` (slice, row, column); points and
  centres are given as ``(i, j, k)`` continuous voxel indices (column, row,
  slice), one point per row of an ``(N, 3)`` array, as Slicer does.
* ``volume.ijk_to_ras`` maps ``(i, j, k, 1)`` to patient RAS millimetres
  (x → Right, y → Anterior, z → Superior).
* A size-``n`` patch axis places pixel ``p`` at offset ``(p - (n - 1) / 2)``
  sample steps from the centre. For odd ``n`` the centre is the middle pixel;
  for even ``n`` it lies half a step between pixels ``n/2 - 1`` and ``n/2``, so
  an even-sized patch reproduces array slicing only about a half-integer centre
  (e.g. size 4 about index 5.5 covers indices 4..7).

Example::

    planes = extract_planes_25d(volume, centres_ijk, size=32, extent_mm=48.0)
    planes.shape               # (N, 3, 32, 32): axial, coronal, sagittal
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from scipy import ndimage

from .errors import VolumeError
from .volume import Volume

#: Largest number of interpolated samples held at once (bounds the memory of a call).
_MAX_SAMPLES_PER_CHUNK = 2_000_000
_MAX_CENTRES_PER_CHUNK = 2048
#: Sample positions this close (in voxels) outside the grid still count as inside, so
#: that round-off in the RAS→IJK mapping does not pad samples lying on the border.
_EDGE_TOLERANCE = 1e-6

# In-plane (row, column) unit directions of the axial, coronal and sagittal planes.
# Voxel mode: in (k, j, i) index space. Millimetre mode: in RAS, rows and columns
# running towards increasing coordinate.
_VOXEL_PLANE_AXES = np.array(
    [
        [[0, 1, 0], [0, 0, 1]],  # axial: rows j, columns i
        [[1, 0, 0], [0, 0, 1]],  # coronal: rows k, columns i
        [[1, 0, 0], [0, 1, 0]],  # sagittal: rows k, columns j
    ],
    dtype=float,
)
_RAS_PLANE_AXES = np.array(
    [
        [[0, 1, 0], [1, 0, 0]],  # axial: rows y (P→A), columns x (L→R)
        [[0, 0, 1], [1, 0, 0]],  # coronal: rows z (I→S), columns x (L→R)
        [[0, 0, 1], [0, 1, 0]],  # sagittal: rows z (I→S), columns y (P→A)
    ],
    dtype=float,
)


def _check_voxels(volume: Volume) -> np.ndarray:
    voxels = np.asarray(volume.voxels)
    if voxels.ndim != 3 or voxels.size == 0:
        raise VolumeError(f"'{volume.name}' has voxel array shape {voxels.shape}; a non-empty (k, j, i) volume is required.")
    if voxels.dtype == bool:
        voxels = voxels.astype(np.uint8)
    if not np.issubdtype(voxels.dtype, np.number) or np.iscomplexobj(voxels):
        raise VolumeError(f"'{volume.name}' has voxel type {voxels.dtype}; a real scalar type is required.")
    return voxels


def _check_matrix(volume: Volume) -> np.ndarray:
    matrix = np.asarray(volume.ijk_to_ras, dtype=float)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise VolumeError(f"'{volume.name}' has an invalid IJK→RAS matrix: {matrix.tolist()}.")
    return matrix


def _check_points(points, what: str) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim != 2 or array.shape[1] != 3:
        raise VolumeError(f"{what} must be an (N, 3) array; got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise VolumeError(f"{what} contain NaN or infinite values.")
    return array


def _check_int(value, name: str, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise VolumeError(f"{name} must be an integer; got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f"≥ {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise VolumeError(f"{name} must be {allowed}; got {value}.")
    return int(value)


def centres_ijk_to_ras(volume: Volume, points_ijk) -> np.ndarray:
    """RAS millimetres ``(N, 3)`` of continuous voxel indices ``(N, 3)`` in ``(i, j, k)`` order."""
    matrix = _check_matrix(volume)
    points = _check_points(points_ijk, "IJK points")
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def centres_ras_to_ijk(volume: Volume, points_ras) -> np.ndarray:
    """Continuous voxel indices ``(N, 3)`` in ``(i, j, k)`` order of RAS points ``(N, 3)`` in mm."""
    matrix = _check_matrix(volume)
    points = _check_points(points_ras, "RAS points")
    return np.linalg.solve(matrix[:3, :3], (points - matrix[:3, 3]).T).T


def extract_planes_25d(volume: Volume, centres_ijk, size: int = 32, extent_mm: Optional[float] = None,
                       pad_value: Optional[float] = None, order: int = 1, rotation: Optional[np.ndarray] = None) -> np.ndarray:
    """The axial, coronal and sagittal planes through each centre: ``(N, 3, size, size)`` float32.

    ``centres_ijk`` is ``(N, 3)`` continuous voxel indices in ``(i, j, k)`` order.
    Channel 0 is the axial plane, 1 the coronal and 2 the sagittal; within a plane
    axis 0 is the row and axis 1 the column. Pixel ``p`` is ``(p - (size - 1) / 2)``
    sample steps from the centre (see the module docstring for even sizes).

    ``extent_mm=None`` (voxel mode): one step is one voxel and the planes follow
    the volume's index axes whatever its geometry: axial = fixed k (rows j,
    columns i), coronal = fixed j (rows k, columns i), sagittal = fixed i (rows k,
    columns j), rows and columns running towards increasing index. Integer
    centres with odd ``size`` give exactly the corresponding array slices.

    ``extent_mm`` given (millimetre mode): each plane is ``extent_mm`` mm on a side,
    one step is ``extent_mm / size`` mm, and the planes are sampled in patient RAS
    space, so volumes of any spacing or direction agree: axial = rows along +y
    (posterior→anterior), columns along +x (left→right); coronal = rows along +z
    (inferior→superior), columns along +x; sagittal = rows along +z, columns along
    +y. Row 0 is thus the most posterior (axial) or inferior (coronal, sagittal)
    row; show coronal and sagittal planes with ``origin="lower"`` to see the head
    at the top.

    ``rotation`` (millimetre mode only): a 3×3 rotation applied to the three planes’
    RAS directions about each centre (augmentation); None keeps them axis-aligned.

    Samples are interpolated with a spline of ``order`` (0 nearest, 1 linear,
    up to 5). Samples outside the grid (beyond the outermost voxel centres) take
    ``pad_value``, by default the volume's minimum.

    Raises :class:`VolumeError` for centres not of shape ``(N, 3)`` or not finite,
    ``size`` < 1, ``extent_mm`` ≤ 0, ``order`` outside 0..5, or an unusable volume.
    """
    voxels = _check_voxels(volume)
    centres = _check_points(centres_ijk, "Patch centres (i, j, k)")
    size = _check_int(size, "Patch size", 1)
    order = _check_int(order, "Interpolation order", 0, 5)
    if extent_mm is None:
        if rotation is not None:
            raise VolumeError("A patch rotation needs millimetre mode (extent_mm).")
        step = 1.0
        plane_axes = _VOXEL_PLANE_AXES
    else:
        step = float(extent_mm)
        if not np.isfinite(step) or step <= 0:
            raise VolumeError(f"Patch extent must be a positive number of mm; got {extent_mm!r}.")
        step /= size
        # Map RAS directions to (i, j, k) index directions, then reverse to (k, j, i).
        ras_to_ijk = np.linalg.inv(_check_matrix(volume)[:3, :3])
        directions = _RAS_PLANE_AXES
        if rotation is not None:
            rotation = np.asarray(rotation, dtype=float)
            if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) <= 0:
                raise VolumeError("Patch rotation must be a 3×3 rotation matrix.")
            directions = directions @ rotation.T
        plane_axes = (directions @ ras_to_ijk.T)[..., ::-1]
    if pad_value is None:
        pad_value = float(voxels.min())
    elif not np.isfinite(pad_value):
        raise VolumeError(f"Pad value must be a finite number; got {pad_value!r}.")

    # The grid is affine in the index space, so every sample is centre + r·row + c·column.
    offsets = (np.arange(size) - (size - 1) / 2.0) * step
    row_steps = offsets[None, :, None, None] * plane_axes[:, None, None, 0, :]
    column_steps = offsets[None, None, :, None] * plane_axes[:, None, None, 1, :]
    grid = row_steps + column_steps  # (3 planes, rows, columns, kji)

    coefficients = voxels
    if order > 1:
        # Prefilter once here rather than once per chunk inside map_coordinates.
        coefficients = ndimage.spline_filter(voxels, order, output=np.float64, mode="nearest")

    result = np.empty((len(centres), 3, size, size), dtype=np.float32)
    chunk = max(1, min(_MAX_CENTRES_PER_CHUNK, _MAX_SAMPLES_PER_CHUNK // (3 * size * size)))
    for start in range(0, len(centres), chunk):
        kji = centres[start:start + chunk, ::-1]
        coordinates = (kji[:, None, None, None, :] + grid[None]).reshape(-1, 3)
        values = _sample(voxels, coefficients, coordinates, order, float(pad_value))
        result[start:start + len(kji)] = values.reshape(len(kji), 3, size, size)
    return result


def _sample(voxels: np.ndarray, coefficients: np.ndarray, coordinates: np.ndarray, order: int, pad_value: float) -> np.ndarray:
    """Values at ``(M, 3)`` continuous ``(k, j, i)`` coordinates; ``pad_value`` outside the grid."""
    upper = np.asarray(voxels.shape, dtype=float) - 1
    outside = np.any((coordinates < -_EDGE_TOLERANCE) | (coordinates > upper + _EDGE_TOLERANCE), axis=1)
    coordinates = np.clip(coordinates, 0, upper)
    rounded = np.rint(coordinates)
    if np.all(np.abs(coordinates - rounded) <= _EDGE_TOLERANCE):
        # Every sample sits on a voxel centre: index directly, which is exact and fast.
        index = rounded.astype(np.intp)
        values = voxels[index[:, 0], index[:, 1], index[:, 2]].astype(np.float64)
    else:
        values = ndimage.map_coordinates(coefficients, coordinates.T, output=np.float64, order=order, mode="nearest", prefilter=False)
    values[outside] = pad_value
    return values


def _tile_origins(length: int, tile: int, stride: int) -> np.ndarray:
    count = -(-max(length - tile, 0) // stride) + 1
    return np.arange(count) * stride


def tile_slice(image2d, tile: int, stride: int) -> Tuple[np.ndarray, np.ndarray]:
    """Cut a 2D image ``(rows, columns)`` into square tiles covering every pixel.

    Tiles start at rows and columns ``0, stride, 2·stride, …`` until the last tile
    reaches the bottom/right edge; where it runs past the edge the image is padded
    with its minimum. Returns ``tiles`` ``(T, tile, tile)`` (the image's dtype) and
    ``origins`` ``(T, 2)`` int, the (row, column) of each tile's top-left pixel,
    in row-major order. ``stride`` must be between 1 and ``tile`` so that no pixel
    is skipped. Raises :class:`VolumeError` otherwise or for a non-2D or empty image.
    """
    image = np.asarray(image2d)
    if image.ndim != 2 or image.size == 0:
        raise VolumeError(f"Slice to tile must be a non-empty 2D array; got shape {image.shape}.")
    tile = _check_int(tile, "Tile size", 1)
    stride = _check_int(stride, "Tile stride", 1, tile)
    row_origins = _tile_origins(image.shape[0], tile, stride)
    column_origins = _tile_origins(image.shape[1], tile, stride)
    padded_shape = (row_origins[-1] + tile, column_origins[-1] + tile)
    padded = np.pad(image, [(0, padded_shape[0] - image.shape[0]), (0, padded_shape[1] - image.shape[1])], constant_values=image.min())
    windows = np.lib.stride_tricks.sliding_window_view(padded, (tile, tile))[::stride, ::stride]
    tiles = np.ascontiguousarray(windows).reshape(-1, tile, tile)
    rows, columns = np.meshgrid(row_origins, column_origins, indexing="ij")
    origins = np.stack([rows.ravel(), columns.ravel()], axis=1)
    return tiles, origins


def untile(tiles_or_maps, origins, shape) -> np.ndarray:
    """Reassemble tiles ``(T, h, w)`` placed at ``origins`` ``(T, 2)`` (row, column) into ``shape``.

    Overlapping pixels are averaged and parts of tiles beyond ``shape`` are dropped,
    so ``untile(*tile_slice(image, t, s), image.shape)`` returns ``image`` for any
    valid stride. Pixels no tile covers are NaN. The result is float32, or float64
    for float64 tiles. Raises :class:`VolumeError` for inconsistent shapes or
    negative origins.
    """
    tiles = np.asarray(tiles_or_maps)
    origins = np.asarray(origins)
    if tiles.ndim != 3:
        raise VolumeError(f"Tiles must be a (T, rows, columns) array; got shape {tiles.shape}.")
    if origins.shape != (len(tiles), 2) or not np.issubdtype(origins.dtype, np.integer):
        raise VolumeError(f"Tile origins must be a ({len(tiles)}, 2) integer array; got shape {origins.shape}, type {origins.dtype}.")
    if np.any(origins < 0):
        raise VolumeError("Tile origins must not be negative.")
    shape = tuple(int(n) for n in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise VolumeError(f"Output shape must be two positive lengths; got {shape}.")

    height, width = tiles.shape[1:]
    rows = origins[:, 0, None, None] + np.arange(height)[None, :, None]
    columns = origins[:, 1, None, None] + np.arange(width)[None, None, :]
    rows, columns = np.broadcast_arrays(rows, columns)
    inside = (rows < shape[0]) & (columns < shape[1])
    flat = rows[inside] * shape[1] + columns[inside]
    total = np.bincount(flat, weights=tiles[inside].astype(np.float64), minlength=shape[0] * shape[1])
    count = np.bincount(flat, minlength=shape[0] * shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        image = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return image.reshape(shape).astype(np.float64 if tiles.dtype == np.float64 else np.float32)
