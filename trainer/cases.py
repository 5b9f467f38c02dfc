"""Finding the cases of a data source, with their labels, classes and patients.

A data source is one of:

* a folder of volumes (NIfTI, NRRD, MetaImage, ...), each optionally with a mask
  companion: ``<patient>_<anything>.nii.gz`` pairs with ``<patient>_mask.nii.gz``
  (or ``<name>_mask.<ext>``). A volume without a mask is taken as entirely normal.
* a folder of class sub-folders of 2D images (or volumes), image-level labels: a
  sub-folder named ``normal``, ``healthy``, ``negative``, ``good`` or ``0`` (any case)
  holds normal images; every other sub-folder is an abnormal class whose name is kept
  (``hemorrhage/``, ``tumour/``, ``abnormal/``, ``1/``). ``<name>_mask.<ext>`` beside an
  image is its pixel mask. Images named ``<patient>_<number>.<ext>`` (``p017_012.png``:
  slice 12 of patient p017) share a patient with the other images of that prefix, in
  every sub-folder; any other image is a patient of its own.
* a CSV manifest with a header and columns ``image`` (required), ``mask``,
  ``label`` (normal/abnormal or 0/1), ``patient`` and ``split`` (training/validation/test,
  for a fixed split of your own: then every row needs one); paths relative to the CSV.

Nothing is skipped silently: files and folders that are not used are listed in
:attr:`DataInventory.unused` (hidden entries, names starting with ".", excepted).
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.volume import IMAGE_2D_SUFFIXES, VOLUME_SUFFIXES, volume_name

SPLITS = ("training", "validation", "test")
#: Sub-folder names (compared in lower case) that hold normal images; any other sub-folder is an abnormal class.
NORMAL_FOLDER_NAMES = ("normal", "healthy", "negative", "good", "0")
NORMAL_CLASS = "normal"
#: ``<patient>_<number>``: the number is a slice or image index within the patient.
_PATIENT_AND_INDEX = re.compile(r"^(?P<patient>.+)_\d+$")
_LISTED_NAMES = 10


@dataclass(frozen=True)
class Case:
    """One image or volume. ``label``: 0 normal, 1 abnormal, None = per-slice labels from the mask.

    ``label_name`` is the class as the data names it ("normal", "hemorrhage", ...) or None.
    """

    image: str
    mask: Optional[str] = None
    label: Optional[int] = None
    patient: str = ""
    split: Optional[str] = None  # "training", "validation" or "test" when the data fixes the split
    label_name: Optional[str] = None


@dataclass
class DataInventory:
    """The cases of a data source and what was left out of it.

    ``layout``: "volumes", "class folders" or "manifest"; ``unused``: entries not used, as
    paths relative to the source with a reason ("notes.txt (not an image or volume)").
    """

    source: str
    layout: str
    cases: List[Case]
    unused: List[str] = field(default_factory=list)
    patients_from_file_names: bool = False

    def class_counts(self) -> Dict[str, int]:
        """Cases per class name; cases labelled by their masks count as "per-slice (masks)"."""
        counts = Counter(case.label_name or ("per-slice (masks)" if case.mask else NORMAL_CLASS) for case in self.cases)
        return dict(sorted(counts.items(), key=lambda item: (item[0] != NORMAL_CLASS, item[0])))

    def summary(self) -> List[str]:
        """Human-readable lines: what was found, by class and patient, and what was not used."""
        classes = ", ".join(f"{count} {name}" for name, count in self.class_counts().items())
        patients = len({case.patient for case in self.cases})
        grouping = " (grouped by file name <patient>_<number>)" if self.patients_from_file_names else ""
        lines = [f"Data '{self.source}' ({self.layout}): {len(self.cases)} images/volumes of {patients} patients{grouping}: {classes}"]
        if self.unused:
            listed = ", ".join(self.unused[:_LISTED_NAMES])
            more = f" and {len(self.unused) - _LISTED_NAMES} more" if len(self.unused) > _LISTED_NAMES else ""
            lines.append(f"Not used ({len(self.unused)}): {listed}{more}")
        return lines


def is_image_file(name: str) -> bool:
    """A file name the volume reader takes (volume formats and 2D images), hidden files excluded."""
    lower = os.path.basename(name).lower()
    return any(lower.endswith(suffix) for suffix in VOLUME_SUFFIXES) and not lower.startswith(".")


def is_2d_image_file(name: str) -> bool:
    return os.path.basename(name).lower().endswith(IMAGE_2D_SUFFIXES)


def discover_cases(source: str) -> List[Case]:
    """All cases of a data folder or CSV manifest (see the module docstring)."""
    return discover_data(source).cases


def discover_data(source: str) -> DataInventory:
    """The cases of a data folder or CSV manifest, with the entries left unused."""
    if os.path.isfile(source) and source.lower().endswith(".csv"):
        return DataInventory(source, "manifest", _cases_from_csv(source))
    if not os.path.isdir(source):
        raise AnomalyDetectError(f"Training data '{source}' is neither a folder nor a CSV manifest.")
    entries = [name for name in sorted(os.listdir(source)) if not name.startswith(".")]
    folders = [name for name in entries if os.path.isdir(os.path.join(source, name))]
    normal_folders = [name for name in folders if name.lower() in NORMAL_FOLDER_NAMES]
    if normal_folders:
        return _class_folders(source, entries, folders)
    if any(is_image_file(name) for name in entries if name not in folders):
        return _volume_folder(source, entries, folders)
    if folders:
        raise AnomalyDetectError(
            f"'{source}' has sub-folders {', '.join(f'{name}/' for name in folders)} but none of normal images: name the folder "
            f"of normal images {' or '.join(f'{name}/' for name in NORMAL_FOLDER_NAMES)} (any case); every other sub-folder is an abnormal class."
        )
    raise AnomalyDetectError(f"No volumes or images found in '{source}'.")


def _volume_folder(source: str, entries: Sequence[str], folders: Sequence[str]) -> DataInventory:
    files = [name for name in entries if name not in folders]
    cases, unused = [], [f"{name}/ (a folder)" for name in folders]
    for file_name in files:
        if not is_image_file(file_name):
            unused.append(f"{file_name} (not an image or volume)")
            continue
        if volume_name(file_name).endswith("_mask"):
            continue
        mask, patient = _mask_for(source, file_name, files)
        cases.append(Case(os.path.join(source, file_name), mask, None, patient))
    if not cases:
        raise AnomalyDetectError(f"No volumes or images found in '{source}' (only masks).")
    return DataInventory(source, "volumes", cases, unused)


def _mask_for(folder: str, file_name: str, files: Sequence[str]) -> Tuple[Optional[str], str]:
    stem = volume_name(file_name)
    suffix = file_name[len(stem):]
    candidates = [f"{stem}_mask{suffix}"]
    if "_" in stem:
        patient = stem.rsplit("_", 1)[0]
        candidates.append(f"{patient}_mask{suffix}")
    else:
        patient = stem
    for candidate in candidates:
        if candidate in files:
            return os.path.join(folder, candidate), patient
    return None, stem


def _class_folders(source: str, entries: Sequence[str], folders: Sequence[str]) -> DataInventory:
    unused = [f"{name} (a file beside the class folders)" for name in entries if name not in folders]
    found: List[Tuple[str, str, Optional[str], int, str]] = []  # (folder, file, mask, label, class)
    for folder in folders:
        normal = folder.lower() in NORMAL_FOLDER_NAMES
        path = os.path.join(source, folder)
        names = [name for name in sorted(os.listdir(path)) if not name.startswith(".")]
        images = 0
        for name in names:
            if os.path.isdir(os.path.join(path, name)):
                unused.append(f"{folder}/{name}/ (a folder inside a class folder)")
            elif not is_image_file(name):
                unused.append(f"{folder}/{name} (not an image or volume)")
            elif not volume_name(name).endswith("_mask"):
                mask_name = f"{volume_name(name)}_mask{name[len(volume_name(name)):]}"
                mask = os.path.join(path, mask_name) if mask_name in names else None
                found.append((folder, name, mask, 0 if normal else 1, NORMAL_CLASS if normal else folder))
                images += 1
        if normal and images == 0:
            raise AnomalyDetectError(f"The normal folder '{path}' holds no images; a model learns what normal looks like from them.")
        if images == 0:
            unused.append(f"{folder}/ (no images)")
    patients, from_names = _patients(found)
    cases = [Case(os.path.join(source, folder, name), mask, label, patient, None, class_name)
             for (folder, name, mask, label, class_name), patient in zip(found, patients)]
    return DataInventory(source, "class folders", cases, unused, from_names)


def _patients(found: Sequence[Tuple[str, str, Optional[str], int, str]]) -> Tuple[List[str], bool]:
    """Patient of each image: the ``<patient>`` of ``<patient>_<number>`` names, else ``<folder>/<name>``.

    When every image would fall into one single patient, the prefix is a naming scheme
    (``img_001.png``, ``img_002.png``), not a patient: then each image is its own patient.
    """
    own = [f"{folder}/{volume_name(name)}" for folder, name, *_ in found]
    matches = [_PATIENT_AND_INDEX.match(volume_name(name)) for _, name, *_ in found]
    grouped = [match.group("patient") if match else alone for match, alone in zip(matches, own)]
    if not any(matches) or (len(found) > 1 and len(set(grouped)) == 1):
        return own, False
    return grouped, len(set(grouped)) < len(found)


def _cases_from_csv(path: str) -> List[Case]:
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "image" not in rows[0]:
        raise AnomalyDetectError(f"CSV manifest '{path}' needs a header with an 'image' column.")
    cases = []
    for number, row in enumerate(rows, start=2):
        label_text = (row.get("label") or "").strip().lower()
        if label_text in ("", None):
            label, label_name = None, None
        elif label_text in ("0", "normal"):
            label, label_name = 0, NORMAL_CLASS
        elif label_text in ("1", "abnormal"):
            label, label_name = 1, "abnormal"
        else:
            raise AnomalyDetectError(f"'{path}' line {number}: label '{row['label']}' is not normal/abnormal/0/1.")
        split = (row.get("split") or "").strip().lower() or None
        if split is not None and split not in SPLITS:
            raise AnomalyDetectError(f"'{path}' line {number}: split '{row['split']}' is not one of {', '.join(SPLITS)}.")
        image = os.path.join(folder, row["image"])
        mask = os.path.join(folder, row["mask"]) if row.get("mask") else None
        cases.append(Case(image, mask, label, row.get("patient") or volume_name(row["image"]), split, label_name))
    return cases
