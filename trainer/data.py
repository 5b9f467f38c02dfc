"""Finding training cases, splitting them by patient, and turning them into slices.

A data source is one of:

* a folder of volumes (NIfTI, NRRD, MetaImage, ...), each optionally with a mask
  companion: ``<patient>_<anything>.nii.gz`` pairs with ``<patient>_mask.nii.gz``
  (or ``<name>_mask.<ext>``). A volume without a mask is taken as entirely normal.
* a folder with ``normal/`` and ``abnormal/`` sub-folders of 2D images (or volumes):
  every file is a case labelled by its folder (image-level labels, no masks).
* a CSV manifest with a header and columns ``image`` (required), ``mask``,
  ``label`` (normal/abnormal or 0/1), ``patient`` and ``split`` (training/validation/test,
  for a fixed split of your own: then every row needs one); paths relative to the CSV.

A slice's label is ``mask.any()`` over that slice when a mask exists, else the
case label (0 when none). Only "counted" slices (foreground fraction at least
``min_foreground_fraction``) are used.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np
from AnomalyDetectLib.errors import AnomalyDetectError, VolumeError
from AnomalyDetectLib.orientation import InPlaneOrientation
from AnomalyDetectLib.preprocess import resize_slices
from AnomalyDetectLib.scoring import relative_levels, scored_slices
from AnomalyDetectLib.volume import VOLUME_SUFFIXES, read_volume, volume_name

SPLITS = ("training", "validation", "test")


def describe_data(data: str, cases: Sequence) -> dict:
    """What a bundle records about its training data instead of where it was: no absolute path.

    ``name`` is the folder's or manifest's own name, ``files`` the number of image, mask and
    annotation files used, ``volumes`` and ``patients`` counts, and ``file_list_sha256`` the SHA-256
    of the sorted file paths relative to the data folder (the CSV's folder for a manifest), one per
    line: the same data gives the same checksum wherever it sits.
    """
    if not data:
        return {"name": "", "volumes": len(cases), "patients": len({c.patient for c in cases}), "files": 0, "file_list_sha256": ""}
    root = os.path.abspath(data if os.path.isdir(data) else os.path.dirname(os.path.abspath(data)))
    files = set()
    for case in cases:
        for path in (getattr(case, "image", None), getattr(case, "mask", None), getattr(case, "annotations", None)):
            if path:
                files.add(os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/"))
    listing = "\n".join(sorted(files)).encode("utf-8")
    return {
        "name": os.path.basename(os.path.normpath(data)),
        "volumes": len(cases),
        "patients": len({c.patient for c in cases}),
        "files": len(files),
        "file_list_sha256": hashlib.sha256(listing).hexdigest(),
    }


@dataclass(frozen=True)
class Case:
    image: str
    mask: Optional[str] = None
    label: Optional[int] = None
    patient: str = ""
    split: Optional[str] = None  # "training", "validation" or "test" when the data fixes the split


@dataclass
class SliceSet:
    """Counted slices of some cases, resized to the model input: ``images`` (n, S, S) in [0, 1]."""

    images: np.ndarray
    labels: np.ndarray
    case_indices: np.ndarray
    slice_indices: np.ndarray
    levels: np.ndarray
    cases: List[Case] = field(default_factory=list)

    def subset(self, keep: np.ndarray) -> SliceSet:
        return SliceSet(self.images[keep], self.labels[keep], self.case_indices[keep], self.slice_indices[keep], self.levels[keep], self.cases)


def _is_volume_file(name: str) -> bool:
    lower = name.lower()
    return any(lower.endswith(suffix) for suffix in VOLUME_SUFFIXES) and not os.path.basename(lower).startswith(".")


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


def discover_cases(source: str) -> List[Case]:
    """All cases of a data folder or CSV manifest (see the module docstring)."""
    if os.path.isfile(source) and source.lower().endswith(".csv"):
        return _cases_from_csv(source)
    if not os.path.isdir(source):
        raise AnomalyDetectError(f"Training data '{source}' is neither a folder nor a CSV manifest.")
    labelled = [(name, label) for name, label in (("normal", 0), ("abnormal", 1)) if os.path.isdir(os.path.join(source, name))]
    cases: List[Case] = []
    if labelled:
        for name, label in labelled:
            folder = os.path.join(source, name)
            for file_name in sorted(os.listdir(folder)):
                if _is_volume_file(file_name):
                    cases.append(Case(os.path.join(folder, file_name), None, label, f"{name}/{volume_name(file_name)}"))
    else:
        files = sorted(os.listdir(source))
        for file_name in files:
            if not _is_volume_file(file_name) or volume_name(file_name).endswith("_mask"):
                continue
            mask, patient = _mask_for(source, file_name, files)
            cases.append(Case(os.path.join(source, file_name), mask, None, patient))
    if not cases:
        raise AnomalyDetectError(f"No volumes or images found in '{source}'.")
    return cases


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
            label = None
        elif label_text in ("0", "normal"):
            label = 0
        elif label_text in ("1", "abnormal"):
            label = 1
        else:
            raise AnomalyDetectError(f"'{path}' line {number}: label '{row['label']}' is not normal/abnormal/0/1.")
        split = (row.get("split") or "").strip().lower() or None
        if split is not None and split not in SPLITS:
            raise AnomalyDetectError(f"'{path}' line {number}: split '{row['split']}' is not one of {', '.join(SPLITS)}.")
        image = os.path.join(folder, row["image"])
        mask = os.path.join(folder, row["mask"]) if row.get("mask") else None
        cases.append(Case(image, mask, label, row.get("patient") or volume_name(row["image"]), split))
    return cases


def split_by_patient(
    cases: Sequence[Case], validation_fraction: float, seed: int, test_fraction: float = 0.0
) -> Tuple[List[Case], List[Case], List[Case]]:
    """Deterministic patient-level split into (training, validation, test) cases.

    Every slice of a patient lands on one side. Test patients are never read by ``fit``:
    they exist so that design choices made on validation results can be checked on
    patients nobody looked at. Cases that carry a ``split`` (CSV manifest column) keep it
    and the fractions are not used.
    """
    if any(case.split for case in cases):
        return _fixed_split(cases)
    patients = sorted({case.patient for case in cases})

    def rank(patient: str) -> str:
        return hashlib.sha256(f"{seed}:{patient}".encode()).hexdigest()

    ordered = sorted(patients, key=rank)
    validation_count = max(1, int(round(validation_fraction * len(patients))))
    test_count = int(round(test_fraction * len(patients)))
    if validation_count + test_count >= len(patients):
        raise AnomalyDetectError(
            f"{len(patients)} patients are too few for a validation fraction of {validation_fraction} and a test fraction of {test_fraction}."
        )
    validation = set(ordered[:validation_count])
    test = set(ordered[validation_count : validation_count + test_count])
    return (
        [c for c in cases if c.patient not in validation and c.patient not in test],
        [c for c in cases if c.patient in validation],
        [c for c in cases if c.patient in test],
    )


def _fixed_split(cases: Sequence[Case]) -> Tuple[List[Case], List[Case], List[Case]]:
    sides = {name: [c for c in cases if c.split == name] for name in SPLITS}
    if len(cases) != sum(len(side) for side in sides.values()):
        raise AnomalyDetectError("The data fixes the split for some cases only: give every row a split (training/validation/test).")
    for patient in {c.patient for c in cases}:
        if len({c.split for c in cases if c.patient == patient}) > 1:
            raise AnomalyDetectError(f"Patient '{patient}' is in more than one split; every slice of a patient must land on one side.")
    if not sides["training"] or not sides["validation"]:
        raise AnomalyDetectError("The data's fixed split needs at least one training and one validation case.")
    return sides["training"], sides["validation"], sides["test"]


def read_case(case: Case):
    """(volume, per-voxel boolean mask or None, per-slice labels)."""
    volume = read_volume(case.image)
    mask = None
    if case.mask:
        mask = read_volume(case.mask, check=False).voxels > 0
        if mask.shape != volume.shape:
            raise VolumeError(f"Mask '{case.mask}' has shape {mask.shape}, but its image '{case.image}' has {volume.shape}.")
        labels = mask.any(axis=(1, 2)).astype(np.int64)
    else:
        labels = np.full(volume.shape[0], case.label if case.label is not None else 0, dtype=np.int64)
    return volume, mask, labels


def load_slices(cases: Sequence[Case], normaliser, input_size: int, min_foreground_fraction: float, progress=None) -> SliceSet:
    """Counted slices of ``cases``, normalised as the model will see them."""
    images, labels, case_ids, slice_ids, levels = [], [], [], [], []
    for index, case in enumerate(cases):
        volume, _, slice_labels = read_case(case)
        scale = normaliser.fit(volume.voxels)
        fraction = normaliser.foreground(volume.voxels, scale).mean(axis=(1, 2))
        counted = scored_slices(fraction, min_foreground_fraction)
        if not counted.any():
            continue
        chosen = np.flatnonzero(counted)
        oriented = InPlaneOrientation.of(volume.ijk_to_ras).apply(volume.voxels[chosen])  # as detection will see them
        images.append(resize_slices(scale.apply(oriented), input_size))
        labels.append(slice_labels[chosen])
        case_ids.append(np.full(len(chosen), index))
        slice_ids.append(chosen)
        levels.append(relative_levels(counted)[chosen])
        if progress:
            progress(index + 1, len(cases))
    if not images:
        raise AnomalyDetectError("No counted slices (enough foreground) in the training data.")
    return SliceSet(
        np.concatenate(images).astype(np.float32), np.concatenate(labels), np.concatenate(case_ids),
        np.concatenate(slice_ids), np.concatenate(levels), list(cases),
    )

