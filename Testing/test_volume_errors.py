"""Tests of AnomalyDetectLib.volume: bad input (missing, corrupt, truncated, 4D, vector, constant,
non-finite or unusable volumes) raises VolumeError naming the file, and failed reads leave it alone.

All data is synthetic and made in ``tmp_path``. Run with::

    cd /work/main && PYTHONPATH=AnomalyDetect python -m pytest Testing/test_volume_errors.py -q
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from AnomalyDetectLib.errors import VolumeError  # noqa: E402
from AnomalyDetectLib.volume import Volume, check_volume, read_volume, write_volume  # noqa: E402
from volume_helpers import DIRECTIONS, ROUND_TRIP_SUFFIXES, make_matrix, random_voxels, snapshot  # noqa: E402

# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- reading is read-only


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
