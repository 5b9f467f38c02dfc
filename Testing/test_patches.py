"""Tests of AnomalyDetectLib.patches: 2.5D planes (voxel and mm modes), RAS↔IJK, slice tiling."""

from __future__ import annotations

import numpy as np
import pytest
from AnomalyDetectLib import patches
from AnomalyDetectLib.errors import VolumeError
from AnomalyDetectLib.patches import centres_ijk_to_ras, centres_ras_to_ijk, extract_planes_25d, tile_slice, untile
from AnomalyDetectLib.volume import Volume

ROT_Z90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _oblique() -> np.ndarray:
    a, b = np.deg2rad(25.0), np.deg2rad(-40.0)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    return rx @ ry


DIRECTIONS = {
    "identity": np.eye(3),
    "rot90z_flip": ROT_Z90 @ np.diag([1.0, 1.0, -1.0]),
    "lps": np.diag([-1.0, -1.0, 1.0]),
    "oblique": _oblique(),
}


def _matrix(direction, spacing, origin) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(direction) @ np.diag(spacing)
    matrix[:3, 3] = origin
    return matrix


def _voxel_ras(shape_kji, matrix) -> np.ndarray:
    """RAS of every voxel centre, shape (k, j, i, 3)."""
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape_kji], indexing="ij")
    ijk = np.stack([i, j, k], axis=-1).astype(float)
    return ijk @ matrix[:3, :3].T + matrix[:3, 3]


def _random_volume(shape=(10, 12, 14), matrix=None, seed=0) -> Volume:
    voxels = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return Volume(voxels, np.eye(4) if matrix is None else matrix)


def _slices(voxels, centre_ijk, half):
    """Hand-written axial, coronal and sagittal slices of an odd patch about an integer centre."""
    i, j, k = centre_ijk
    return np.stack(
        [
            voxels[k, j - half:j + half + 1, i - half:i + half + 1],
            voxels[k - half:k + half + 1, j, i - half:i + half + 1],
            voxels[k - half:k + half + 1, j - half:j + half + 1, i],
        ]
    )


# --- voxel mode -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [0, 1, 3])
def test_voxel_mode_integer_centres_equal_array_slices(order):
    # A non-identity geometry must not matter in voxel mode.
    volume = _random_volume(matrix=_matrix(DIRECTIONS["oblique"], (0.5, 1.0, 2.5), (3.0, -4.0, 7.0)))
    centres = np.array([[6, 5, 4], [2, 2, 2], [11, 9, 7]])
    planes = extract_planes_25d(volume, centres, size=5, order=order)
    assert planes.shape == (3, 3, 5, 5) and planes.dtype == np.float32
    for centre, plane in zip(centres, planes):
        np.testing.assert_array_equal(plane, _slices(volume.voxels, centre, 2))


def test_voxel_mode_border_is_padded():
    volume = _random_volume()
    voxels = volume.voxels
    centre = np.array([0, 11, 9])  # first column, last row, last slice
    padded = np.pad(voxels, 2, constant_values=-7.0)
    planes = extract_planes_25d(volume, centre[None], size=5, pad_value=-7.0)
    np.testing.assert_array_equal(planes[0], _slices(padded, centre + 2, 2))
    default = extract_planes_25d(volume, centre[None], size=5)
    assert default[0, 0, 0, 0] == pytest.approx(float(voxels.min()))
    far = extract_planes_25d(volume, np.array([[100.0, -50.0, 3.0]]), size=3, pad_value=2.5)
    np.testing.assert_array_equal(far, 2.5)


def test_even_size_centre_lies_between_pixels():
    volume = _random_volume()
    voxels = volume.voxels
    planes = extract_planes_25d(volume, np.array([[6.5, 5.5, 4.0], [6.5, 5.0, 4.5], [6.0, 5.5, 4.5]]), size=4)
    np.testing.assert_allclose(planes[0, 0], voxels[4, 4:8, 5:9], atol=1e-6)
    np.testing.assert_allclose(planes[1, 1], voxels[3:7, 5, 5:9], atol=1e-6)
    np.testing.assert_allclose(planes[2, 2], voxels[3:7, 4:8, 6], atol=1e-6)

    ramp = Volume(np.broadcast_to(np.arange(14.0), (10, 12, 14)).copy())  # value = i
    even = extract_planes_25d(ramp, np.array([[6, 5, 4]]), size=4)
    np.testing.assert_allclose(even[0, 0, 0], [4.5, 5.5, 6.5, 7.5], atol=1e-6)
    odd = extract_planes_25d(ramp, np.array([[6, 5, 4]]), size=3)
    np.testing.assert_array_equal(odd[0, 0, 1], [5.0, 6.0, 7.0])
    single = extract_planes_25d(ramp, np.array([[6, 5, 4]]), size=1)
    np.testing.assert_array_equal(single[0, :, 0, 0], [6.0, 6.0, 6.0])


def test_chunks_agree_with_one_pass(monkeypatch):
    volume = _random_volume()
    rng = np.random.default_rng(3)
    centres = rng.uniform(-2, 14, size=(25, 3))
    whole = extract_planes_25d(volume, centres, size=6, extent_mm=None)
    monkeypatch.setattr(patches, "_MAX_CENTRES_PER_CHUNK", 4)
    np.testing.assert_array_equal(extract_planes_25d(volume, centres, size=6), whole)
    assert extract_planes_25d(volume, np.zeros((0, 3)), size=6).shape == (0, 3, 6, 6)


# --- millimetre mode --------------------------------------------------------------------------

RAMP = np.array([0.7, -1.3, 0.4])


def _ramp(ras):
    return ras @ RAMP + 5.0


@pytest.mark.parametrize("direction_name", list(DIRECTIONS))
def test_mm_mode_samples_analytic_ramp_at_expected_ras_points(direction_name):
    spacing = (0.5, 1.0, 2.5)
    shape = (14, 18, 20)  # k, j, i
    matrix = _matrix(DIRECTIONS[direction_name], spacing, (12.0, -30.0, 4.0))
    volume = Volume(_ramp(_voxel_ras(shape, matrix)), matrix)
    centre_ijk = np.array([[9.3, 8.7, 6.2]])
    size, extent = 7, 12.0
    planes = extract_planes_25d(volume, centre_ijk, size=size, extent_mm=extent, pad_value=-99.0)

    centre_ras = centres_ijk_to_ras(volume, centre_ijk)[0]
    offsets = (np.arange(size) - (size - 1) / 2) * (extent / size)
    x, y, z = np.eye(3)
    # (rows, columns) directions of axial, coronal and sagittal planes: increasing coordinate.
    for channel, (row_axis, column_axis) in enumerate([(y, x), (z, x), (z, y)]):
        points = centre_ras + offsets[:, None, None] * row_axis + offsets[None, :, None] * column_axis
        ijk = centres_ras_to_ijk(volume, points.reshape(-1, 3))
        inside = np.all((ijk > -1e-9) & (ijk < np.array(shape[::-1]) - 1 + 1e-9), axis=1)
        assert inside.sum() >= size  # the check covers interpolated samples as well as padding
        expected = np.where(inside, _ramp(points.reshape(-1, 3)), -99.0).reshape(size, size)
        np.testing.assert_allclose(planes[0, channel], expected, atol=2e-4, err_msg=f"plane {channel}")


def test_mm_mode_agrees_across_spacings_and_directions():
    def blob_volume(direction, spacing, shape):
        half = (np.array(shape[::-1]) - 1) / 2
        origin = -np.asarray(direction) @ (np.asarray(spacing) * half)
        matrix = _matrix(direction, spacing, origin)
        ras = _voxel_ras(shape, matrix)
        voxels = np.exp(-np.sum((ras - [3.0, -2.0, 1.0]) ** 2, axis=-1) / (2 * 10.0**2)).astype(np.float32)
        return Volume(voxels, matrix)

    fine = blob_volume(np.eye(3), (1.0, 1.0, 1.0), (48, 48, 48))
    coarse = blob_volume(DIRECTIONS["rot90z_flip"] @ DIRECTIONS["lps"], (0.5, 1.0, 2.5), (20, 48, 96))
    centre_ras = np.array([[2.0, -3.0, 1.5]])
    planes = [
        extract_planes_25d(volume, centres_ras_to_ijk(volume, centre_ras), size=16, extent_mm=30.0)
        for volume in (fine, coarse)
    ]
    assert planes[0].std() > 0.05
    np.testing.assert_allclose(planes[0], planes[1], atol=0.02)


def test_ras_ijk_round_trip():
    volume = _random_volume(matrix=_matrix(DIRECTIONS["oblique"] @ DIRECTIONS["lps"], (0.5, 1.0, 2.5), (3.0, -4.0, 7.0)))
    ijk = np.random.default_rng(1).uniform(-5, 20, size=(50, 3))
    ras = centres_ijk_to_ras(volume, ijk)
    homogeneous = np.c_[ijk, np.ones(len(ijk))] @ volume.ijk_to_ras.T
    np.testing.assert_allclose(ras, homogeneous[:, :3], atol=1e-10)
    np.testing.assert_allclose(centres_ras_to_ijk(volume, ras), ijk, atol=1e-10)


# --- tiling -----------------------------------------------------------------------------------


def test_tile_untile_round_trip_without_overlap():
    image = np.random.default_rng(2).normal(size=(37, 50)).astype(np.float32)
    tiles, origins = tile_slice(image, 16, 16)
    assert tiles.shape == (12, 16, 16) and tiles.dtype == np.float32
    np.testing.assert_array_equal(np.unique(origins[:, 0]), [0, 16, 32])
    np.testing.assert_array_equal(np.unique(origins[:, 1]), [0, 16, 32, 48])
    np.testing.assert_array_equal(tiles[0], image[:16, :16])
    assert np.all(tiles[-1][5:, :] == image.min()) and np.all(tiles[-1][:, 2:] == image.min())
    np.testing.assert_array_equal(untile(tiles, origins, image.shape), image)


@pytest.mark.parametrize("shape, tile, stride", [((37, 50), 16, 5), ((16, 16), 16, 8), ((7, 9), 16, 4), ((40, 40), 8, 1)])
def test_tile_untile_round_trip_with_overlap(shape, tile, stride):
    image = np.random.default_rng(4).normal(size=shape)
    tiles, origins = tile_slice(image, tile, stride)
    assert np.all(origins.max(axis=0) + tile >= shape)  # every pixel is covered
    result = untile(tiles, origins, shape)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, image, atol=1e-12)


def test_untile_averages_overlaps_and_marks_uncovered():
    tiles = np.stack([np.full((2, 3), 1.0, np.float32), np.full((2, 3), 3.0, np.float32)])
    result = untile(tiles, np.array([[0, 0], [0, 2]]), (3, 5))
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result[:2], [[1, 1, 2, 3, 3], [1, 1, 2, 3, 3]])
    assert np.all(np.isnan(result[2]))


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "centres, kwargs",
    [
        (np.array([1.0, 2.0, 3.0]), {}),
        (np.zeros((4, 2)), {}),
        (np.array([[1.0, np.nan, 2.0]]), {}),
        (np.zeros((1, 3)), {"size": 0}),
        (np.zeros((1, 3)), {"size": 2.5}),
        (np.zeros((1, 3)), {"extent_mm": 0.0}),
        (np.zeros((1, 3)), {"extent_mm": -3.0}),
        (np.zeros((1, 3)), {"order": 6}),
        (np.zeros((1, 3)), {"pad_value": float("nan")}),
    ],
)
def test_bad_patch_arguments_raise(centres, kwargs):
    with pytest.raises(VolumeError):
        extract_planes_25d(_random_volume(), centres, **kwargs)


def test_bad_volumes_raise():
    with pytest.raises(VolumeError, match="shape"):
        extract_planes_25d(Volume(np.zeros((4, 4))), np.zeros((1, 3)))
    singular = Volume(np.zeros((4, 4, 4)), np.diag([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(VolumeError, match="IJK"):
        extract_planes_25d(singular, np.zeros((1, 3)), extent_mm=10.0)
    with pytest.raises(VolumeError):
        centres_ras_to_ijk(singular, np.zeros((1, 3)))
    with pytest.raises(VolumeError):
        centres_ijk_to_ras(_random_volume(), np.zeros((2, 4)))


@pytest.mark.parametrize(
    "call",
    [
        lambda: tile_slice(np.zeros((2, 3, 4)), 4, 4),
        lambda: tile_slice(np.zeros((8, 8)), 4, 5),
        lambda: tile_slice(np.zeros((8, 8)), 0, 1),
        lambda: untile(np.zeros((2, 4, 4)), np.zeros((3, 2), int), (8, 8)),
        lambda: untile(np.zeros((1, 4, 4)), np.array([[-1, 0]]), (8, 8)),
        lambda: untile(np.zeros((1, 4, 4)), np.zeros((1, 2), int), (8,)),
    ],
)
def test_bad_tiling_arguments_raise(call):
    with pytest.raises(VolumeError):
        call()
