"""Tests of AnomalyDetectLib.volume: reading DICOM series (and single DICOM files).

All data is synthetic and made in ``tmp_path``. Run with::

    cd /work/main && PYTHONPATH=AnomalyDetect python -m pytest Testing/test_volume_dicom.py -q
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")

from AnomalyDetectLib.errors import VolumeError  # noqa: E402
from AnomalyDetectLib.volume import LPS_TO_RAS, Volume, read_volume, write_volume  # noqa: E402
from volume_helpers import entries, make_matrix, random_voxels, rotation, snapshot  # noqa: E402

STUDY_UID = "1.2.826.0.1.3680043.2.1125.1.42"
SERIES_A = "1.2.826.0.1.3680043.2.1125.1.42.1"
SERIES_B = "1.2.826.0.1.3680043.2.1125.1.42.2"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- reading is read-only


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
