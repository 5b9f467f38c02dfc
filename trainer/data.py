"""Reading cases and turning them into the slices a model trains and is validated on.

Finding the cases of a data source lives in :mod:`trainer.cases`, the patient split in
:mod:`trainer.split`; both are re-exported here. A slice's label is ``mask.any()`` over
that slice when a mask exists, else the case label (0 when none). Only "counted" slices
(foreground fraction at least ``min_foreground_fraction``) are used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np
from AnomalyDetectLib.context import SliceContext
from AnomalyDetectLib.errors import AnomalyDetectError, VolumeError
from AnomalyDetectLib.orientation import InPlaneOrientation
from AnomalyDetectLib.preprocess import resize_slices
from AnomalyDetectLib.scoring import relative_levels, scored_slices
from AnomalyDetectLib.volume import read_volume

from .cases import SPLITS, Case, DataInventory, discover_cases, discover_data
from .split import split_by_patient, split_class_counts

__all__ = ["SPLITS", "Case", "DataInventory", "SliceSet", "describe_data", "discover_cases", "discover_data", "load_slices", "read_case",
           "split_by_patient", "split_class_counts"]

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


@dataclass
class SliceSet:
    """Counted slices of some cases, resized to the model input: ``images`` in [0, 1], ``(n, S, S)`` for 2D
    models and ``(n, C, S, S)`` with a 2.5D context of C slices (:mod:`AnomalyDetectLib.context`)."""

    images: np.ndarray
    labels: np.ndarray
    case_indices: np.ndarray
    slice_indices: np.ndarray
    levels: np.ndarray
    cases: List[Case] = field(default_factory=list)

    def subset(self, keep: np.ndarray) -> SliceSet:
        return SliceSet(self.images[keep], self.labels[keep], self.case_indices[keep], self.slice_indices[keep], self.levels[keep], self.cases)


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


def load_slices(cases: Sequence[Case], normaliser, input_size: int, min_foreground_fraction: float, progress=None,
                context: Optional[SliceContext] = None) -> SliceSet:
    """Counted slices of ``cases``, normalised as the model will see them (with their neighbours when ``context`` has several slices)."""
    context = context or SliceContext()
    images, labels, case_ids, slice_ids, levels = [], [], [], [], []
    for index, case in enumerate(cases):
        volume, _, slice_labels = read_case(case)
        scale = normaliser.fit(volume.voxels)
        fraction = normaliser.foreground(volume.voxels, scale).mean(axis=(1, 2))
        counted = scored_slices(fraction, min_foreground_fraction)
        if not counted.any():
            continue
        chosen = np.flatnonzero(counted)
        oriented = InPlaneOrientation.of(volume.ijk_to_ras).apply(volume.voxels)  # a view, as detection will see the slices
        stacks = scale.apply(context.gather(oriented, chosen, volume.ijk_to_ras))
        resized = resize_slices(stacks.reshape((-1,) + stacks.shape[2:]), input_size).reshape((len(chosen), context.channels, input_size, input_size))
        images.append(resized[:, 0] if context.is_2d else resized)
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

