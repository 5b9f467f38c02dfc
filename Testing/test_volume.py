"""Tests of AnomalyDetectLib.volume: reading, writing and geometry of volumes.

All data is synthetic and made in ``tmp_path``. Run with::

    cd /work/main && PYTHONPATH=AnomalyDetect python -m pytest Testing/test_volume.py -q
"""

from __future__ import annotations

import logging
import os
import struct

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from AnomalyDetectLib.errors import AnomalyDetectError, OutputError, VolumeError  # noqa: E402
from AnomalyDetectLib.volume import (  # noqa: E402
    LPS_TO_RAS,
    Volume,
    check_volume,
    ijk_to_ras_from_itk,
    itk_geometry_from_ijk_to_ras,
    read_volume,
    to_sitk_image,
    volume_name,
    write_volume,
)

SPACING = (0.7, 0.9, 3.0)
ORIGIN_RAS = (-101.3, 47.25, 12.5)
# NIfTI keeps the sform/qform in float32; SimpleITK brings the geometry back to ~3e-6 mm here.
NIFTI_ATOL = 1e-5
EXACT_ATOL = 1e-12
ROUND_TRIP_SUFFIXES = (".nii.gz", ".nrrd", ".mha")

STUDY_UID = "1.2.826.0.1.3680043.2.1125.1.42"
SERIES_A = "1.2.826.0.1.3680043.2.1125.1.42.1"
SERIES_B = "1.2.826.0.1.3680043.2.1125.1.42.2"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


# --------------------------------------------------------------------------- helpers


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


def write_dicom_series(
    folder,
    voxels,
    *,
    spacing=(0.7, 0.9, 2.5),
    origin_lps=(10.5, -20.25, 30.0),
    direction_lps=None,
    series_uid=SERIES_A,
    prefix="slice",
    modality="CT",
    slice_thickness="3.0",
    rescale=None,
):
    """Write ``voxels`` (k, j, i; int16) as one DICOM file per slice, like SimpleITK's
    "Dicom Series From Array" example. Slice spacing comes from ImagePositionPatient."""
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    image = sitk.GetImageFromArray(voxels)
    image.SetSpacing(spacing)
    image.SetOrigin(origin_lps)
    if direction_lps is not None:
        image.SetDirection(np.asarray(direction_lps, dtype=float).flatten().tolist())
    d = image.GetDirection()
    orientation = "\\".join(str(v) for v in (d[0], d[3], d[6], d[1], d[4], d[7]))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(voxels.shape[0]):
        image_slice = image[:, :, k]
        tags = {
            "0008|0060": modality,
            "0008|0016": CT_IMAGE_STORAGE,
            "0008|0018": f"{series_uid}.{k + 1}",
            "0020|000d": STUDY_UID,
            "0020|000e": series_uid,
            "0020|0037": orientation,
            "0020|0032": "\\".join(str(v) for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
            "0020|0013": str(k + 1),
            "0018|0050": slice_thickness,
            "0008|103e": "synthetic test series",
        }
        if rescale is not None:
            tags["0028|1053"], tags["0028|1052"] = (str(v) for v in rescale)
        for tag, value in tags.items():
            image_slice.SetMetaData(tag, value)
        writer.SetFileName(os.path.join(folder, f"{prefix}{k:03d}.dcm"))
        writer.Execute(image_slice)
    return image


def write_nifti_by_hand(path, data: np.ndarray, endian: str = ">") -> None:
    """A minimal single-file NIfTI-1 (float32, identity-like geometry) written byte by byte."""
    k, j, i = data.shape
    header = bytearray(352)
    struct.pack_into(endian + "i", header, 0, 348)
    struct.pack_into(endian + "8h", header, 40, 3, i, j, k, 1, 1, 1, 1)
    struct.pack_into(endian + "hh", header, 70, 16, 32)  # datatype FLOAT32, bitpix
    struct.pack_into(endian + "8f", header, 76, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    struct.pack_into(endian + "f", header, 108, 352.0)  # vox_offset
    struct.pack_into(endian + "f", header, 112, 1.0)  # scl_slope
    struct.pack_into("B", header, 123, 2)  # xyzt_units: mm
    struct.pack_into(endian + "h", header, 254, 1)  # sform_code
    struct.pack_into(endian + "4f", header, 280, 1.0, 0.0, 0.0, 0.0)
    struct.pack_into(endian + "4f", header, 296, 0.0, 1.0, 0.0, 0.0)
    struct.pack_into(endian + "4f", header, 312, 0.0, 0.0, 1.0, 0.0)
    header[344:348] = b"n+1\x00"
    with open(path, "wb") as handle:
        handle.write(bytes(header))
        handle.write(np.ascontiguousarray(data, dtype=endian + "f4").tobytes())


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


# --------------------------------------------------------------------------- DICOM


def test_dicom_series_reads_voxels_modality_and_geometry(tmp_path):
    folder = tmp_path / "ct_series"
    array = random_voxels((4, 5, 6), np.int16, seed=11)
    direction_lps = rotation(0.0, 0.0, 0.3)  # in-plane rotation: an oblique axial series
    image = write_dicom_series(folder, array, spacing=(0.7, 0.9, 2.5), origin_lps=(10.5, -20.25, 30.0), direction_lps=direction_lps)

    volume = read_volume(str(folder))

    assert volume.modality == "CT"
    assert volume.name == "ct_series"
    assert volume.shape == (4, 5, 6)
    np.testing.assert_array_equal(volume.voxels.astype(np.int64), array.astype(np.int64))
    # Slice spacing comes from ImagePositionPatient (2.5 mm), not SliceThickness (3.0 mm).
    np.testing.assert_allclose(volume.spacing, (0.7, 0.9, 2.5), atol=1e-6)
    expected = LPS_TO_RAS @ make_matrix(direction_lps, spacing=(0.7, 0.9, 2.5), origin=(10.5, -20.25, 30.0))
    np.testing.assert_allclose(volume.ijk_to_ras, expected, atol=1e-6)
    np.testing.assert_allclose(volume.ijk_to_ras[:3, 3], [-10.5, 20.25, 30.0], atol=1e-6)
    corner = np.array(image.TransformIndexToPhysicalPoint((5, 4, 3)))
    np.testing.assert_allclose((volume.ijk_to_ras @ [5, 4, 3, 1.0])[:3], corner * [-1, -1, 1], atol=1e-6)
    np.testing.assert_allclose(volume.slice_positions_mm(), 30.0 + 2.5 * np.arange(4), atol=1e-6)


def test_dicom_series_applies_rescale(tmp_path):
    folder = tmp_path / "rescaled"
    hounsfield = random_voxels((3, 4, 5), np.int16, seed=12)
    hounsfield[0, 0, 0] = -1000
    write_dicom_series(folder, hounsfield, rescale=(1, -1024))
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(folder / "slice000.dcm"))
    reader.ReadImageInformation()
    assert float(reader.GetMetaData("0028|1052")) == -1024.0

    volume = read_volume(str(folder))

    np.testing.assert_array_equal(volume.voxels.astype(np.int64), hounsfield.astype(np.int64))
    assert volume.modality == "CT"


def test_single_dicom_file_reads_as_one_slice(tmp_path):
    folder = tmp_path / "series"
    array = random_voxels((3, 4, 5), np.int16, seed=13)
    write_dicom_series(folder, array)
    volume = read_volume(str(folder / "slice001.dcm"))
    assert volume.shape == (1, 4, 5)
    assert volume.modality == "CT"
    np.testing.assert_array_equal(volume.voxels[0], array[1])
    np.testing.assert_allclose(volume.ijk_to_ras[:3, 3], [-10.5, 20.25, 32.5], atol=1e-6)


def test_folder_with_two_series_reads_the_largest_and_warns(tmp_path, caplog):
    folder = tmp_path / "two"
    big = random_voxels((5, 4, 6), np.int16, seed=21)
    small = random_voxels((3, 4, 6), np.int16, seed=22)
    write_dicom_series(folder, big, series_uid=SERIES_A, prefix="a")
    write_dicom_series(folder, small, series_uid=SERIES_B, prefix="b", origin_lps=(0.0, 0.0, -50.0), modality="CT")

    with caplog.at_level(logging.WARNING, logger="AnomalyDetectLib.volume"):
        volume = read_volume(str(folder))
    assert volume.shape == (5, 4, 6)
    np.testing.assert_array_equal(volume.voxels.astype(np.int64), big.astype(np.int64))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "AnomalyDetectLib.volume"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "2 DICOM series" in message and SERIES_A in message and str(folder) in message

    chosen = read_volume(str(folder), series_uid=SERIES_B)
    assert chosen.shape == (3, 4, 6)
    np.testing.assert_array_equal(chosen.voxels.astype(np.int64), small.astype(np.int64))
    np.testing.assert_allclose(chosen.ijk_to_ras[:3, 3], [0.0, 0.0, -50.0], atol=1e-6)

    with pytest.raises(VolumeError) as error:
        read_volume(str(folder), series_uid="1.2.3.4.5.999")
    assert "1.2.3.4.5.999" in str(error.value) and str(folder) in str(error.value)
    assert SERIES_A in str(error.value) and SERIES_B in str(error.value)


def test_single_series_does_not_warn(tmp_path, caplog):
    folder = tmp_path / "one"
    write_dicom_series(folder, random_voxels((3, 4, 5), np.int16))
    with caplog.at_level(logging.WARNING, logger="AnomalyDetectLib.volume"):
        read_volume(str(folder))
    assert not [r for r in caplog.records if r.name == "AnomalyDetectLib.volume"]


def test_empty_folder_raises(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(VolumeError, match="No DICOM series") as error:
        read_volume(str(folder))
    assert str(folder) in str(error.value)


def test_folder_without_dicom_raises(tmp_path):
    folder = tmp_path / "not_dicom"
    folder.mkdir()
    write_volume(Volume(random_voxels(), make_matrix()), str(folder / "volume.nrrd"))
    (folder / "notes.txt").write_text("not an image")
    with pytest.raises(VolumeError) as error:
        read_volume(str(folder))
    assert str(folder) in str(error.value)


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


# --------------------------------------------------------------------------- bad input


def assert_names(error: pytest.ExceptionInfo, path) -> None:
    assert str(path) in str(error.value), f"message does not name {path}: {error.value}"


def test_missing_path_raises(tmp_path):
    path = tmp_path / "nowhere" / "missing.nii.gz"
    with pytest.raises(VolumeError, match="does not exist") as error:
        read_volume(str(path))
    assert_names(error, path)


def test_random_bytes_raise(tmp_path):
    path = tmp_path / "noise.nii.gz"
    path.write_bytes(np.random.default_rng(41).bytes(4096))
    with pytest.raises(VolumeError, match="Cannot read") as error:
        read_volume(str(path))
    assert_names(error, path)


@pytest.mark.parametrize("suffix, compress", [(".nii.gz", True), (".nii", False), (".nrrd", True), (".mha", True), (".mha", False)])
def test_truncated_file_raises(tmp_path, suffix, compress):
    full = tmp_path / f"full{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(random_voxels((20, 30, 40), seed=42)), str(full), compress)
    data = full.read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VolumeError) as error:
        read_volume(str(path))
    assert_names(error, path)


def test_nifti_cut_just_short_raises(tmp_path):
    full = tmp_path / "full.nii"
    sitk.WriteImage(sitk.GetImageFromArray(random_voxels((4, 5, 6), np.int16, seed=43)), str(full), False)
    path = tmp_path / "short.nii"
    path.write_bytes(full.read_bytes()[:-1])
    with pytest.raises(VolumeError, match="truncated") as error:
        read_volume(str(path))
    assert_names(error, path)


def test_4d_nifti_raises(tmp_path):
    path = tmp_path / "timeseries.nii.gz"
    image = sitk.GetImageFromArray(random_voxels((2, 3, 4, 5), seed=44), isVector=False)
    assert image.GetDimension() == 4
    sitk.WriteImage(image, str(path))
    with pytest.raises(VolumeError, match="4D") as error:
        read_volume(str(path))
    assert_names(error, path)


@pytest.mark.parametrize("suffix", ROUND_TRIP_SUFFIXES)
def test_vector_volume_raises(tmp_path, suffix):
    path = tmp_path / f"field{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(random_voxels((3, 4, 5, 3), seed=45), isVector=True), str(path))
    with pytest.raises(VolumeError, match="3 components") as error:
        read_volume(str(path))
    assert_names(error, path)


def test_constant_volume_raises(tmp_path):
    path = tmp_path / "flat.nii.gz"
    write_volume(Volume(np.full((3, 4, 5), 7, np.int16), make_matrix()), str(path))
    with pytest.raises(VolumeError, match="constant") as error:
        read_volume(str(path))
    assert_names(error, path)


@pytest.mark.parametrize("suffix", (".nii.gz", ".nii", ".nrrd", ".mha"))
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_voxel_raises(tmp_path, suffix, bad_value, dtype):
    array = random_voxels((3, 4, 5), dtype, seed=46)
    array[1, 2, 3] = bad_value
    path = tmp_path / f"hole{suffix}"
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path), suffix != ".nii")
    with pytest.raises(VolumeError, match="NaN or infinite") as error:
        read_volume(str(path))
    assert_names(error, path)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_hand_written_nifti_is_checked_in_either_byte_order(tmp_path, endian):
    good = random_voxels((3, 4, 5), np.float32, seed=47)
    path = tmp_path / "hand.nii"
    write_nifti_by_hand(path, good, endian)
    np.testing.assert_array_equal(read_volume(str(path)).voxels, good)

    bad = good.copy()
    bad[2, 3, 4] = np.nan
    write_nifti_by_hand(path, bad, endian)
    with pytest.raises(VolumeError, match="1 NaN") as error:
        read_volume(str(path))
    assert_names(error, path)


def test_check_volume_rejects_empty_array():
    with pytest.raises(VolumeError, match="empty") as error:
        check_volume(Volume(np.zeros((0, 4, 5), np.float32)), source="scan.nii.gz")
    assert "scan.nii.gz" in str(error.value)
    with pytest.raises(VolumeError, match="'nameless'"):
        check_volume(Volume(np.zeros((3, 0, 5)), name="nameless"))


@pytest.mark.parametrize(
    "voxels, matrix, match",
    [
        (np.zeros((4, 5)), np.eye(4), "2 array dimensions"),
        (np.arange(60, dtype=np.complex64).reshape(3, 4, 5), np.eye(4), "real scalar type"),
        (np.array(list("abcdef"), dtype=object).reshape(1, 2, 3), np.eye(4), "real scalar type"),
        (np.arange(60, dtype=np.float32).reshape(3, 4, 5), np.diag([1.0, 1.0, 0.0, 1.0]), "invalid IJK"),
        (np.arange(60, dtype=np.float32).reshape(3, 4, 5), np.full((4, 4), np.nan), "invalid IJK"),
        (np.arange(60, dtype=np.float32).reshape(3, 4, 5), np.eye(3), "invalid IJK"),
    ],
)
def test_check_volume_rejects_unusable_volumes(voxels, matrix, match):
    with pytest.raises(VolumeError, match=match) as error:
        check_volume(Volume(voxels, matrix), source="input.nrrd")
    assert "input.nrrd" in str(error.value)


def test_check_volume_accepts_a_good_volume():
    check_volume(Volume(random_voxels(), make_matrix(DIRECTIONS["oblique_flip"])))
    check_volume(Volume(random_voxels() > 0, make_matrix()))


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


def test_reading_a_dicom_folder_or_png_never_modifies_it(tmp_path):
    folder = tmp_path / "series"
    write_dicom_series(folder, random_voxels((3, 4, 5), np.int16, seed=52))
    png = tmp_path / "photo.png"
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(30, dtype=np.uint8).reshape(5, 6)), str(png))
    files = [folder / name for name in entries(folder)] + [png]
    before = snapshot(files)
    read_volume(str(folder))
    read_volume(str(png))
    assert snapshot(files) == before
    assert len(entries(folder)) == 3


def test_failed_reads_never_modify_the_input_file(tmp_path):
    full = tmp_path / "full.nii.gz"
    array = random_voxels((6, 7, 8), seed=53)
    array[0, 0, 0] = np.nan
    sitk.WriteImage(sitk.GetImageFromArray(array), str(full), True)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(full.read_bytes()[:200])
    before = snapshot([full, cut])
    for path in (full, cut):
        with pytest.raises(VolumeError):
            read_volume(str(path))
    assert snapshot([full, cut]) == before
