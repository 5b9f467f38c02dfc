"""Reading and writing image volumes with their geometry.

A :class:`Volume` holds voxels in Slicer's array order ``(k, j, i)`` (slice, row,
column) together with the 4×4 homogeneous matrix that maps a voxel index
``(i, j, k, 1)`` to patient RAS millimetres. That is exactly what
``slicer.util.arrayFromVolume`` and ``vtkMRMLScalarVolumeNode.GetIJKToRASMatrix``
give, so the Slicer module converts nodes to volumes without resampling.

SimpleITK (like DICOM and ITK) works in LPS; this module converts at the boundary
and nowhere else. Readers accept NIfTI, NRRD, MetaImage, other single-file formats
SimpleITK knows, DICOM series folders, and 2D images (PNG, JPEG, TIFF, BMP), which
load as one-slice volumes with 1 mm spacing.

Example::

    from AnomalyDetectLib.volume import read_volume, write_volume
    volume = read_volume("patient_flair.nii.gz")
    volume.voxels.shape        # (slices, rows, columns)
    volume.spacing             # (i, j, k) spacing in mm
    write_volume(volume.with_voxels(result), "result.nii.gz")
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np

from .errors import OutputError, VolumeError

logger = logging.getLogger(__name__)

#: Flips the first two axes: LPS <-> RAS (its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm") + IMAGE_2D_SUFFIXES


@dataclass(frozen=True)
class Volume:
    """Voxels in ``(k, j, i)`` order and the ``ijk_to_ras`` 4×4 matrix (mm).

    ``name`` is used to name outputs (``<name>_anomaly.nii.gz``); ``modality`` is a
    hint ("CT", "MR" or "") read from DICOM tags where available.
    """

    voxels: np.ndarray
    ijk_to_ras: np.ndarray = field(default_factory=lambda: np.eye(4))
    name: str = "volume"
    modality: str = ""

    @property
    def shape(self) -> Tuple[int, int, int]:
        return tuple(self.voxels.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> Tuple[float, float, float]:
        """Voxel size along i, j, k in mm (column norms of the matrix)."""
        return tuple(float(v) for v in np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0))  # type: ignore[return-value]

    @property
    def ijk_to_lps(self) -> np.ndarray:
        return LPS_TO_RAS @ self.ijk_to_ras

    def with_voxels(self, voxels: np.ndarray, name: Optional[str] = None) -> Volume:
        """A volume on the same grid holding other voxels (same ``(k, j, i)`` shape)."""
        if tuple(voxels.shape) != self.shape:
            raise VolumeError(f"Voxel array of shape {voxels.shape} does not fit the grid {self.shape} of '{self.name}'.")
        return Volume(voxels, self.ijk_to_ras.copy(), name or self.name, self.modality)

    def slice_positions_mm(self) -> np.ndarray:
        """Signed position (mm) of each k slice's centre along the slice normal."""
        normal = self.ijk_to_ras[:3, 2]
        norm = np.linalg.norm(normal)
        k = np.arange(self.shape[0], dtype=float)
        origin = self.ijk_to_ras[:3, 3]
        direction = normal / norm if norm > 0 else normal
        return (origin @ direction) + k * norm


def ijk_to_ras_from_itk(origin, spacing, direction) -> np.ndarray:
    """The IJK→RAS matrix of an ITK image (origin, spacing, direction are LPS)."""
    dim = len(origin)
    matrix_lps = np.eye(4)
    d = np.asarray(direction, dtype=float).reshape(dim, dim)
    matrix_lps[:dim, :dim] = d @ np.diag(np.asarray(spacing, dtype=float))
    matrix_lps[:dim, 3] = origin
    return LPS_TO_RAS @ matrix_lps


def itk_geometry_from_ijk_to_ras(ijk_to_ras: np.ndarray):
    """Origin, spacing and direction (LPS, flattened row-major 3×3) for SimpleITK."""
    matrix_lps = LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=float)
    columns = matrix_lps[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    if np.any(spacing <= 0):
        raise VolumeError(f"IJK→RAS matrix has a zero-length axis (spacing {spacing.tolist()}).")
    direction = columns / spacing
    return matrix_lps[:3, 3].tolist(), spacing.tolist(), direction.flatten().tolist()


def volume_name(path: str) -> str:
    """File name without folder and without imaging suffixes (``a/b_flair.nii.gz`` → ``b_flair``)."""
    base = os.path.basename(os.path.normpath(path))
    lower = base.lower()
    for suffix in sorted(VOLUME_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return base[: -len(suffix)]
    return base


def read_volume(path: str, series_uid: Optional[str] = None, check: bool = True) -> Volume:
    """Read a volume file, a DICOM series folder or a 2D image.

    Raises :class:`VolumeError` naming the path when the file is missing, unreadable,
    4D, multi-component (other than a colour 2D image, which is converted to grey),
    empty, or holds NaN/Inf voxels. ``check=False`` skips the value checks of
    :func:`check_volume` (for label maps, which may legitimately be constant).
    """
    import SimpleITK as sitk

    path = os.fspath(path)
    if not os.path.exists(path):
        raise VolumeError(f"Input '{path}' does not exist.")
    modality = ""
    try:
        if os.path.isdir(path):
            image, modality = _read_dicom_series(path, series_uid)
        else:
            reader = sitk.ImageFileReader()
            reader.SetFileName(path)
            reader.ReadImageInformation()
            image = reader.Execute()
            if reader.GetImageIOFromFileName(path) == "NiftiImageIO":
                _check_nifti_payload(path)
            if reader.HasMetaDataKey("0008|0060"):
                modality = reader.GetMetaData("0008|0060").strip().upper()
    except VolumeError:
        raise
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown reader error"
        raise VolumeError(f"Cannot read '{path}': not a readable image or DICOM series ({first_line}).") from None

    is_2d_image = image.GetDimension() == 2
    components = image.GetNumberOfComponentsPerPixel()
    if image.GetDimension() > 3:
        raise VolumeError(
            f"'{path}' is a {image.GetDimension()}D image (size {image.GetSize()}); only 3D volumes and 2D images are supported. "
            "Extract one time point or channel first."
        )
    if components > 1:
        if is_2d_image and components in (3, 4):
            rgb = sitk.GetArrayFromImage(image).astype(np.float32)
            voxels = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(np.float32)
            image_geometry = image
            array = voxels
        else:
            raise VolumeError(
                f"'{path}' has {components} components per voxel (a vector or colour volume); a scalar volume is required."
            )
    else:
        array = sitk.GetArrayFromImage(image)
        image_geometry = image

    if is_2d_image:
        array = array[np.newaxis]
        origin = list(image_geometry.GetOrigin()) + [0.0]
        spacing = list(image_geometry.GetSpacing()) + [1.0]
        direction2 = np.asarray(image_geometry.GetDirection(), dtype=float).reshape(2, 2)
        direction = np.eye(3)
        direction[:2, :2] = direction2
        ijk_to_ras = ijk_to_ras_from_itk(origin, spacing, direction.flatten())
    else:
        ijk_to_ras = ijk_to_ras_from_itk(image_geometry.GetOrigin(), image_geometry.GetSpacing(), image_geometry.GetDirection())

    volume = Volume(np.ascontiguousarray(array), ijk_to_ras, volume_name(path), modality)
    if check:
        check_volume(volume, source=path)
    return volume


#: NIfTI-1 datatype code -> numpy type of one stored float component (non-float types map to None).
_NIFTI_FLOAT_COMPONENTS = {16: "f4", 32: "f4", 64: "f8", 1792: "f8"}


def _check_nifti_payload(path: str) -> None:
    """Reject a single-file NIfTI-1 whose voxel data is short or holds NaN/Inf.

    ITK 5's NIfTI reader (SimpleITK 2.x) reports success on both: a short read leaves
    the rest of the volume zero, and ``nifti_read_buffer`` silently replaces every
    NaN and ±Inf by 0 (fixed only in ITK 6). Neither is visible in the image it
    returns, so the stored bytes are checked here. Other NIfTI flavours (NIfTI-2,
    ``.hdr``/``.img`` pairs) are left to ITK.
    """
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as stream:
            header = stream.read(348)
            if len(header) < 348 or header[344:348] != b"n+1\x00":
                return
            endian = "<" if np.frombuffer(header[0:4], "<i4")[0] == 348 else ">"
            dims = np.frombuffer(header[40:56], endian + "i2").astype(np.int64)
            datatype = int(np.frombuffer(header[70:72], endian + "i2")[0])
            bitpix = int(np.frombuffer(header[72:74], endian + "i2")[0])
            vox_offset = float(np.frombuffer(header[108:112], endian + "f4")[0])
            if not 1 <= dims[0] <= 7 or np.any(dims[1 : dims[0] + 1] < 1) or bitpix <= 0 or bitpix % 8 or not np.isfinite(vox_offset):
                return
            expected = int(np.prod(dims[1 : dims[0] + 1])) * (bitpix // 8)
            stream.read(max(int(vox_offset), 352) - 348)
            component = _NIFTI_FLOAT_COMPONENTS.get(datatype)
            item = np.dtype(endian + component) if component else None
            received = 0
            non_finite = 0
            cut_off = False
            pending = b""
            while received < expected:
                try:
                    chunk = stream.read(min(1 << 20, expected - received))
                except EOFError:  # the gzip stream ends before its end marker
                    cut_off = True
                    break
                if not chunk:
                    break
                received += len(chunk)
                if item is not None:
                    pending += chunk
                    usable = len(pending) - len(pending) % item.itemsize
                    values = np.frombuffer(pending[:usable], item)
                    non_finite += int(np.count_nonzero(~np.isfinite(values)))
                    pending = pending[usable:]
    except (OSError, EOFError, zlib.error) as error:
        raise VolumeError(f"Cannot read '{path}': its NIfTI data is damaged ({error}).") from None
    if cut_off:
        raise VolumeError(f"'{path}' is truncated: its compressed data ends before the {expected} bytes of voxel data in its header.")
    if received < expected:
        raise VolumeError(
            f"'{path}' is truncated: its header describes {expected} bytes of voxel data but the file holds only {received}."
        )
    if non_finite:
        raise VolumeError(f"'{path}' contains {non_finite} NaN or infinite voxels; fix or mask them first.")


def _read_dicom_series(folder: str, series_uid: Optional[str]):
    import SimpleITK as sitk

    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
    if not series_ids:
        raise VolumeError(f"No DICOM series found in folder '{folder}'.")
    if series_uid is not None:
        if series_uid not in series_ids:
            raise VolumeError(f"DICOM series '{series_uid}' is not in '{folder}' (found: {', '.join(series_ids)}).")
        chosen = series_uid
    else:
        counts = {uid: len(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid)) for uid in series_ids}
        chosen = max(counts, key=counts.get)
        if len(series_ids) > 1:
            logger.warning(
                "'%s' holds %d DICOM series; reading the largest (%s, %d files).", folder, len(series_ids), chosen, counts[chosen]
            )
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, chosen)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    image = reader.Execute()
    modality = ""
    if reader.HasMetaDataKey(0, "0008|0060"):
        modality = reader.GetMetaData(0, "0008|0060").strip().upper()
    return image, modality


def check_volume(volume: Volume, source: str = "") -> None:
    """Raise :class:`VolumeError` if the volume cannot be analysed.

    Rejects non-3D arrays, empty arrays, non-numeric types, NaN/Inf voxels, constant
    volumes (nothing to normalise) and singular geometry.
    """
    label = source or volume.name
    voxels = volume.voxels
    if voxels.ndim != 3:
        raise VolumeError(f"'{label}' has {voxels.ndim} array dimensions; a (k, j, i) volume is required.")
    if voxels.size == 0:
        raise VolumeError(f"'{label}' is empty (shape {voxels.shape}).")
    if not (np.issubdtype(voxels.dtype, np.number) or voxels.dtype == bool) or np.iscomplexobj(voxels):
        raise VolumeError(f"'{label}' has voxel type {voxels.dtype}; a real scalar type is required.")
    if np.issubdtype(voxels.dtype, np.floating):
        bad = ~np.isfinite(voxels)
        if bad.any():
            raise VolumeError(f"'{label}' contains {int(bad.sum())} NaN or infinite voxels; fix or mask them first.")
    if voxels.min() == voxels.max():
        raise VolumeError(f"'{label}' is constant (every voxel is {voxels.flat[0]}); there is nothing to analyse.")
    matrix = np.asarray(volume.ijk_to_ras, dtype=float)
    if matrix.shape != (4, 4) or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise VolumeError(f"'{label}' has an invalid IJK→RAS matrix: {matrix.tolist()}.")


def to_sitk_image(volume: Volume, voxels: Optional[np.ndarray] = None):
    """A SimpleITK image of ``voxels`` (default: the volume's own) on the volume's geometry."""
    import SimpleITK as sitk

    array = np.asarray(volume.voxels if voxels is None else voxels)
    # SimpleITK has no bool or half-float pixel types (GetImageFromArray raises TypeError).
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating) and array.dtype.itemsize not in (4, 8):
        array = array.astype(np.float32 if array.dtype.itemsize < 4 else np.float64)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    origin, spacing, direction = itk_geometry_from_ijk_to_ras(volume.ijk_to_ras)
    image.SetOrigin(origin)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    return image


def write_volume(volume: Volume, path: str, compress: bool = True) -> None:
    """Write ``volume`` with its exact geometry. The file appears whole or not at all."""
    import SimpleITK as sitk

    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"Output folder '{folder}' does not exist.")
    name = os.path.basename(path)
    # Write into a private folder beside the target under the real file name, then move
    # the result into place. A header-plus-data format (.mhd/.nhdr) names its data file
    # after the file written, so writing "name" (not a renamed temporary) keeps that
    # reference right; the data file is moved first and the named file last.
    staging = None
    try:
        staging = tempfile.mkdtemp(prefix=".partial-", dir=folder)
        sitk.WriteImage(to_sitk_image(volume), os.path.join(staging, name), compress)
        written = sorted(os.listdir(staging), key=lambda entry: entry == name)
        if name not in written:
            raise OSError(f"the writer produced no '{name}'")
        for entry in written:
            os.replace(os.path.join(staging, entry), os.path.join(folder, entry))
    except (RuntimeError, OSError, TypeError) as error:
        text = str(error).strip()
        raise OutputError(f"Cannot write '{path}': {text.splitlines()[-1] if text else type(error).__name__}") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
