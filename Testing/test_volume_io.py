"""Tests of AnomalyDetectLib.volume: NIfTI/NRRD/MetaImage round trips, geometry, 2D images and writing.

All data is synthetic and made in ``tmp_path``. Run with::

    cd /work/main && PYTHONPATH=AnomalyDetect python -m pytest Testing/test_volume_io.py -q
"""

from __future__ import annotations

import os

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from AnomalyDetectLib.errors import AnomalyDetectError, OutputError, VolumeError  # noqa: E402
from AnomalyDetectLib.volume import (  # noqa: E402
    LPS_TO_RAS,
    Volume,
    ijk_to_ras_from_itk,
    itk_geometry_from_ijk_to_ras,
    read_volume,
    to_sitk_image,
    volume_name,
    write_volume,
)
from volume_helpers import (  # noqa: E402
    DIRECTIONS,
    EXACT_ATOL,
    NIFTI_ATOL,
    ORIGIN_RAS,
    ROUND_TRIP_SUFFIXES,
    SPACING,
    entries,
    make_matrix,
    random_voxels,
    rotation,
    snapshot,
)

# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", ROUND_TRIP_SUFFIXES)
@pytest.mark.parametrize("direction_name", sorted(DIRECTIONS))
def test_round_trip_keeps_voxels_dtype_and_geometry(tmp_path, suffix, direction_name):
    matrix = make_matrix(DIRECTIONS[direction_name])
    volume = Volume(random_voxels((5, 6, 7), np.float32), matrix, name="case")
    path = tmp_path / f"case{suffix}"

    write_volume(volume, str(path))
    back = read_volume(str(path))

    assert back.voxels.dtype == np.float32
    assert back.shape == (5, 6, 7)
    np.testing.assert_array_equal(back.voxels, volume.voxels)
    atol = NIFTI_ATOL if suffix.startswith(".nii") else EXACT_ATOL
    np.testing.assert_allclose(back.ijk_to_ras, matrix, rtol=0, atol=atol)
    np.testing.assert_allclose(back.spacing, SPACING, rtol=0, atol=atol)
    assert np.sign(np.linalg.det(back.ijk_to_ras[:3, :3])) == np.sign(np.linalg.det(matrix[:3, :3]))
    assert back.name == "case"
    assert entries(tmp_path) == [f"case{suffix}"]  # no temporary left behind


@pytest.mark.parametrize("suffix", ROUND_TRIP_SUFFIXES + (".nii",))
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64])
def test_round_trip_keeps_each_dtype(tmp_path, suffix, dtype):
    matrix = make_matrix(DIRECTIONS["oblique"])
    volume = Volume(random_voxels((4, 5, 6), dtype, seed=3), matrix)
    path = tmp_path / f"typed{suffix}"

    write_volume(volume, path)  # a pathlib.Path works as well as a str
    back = read_volume(path)

    assert back.voxels.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.voxels, volume.voxels)
    atol = NIFTI_ATOL if suffix.startswith(".nii") else EXACT_ATOL
    np.testing.assert_allclose(back.ijk_to_ras, matrix, rtol=0, atol=atol)


@pytest.mark.parametrize("suffix", ROUND_TRIP_SUFFIXES)
def test_uncompressed_write_round_trips(tmp_path, suffix):
    volume = Volume(random_voxels((3, 4, 5), np.int16), make_matrix(DIRECTIONS["flip"]))
    path = tmp_path / f"plain{suffix}"
    write_volume(volume, str(path), compress=False)
    back = read_volume(str(path))
    np.testing.assert_array_equal(back.voxels, volume.voxels)
    atol = NIFTI_ATOL if suffix.startswith(".nii") else EXACT_ATOL
    np.testing.assert_allclose(back.ijk_to_ras, volume.ijk_to_ras, rtol=0, atol=atol)


@pytest.mark.parametrize("suffix, data_file", [(".mhd", "detached.zraw"), (".nhdr", "detached.raw.gz")])
def test_detached_header_formats_name_their_data_file_properly(tmp_path, suffix, data_file):
    """A header + data pair must reference a data file under its own name, not a temporary."""
    volume = Volume(random_voxels((3, 4, 5)), make_matrix(DIRECTIONS["oblique"]))
    out = tmp_path / "out"
    out.mkdir()
    write_volume(volume, str(out / f"detached{suffix}"))

    assert entries(out) == sorted([f"detached{suffix}", data_file])
    header = (out / f"detached{suffix}").read_bytes()
    assert data_file.encode() in header and b".partial" not in header
    # The pair still reads after being moved elsewhere together.
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in entries(out):
        os.replace(out / name, moved / name)
    back = read_volume(str(moved / f"detached{suffix}"))
    np.testing.assert_array_equal(back.voxels, volume.voxels)
    np.testing.assert_allclose(back.ijk_to_ras, volume.ijk_to_ras, rtol=0, atol=EXACT_ATOL)


def test_write_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "again.nrrd"
    first = Volume(random_voxels(seed=1), make_matrix())
    second = Volume(random_voxels(seed=2), make_matrix(DIRECTIONS["oblique"]))
    write_volume(first, str(path))
    write_volume(second, str(path))
    back = read_volume(str(path))
    np.testing.assert_array_equal(back.voxels, second.voxels)
    np.testing.assert_allclose(back.ijk_to_ras, second.ijk_to_ras, rtol=0, atol=EXACT_ATOL)
    assert entries(tmp_path) == ["again.nrrd"]


def test_bool_and_half_float_voxels_are_written_as_supported_types(tmp_path):
    mask = random_voxels(seed=4) > 0
    write_volume(Volume(mask, make_matrix()), str(tmp_path / "mask.nrrd"))
    back = read_volume(str(tmp_path / "mask.nrrd"))
    assert back.voxels.dtype == np.uint8
    np.testing.assert_array_equal(back.voxels, mask.astype(np.uint8))

    half = random_voxels(seed=5).astype(np.float16)
    write_volume(Volume(half, make_matrix()), str(tmp_path / "half.nii.gz"))
    back = read_volume(str(tmp_path / "half.nii.gz"))
    assert back.voxels.dtype == np.float32
    np.testing.assert_array_equal(back.voxels, half.astype(np.float32))


# --------------------------------------------------------------------------- geometry


def test_known_voxel_position_matches_simpleitk_physical_point(tmp_path):
    direction_lps = rotation(0.2, 0.35, -0.6)
    spacing = (0.7, 0.9, 3.0)
    origin_lps = (12.0, -7.5, 40.25)
    array = random_voxels((4, 5, 6), np.int16, seed=7)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin_lps)
    image.SetDirection(direction_lps.flatten().tolist())
    path = tmp_path / "geometry.nrrd"
    sitk.WriteImage(image, str(path))

    volume = read_volume(str(path))

    for index in [(0, 0, 0), (3, 1, 2), (5, 4, 3)]:
        i, j, k = index
        ras = volume.ijk_to_ras @ np.array([i, j, k, 1.0])
        lps = np.array(image.TransformIndexToPhysicalPoint(index))
        np.testing.assert_allclose(ras[:3], [-lps[0], -lps[1], lps[2]], rtol=0, atol=1e-9)
        np.testing.assert_allclose((volume.ijk_to_lps @ np.array([i, j, k, 1.0]))[:3], lps, rtol=0, atol=1e-9)
        # Voxels are (k, j, i): the same voxel SimpleITK indexes as (i, j, k).
        assert volume.voxels[k, j, i] == image.GetPixel(index)
    # By hand: origin flips x and y; the first column is spacing_i times the i direction.
    np.testing.assert_allclose(volume.ijk_to_ras[:3, 3], [-12.0, 7.5, 40.25], atol=1e-12)
    np.testing.assert_allclose(volume.ijk_to_ras[:3, 0], np.array([-1, -1, 1]) * direction_lps[:, 0] * 0.7, atol=1e-12)
    np.testing.assert_allclose(volume.spacing, spacing, atol=1e-12)


def test_itk_geometry_conversions_are_inverse():
    matrix = make_matrix(DIRECTIONS["oblique_flip"])
    origin, spacing, direction = itk_geometry_from_ijk_to_ras(matrix)
    np.testing.assert_allclose(origin, [-ORIGIN_RAS[0], -ORIGIN_RAS[1], ORIGIN_RAS[2]], atol=1e-12)
    np.testing.assert_allclose(spacing, SPACING, atol=1e-12)
    direction_matrix = np.asarray(direction).reshape(3, 3)
    np.testing.assert_allclose(direction_matrix.T @ direction_matrix, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(ijk_to_ras_from_itk(origin, spacing, direction), matrix, atol=1e-12)
    np.testing.assert_allclose(LPS_TO_RAS @ LPS_TO_RAS, np.eye(4))
    image = to_sitk_image(Volume(random_voxels(), matrix))
    np.testing.assert_allclose(image.GetOrigin(), origin, atol=1e-12)
    np.testing.assert_allclose(image.GetSpacing(), spacing, atol=1e-12)
    assert image.GetSize() == (7, 6, 5)


def test_zero_length_axis_is_rejected():
    matrix = make_matrix()
    matrix[:3, 1] = 0.0
    with pytest.raises(VolumeError, match="zero-length axis"):
        itk_geometry_from_ijk_to_ras(matrix)


@pytest.mark.parametrize("direction_name", sorted(DIRECTIONS))
def test_spacing_is_the_column_norms(direction_name):
    volume = Volume(random_voxels(), make_matrix(DIRECTIONS[direction_name], spacing=(0.5, 1.25, 4.0)))
    np.testing.assert_allclose(volume.spacing, (0.5, 1.25, 4.0), atol=1e-12)
    assert isinstance(volume.spacing, tuple) and all(isinstance(v, float) for v in volume.spacing)
    assert volume.shape == (5, 6, 7)


def test_slice_positions_axial():
    volume = Volume(random_voxels((4, 5, 6)), make_matrix(spacing=(0.7, 0.9, 3.0), origin=(1.0, 2.0, 12.5)))
    np.testing.assert_allclose(volume.slice_positions_mm(), [12.5, 15.5, 18.5, 21.5], atol=1e-12)


def test_slice_positions_with_reversed_slice_axis():
    # k runs towards inferior: the normal is -S, so positions are measured along -S.
    volume = Volume(random_voxels((3, 5, 6)), make_matrix(np.diag([1.0, 1.0, -1.0]), spacing=(1, 1, 2.0), origin=(0, 0, 10.0)))
    np.testing.assert_allclose(volume.slice_positions_mm(), [-10.0, -8.0, -6.0], atol=1e-12)


def test_slice_positions_oblique_by_hand():
    matrix = make_matrix(DIRECTIONS["oblique"])
    volume = Volume(random_voxels((5, 6, 7)), matrix)
    normal = matrix[:3, 2] / np.linalg.norm(matrix[:3, 2])
    expected = [float((matrix @ np.array([0, 0, k, 1.0]))[:3] @ normal) for k in range(5)]
    positions = volume.slice_positions_mm()
    np.testing.assert_allclose(positions, expected, atol=1e-9)
    np.testing.assert_allclose(np.diff(positions), SPACING[2], atol=1e-9)


def test_with_voxels_keeps_grid_and_rejects_other_shapes():
    volume = Volume(random_voxels(), make_matrix(DIRECTIONS["oblique"]), name="flair", modality="MR")
    other = volume.with_voxels(np.zeros((5, 6, 7), np.float32), name="flair_anomaly")
    assert other.name == "flair_anomaly" and other.modality == "MR"
    np.testing.assert_array_equal(other.ijk_to_ras, volume.ijk_to_ras)
    assert other.ijk_to_ras is not volume.ijk_to_ras
    assert volume.with_voxels(np.ones((5, 6, 7))).name == "flair"
    with pytest.raises(VolumeError, match="flair"):
        volume.with_voxels(np.zeros((7, 6, 5)))


@pytest.mark.parametrize(
    "path, name",
    [
        ("a/b_flair.nii.gz", "b_flair"),
        ("scan.NRRD", "scan"),
        ("x.mha", "x"),
        ("dir/photo.jpeg", "photo"),
        ("dicom/series_7/", "series_7"),
        ("noext", "noext"),
    ],
)
def test_volume_name(path, name):
    assert volume_name(path) == name


# --------------------------------------------------------------------------- 2D images


def test_grayscale_png_loads_as_one_slice(tmp_path):
    grey = np.random.default_rng(31).integers(0, 256, size=(9, 13)).astype(np.uint8)
    grey[0, 0], grey[-1, -1] = 0, 255
    path = tmp_path / "photo.png"
    sitk.WriteImage(sitk.GetImageFromArray(grey), str(path))

    volume = read_volume(str(path))

    assert volume.shape == (1, 9, 13)
    assert volume.voxels.dtype == np.uint8
    np.testing.assert_array_equal(volume.voxels[0], grey)
    assert volume.name == "photo"
    assert volume.spacing == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(volume.ijk_to_ras, np.diag([-1.0, -1.0, 1.0, 1.0]))


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_png_is_converted_to_grey_by_luminance(tmp_path, channels):
    rgb = np.random.default_rng(32).integers(0, 256, size=(8, 11, channels)).astype(np.uint8)
    path = tmp_path / "colour.png"
    sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(path))

    volume = read_volume(str(path))

    assert volume.shape == (1, 8, 11)
    assert volume.voxels.dtype == np.float32
    rgbf = rgb.astype(np.float64)
    expected = 0.299 * rgbf[..., 0] + 0.587 * rgbf[..., 1] + 0.114 * rgbf[..., 2]
    np.testing.assert_allclose(volume.voxels[0], expected, rtol=0, atol=1e-3)
    assert volume.spacing == (1.0, 1.0, 1.0)


# --------------------------------------------------------------------------- write failures


def test_write_to_missing_folder_raises_and_leaves_nothing(tmp_path):
    target = tmp_path / "missing" / "out.nii.gz"
    with pytest.raises(OutputError) as error:
        write_volume(Volume(random_voxels(), make_matrix()), str(target))
    assert str(tmp_path / "missing") in str(error.value)
    assert not (tmp_path / "missing").exists()
    assert entries(tmp_path) == []


def test_write_below_a_file_raises_and_leaves_nothing(tmp_path):
    # Works as root too (a read-only folder does not stop root): the "folder" is a file.
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(OutputError) as error:
        write_volume(Volume(random_voxels(), make_matrix()), str(blocker / "out.nii.gz"))
    assert "not_a_folder" in str(error.value)
    assert entries(tmp_path) == ["not_a_folder"]


def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "picture.png"
    grey = np.arange(20, dtype=np.uint8).reshape(1, 4, 5)
    write_volume(Volume(grey, np.eye(4)), str(target))
    before = snapshot([target])

    # PNG cannot hold float voxels: the writer fails part-way.
    with pytest.raises(OutputError) as error:
        write_volume(Volume(random_voxels((1, 4, 5)), np.eye(4)), str(target))
    assert "picture.png" in str(error.value)
    assert entries(tmp_path) == ["picture.png"]
    assert snapshot([target]) == before


def test_write_onto_a_folder_raises_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "taken.nrrd"
    target.mkdir()
    with pytest.raises(OutputError) as error:
        write_volume(Volume(random_voxels(), make_matrix()), str(target))
    assert "taken.nrrd" in str(error.value)
    assert entries(tmp_path) == ["taken.nrrd"] and target.is_dir() and entries(target) == []


def test_write_with_singular_geometry_raises_and_leaves_nothing(tmp_path):
    matrix = make_matrix()
    matrix[:3, 2] = 0.0
    with pytest.raises(AnomalyDetectError):
        write_volume(Volume(random_voxels(), matrix), str(tmp_path / "flat.nrrd"))
    assert entries(tmp_path) == []


# --------------------------------------------------------------------------- reading is read-only


@pytest.mark.parametrize("suffix", ROUND_TRIP_SUFFIXES + (".nii", ".mhd"))
def test_reading_never_modifies_the_input_file(tmp_path, suffix):
    path = tmp_path / f"input{suffix}"
    write_volume(Volume(random_voxels(seed=51), make_matrix(DIRECTIONS["oblique"])), str(path))
    files = [tmp_path / name for name in entries(tmp_path)]
    before = snapshot(files)
    read_volume(str(path))
    read_volume(str(path))
    assert snapshot(files) == before
    assert entries(tmp_path) == sorted(p.name for p in files)
