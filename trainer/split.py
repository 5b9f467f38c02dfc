"""Splitting cases into training, validation and test, by patient and stratified by class.

Every image or slice of a patient lands on one side. When the cases carry image-level
labels (class folders, a manifest's ``label`` column), patients are split per class
(stratum): a patient with an abnormal image belongs to the stratum of its abnormal class,
a patient with normal images only to "normal". Each stratum gives about the requested
fractions of its patients to validation and test, so that both classes are held out and
validation and test metrics exist. Abnormal training images never reach an unsupervised
method (``fit`` trains on normal slices only); a weakly supervised one gets the training
share of them. Cases labelled by masks only (volume folders) form one stratum, which is
split exactly as before stratification existed, so existing splits are unchanged.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Dict, List, Sequence, Tuple

from AnomalyDetectLib.errors import AnomalyDetectError

from .cases import NORMAL_CLASS, SPLITS, Case

__all__ = ["split_by_patient", "split_class_counts"]


def split_by_patient(
    cases: Sequence[Case], validation_fraction: float, seed: int, test_fraction: float = 0.0
) -> Tuple[List[Case], List[Case], List[Case]]:
    """Deterministic patient-level split into (training, validation, test) cases.

    Test patients are never read by ``fit``: they exist so that design choices made on
    validation results can be checked on patients nobody looked at. Cases that carry a
    ``split`` (CSV manifest column) keep it and the fractions are not used.
    """
    if any(case.split for case in cases):
        return _fixed_split(cases)

    def rank(patient: str) -> str:
        return hashlib.sha256(f"{seed}:{patient}".encode()).hexdigest()

    strata = _strata(cases)
    validation, test = set(), set()
    for name, patients in strata.items():
        ordered = sorted(patients, key=rank)
        trains_normal = not name.startswith("abnormal:")
        validation_count, test_count = _counts(len(ordered), validation_fraction, test_fraction, len(strata) > 1, trains_normal)
        if trains_normal and validation_count + test_count >= len(ordered):
            what = f"{len(ordered)} patients" if len(strata) == 1 else f"{len(ordered)} patients with {name} images"
            raise AnomalyDetectError(
                f"{what} are too few for a validation fraction of {validation_fraction} and a test fraction of {test_fraction}."
            )
        validation.update(ordered[:validation_count])
        test.update(ordered[validation_count : validation_count + test_count])
    return (
        [c for c in cases if c.patient not in validation and c.patient not in test],
        [c for c in cases if c.patient in validation],
        [c for c in cases if c.patient in test],
    )


def _strata(cases: Sequence[Case]) -> Dict[str, List[str]]:
    """Patients by stratum: "abnormal:<class>" (first abnormal class of the patient), "normal" or "unlabelled"."""
    kinds: Dict[str, str] = {}
    for case in cases:
        if case.label == 1:
            kind = f"abnormal:{case.label_name or 'abnormal'}"
            previous = kinds.get(case.patient, "")
            kinds[case.patient] = min(kind, previous) if previous.startswith("abnormal:") else kind
        elif case.label == 0:
            kinds.setdefault(case.patient, NORMAL_CLASS)
        else:
            kinds.setdefault(case.patient, "unlabelled")
    strata: Dict[str, List[str]] = {}
    for patient in sorted(kinds):
        strata.setdefault(kinds[patient], []).append(patient)
    return strata


def _counts(patients: int, validation_fraction: float, test_fraction: float, stratified: bool, trains_normal: bool) -> Tuple[int, int]:
    """(validation, test) patients of one stratum.

    A single stratum keeps the historical rule (at least one validation patient). Under
    stratification every class gets at least one validation and one test patient where it
    has enough patients, so that both classes appear on both held-out sides.
    """
    validation = int(round(validation_fraction * patients))
    test = int(round(test_fraction * patients))
    if not stratified:
        return max(1, validation), test
    if validation_fraction > 0 and (patients >= 2 or not trains_normal):
        validation = max(1, validation)
    if test_fraction > 0 and patients - validation >= 2:
        test = max(1, test)
    if not trains_normal:  # an abnormal class may leave nothing for training; never more than it has
        validation = min(validation, patients)
        test = min(test, patients - validation)
    return validation, test


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


def split_class_counts(sides: Dict[str, Sequence[Case]]) -> Dict[str, Dict[str, int]]:
    """Images/volumes per class on each side, e.g. ``{"validation": {"normal": 20, "hemorrhage": 20}}``."""
    def ordered(counts: Counter) -> Dict[str, int]:
        return dict(sorted(counts.items(), key=lambda item: (item[0] != NORMAL_CLASS, item[0])))

    return {
        side: ordered(Counter(case.label_name or ("per-slice (masks)" if case.mask else NORMAL_CLASS) for case in chosen))
        for side, chosen in sides.items()
    }
