"""Cohort detection: many volumes in one run of ``python -m AnomalyDetectLib detect``.

Torch and the model are loaded once; each volume's outputs (the four files of a single run) go
into a sub-folder of ``--out`` named by the volume's id, and ``cohort.csv`` in ``--out`` gets one
row per volume (:data:`COHORT_COLUMNS`), rewritten whole after every volume so that a killed run
leaves a valid table. A volume that fails (unreadable, corrupt, empty, ...) is recorded with its
error and the others go on; the exit code is then 1. ``--resume`` keeps the volumes whose outputs
a previous run completed with the same model.

What counts as a cohort (anything else is a single-volume run, written as before):

* several INPUTs;
* a ``.csv`` manifest: column ``image`` (required; relative paths are relative to the CSV's
  folder), optional ``id`` and ``series_uid``;
* a folder holding more than one volume: every volume file in it and below it (NIfTI, NRRD,
  MetaImage, 2D images; ``*_mask.*`` companions are not analysed) and every DICOM series in each of
  its folders.

Example::

    python -m AnomalyDetectLib detect study/ --out results/            # results/cohort.csv
    python -m AnomalyDetectLib detect study/ --out results/ --resume   # after a kill: only what is missing
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

from .errors import AnomalyDetectError
from .files import atomic_output
from .volume import VOLUME_SUFFIXES, volume_name

COHORT_TABLE = "cohort.csv"
COHORT_COLUMNS = (
    "id", "input", "series_uid", "volume_score", "flagged_slices", "max_slice_score", "max_slice", "skipped_slices", "profile", "seconds",
    "status", "error",
)
#: Files a folder scan analyses: volume files and 2D images (single DICOM files belong to their series).
FILE_SUFFIXES = tuple(suffix for suffix in VOLUME_SUFFIXES if suffix != ".dcm")
#: Names a folder scan leaves alone: mask companions and this program's own outputs.
NOT_INPUTS = re.compile(r"_(mask|anomaly)$", re.IGNORECASE)


@dataclass(frozen=True)
class CohortItem:
    """One volume of a cohort: ``input`` is a file or DICOM folder; ``series_uid`` picks a series of a folder."""

    id: str
    input: str
    series_uid: Optional[str] = None


def plan_cohort(inputs: List[str], series_uid: Optional[str] = None, out_dir: Optional[str] = None) -> Optional[List[CohortItem]]:
    """The cohort the INPUT arguments describe, or None when they name one volume (a single run).

    ``out_dir`` is never scanned (outputs of an earlier run are not inputs). Raises
    :class:`AnomalyDetectError` for a missing input, a manifest without an ``image`` column, or a
    folder with no volume in it.
    """
    for path in inputs:
        if not os.path.exists(path):
            raise AnomalyDetectError(f"Input '{path}' does not exist.")
    if len(inputs) == 1 and not inputs[0].lower().endswith(".csv"):
        path = inputs[0]
        if not os.path.isdir(path) or series_uid:
            return None
        found = _scan_folder(path, out_dir)
        if len(found) == 1 and found[0].input == os.path.abspath(path):
            return None  # one DICOM series: the single-volume run of today
        if not found:
            raise AnomalyDetectError(f"No volume files or DICOM series found in '{path}'.")
        return _unique_ids(found)
    if series_uid:
        raise AnomalyDetectError("--series-uid picks a series of one DICOM folder; a cohort manifest can name one per row (series_uid).")
    items: List[CohortItem] = []
    for path in inputs:
        if path.lower().endswith(".csv"):
            items += _read_manifest(path)
        elif os.path.isdir(path):
            found = _scan_folder(path, out_dir)
            if not found:
                raise AnomalyDetectError(f"No volume files or DICOM series found in '{path}'.")
            items += found
        else:
            items.append(CohortItem(volume_name(path), os.path.abspath(path)))
    return _unique_ids(items)


def _read_manifest(path: str) -> List[CohortItem]:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise AnomalyDetectError(f"Cannot read the cohort manifest '{path}': {error}") from None
    if not rows or "image" not in rows[0]:
        raise AnomalyDetectError(f"The cohort manifest '{path}' needs an 'image' column (and optionally 'id', 'series_uid').")
    items = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        image = (row.get("image") or "").strip()
        if not image:
            raise AnomalyDetectError(f"'{path}' line {number}: the 'image' cell is empty.")
        image = os.path.normpath(os.path.join(folder, image))  # an absolute path stays as it is
        items.append(CohortItem((row.get("id") or "").strip() or volume_name(image), image, (row.get("series_uid") or "").strip() or None))
    return items


def _scan_folder(root: str, out_dir: Optional[str]) -> List[CohortItem]:
    """Volume files and DICOM series in ``root`` and its sub-folders, in sorted path order."""
    import SimpleITK as sitk

    skip = os.path.realpath(out_dir) if out_dir else None
    items = []
    for folder, subfolders, files in os.walk(os.path.abspath(root)):
        subfolders[:] = sorted(s for s in subfolders if not s.startswith(".") and os.path.realpath(os.path.join(folder, s)) != skip)
        for name in sorted(files):
            lower = name.lower()
            if name.startswith(".") or not lower.endswith(FILE_SUFFIXES) or NOT_INPUTS.search(volume_name(name)):
                continue
            items.append(CohortItem(volume_name(name), os.path.join(folder, name)))
        if not any(not name.startswith(".") and not name.lower().endswith(FILE_SUFFIXES) for name in files):
            continue  # DICOM files often have no extension: any other file makes the folder worth asking GDCM about
        series = sorted(sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder))
        for number, uid in enumerate(series, start=1):
            name = volume_name(folder)
            items.append(CohortItem(name if len(series) == 1 else f"{name}_series{number}", folder, uid))
    return items


def _unique_ids(items: List[CohortItem]) -> List[CohortItem]:
    """Ids made safe as folder names and unique (``a``, ``a-2``, ...), in input order."""
    seen: Dict[str, int] = {}
    unique = []
    for item in items:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", item.id).strip("._") or "volume"
        count = seen.get(base.lower(), 0) + 1
        seen[base.lower()] = count
        unique.append(CohortItem(base if count == 1 else f"{base}-{count}", item.input, item.series_uid))
    return unique


def run_cohort(args, items: List[CohortItem]) -> int:
    """Analyse ``items`` with one loaded model; 0 when every volume succeeded, 1 when any failed."""
    from .bundle import default_bundle_path, load_bundle
    from .cli import prepare_output_folder, run_detect
    from .pipeline import Detector

    out_dir = os.path.abspath(args.out)
    prepare_output_folder(out_dir)
    model_path = os.path.abspath(args.model or default_bundle_path())
    bundle = load_bundle(model_path)
    detector = Detector.from_bundle(bundle, args.device)
    landmark_bundle = load_bundle(args.landmark_model) if getattr(args, "landmark_model", None) else None
    rows: List[Dict] = []
    bar = ProgressLine(len(items), quiet=args.quiet)
    for index, item in enumerate(items):
        folder = os.path.join(out_dir, item.id)
        row = {"id": item.id, "input": item.input, "series_uid": item.series_uid or ""}
        previous = completed_summary(folder, item, model_path) if args.resume else None
        started = time.perf_counter()
        if previous is not None:
            row.update(_scores(previous), seconds="", status="resumed", error="")
        else:
            bar.update(index, 0.0, f"{item.id}: reading")
            try:
                summary = run_detect(args, input_path=item.input, series_uid=item.series_uid, out_dir=folder, bundle=bundle,
                                     detector=detector, landmark_bundle=landmark_bundle,
                                     progress=lambda fraction, message, i=index, name=item.id: bar.update(i, fraction, f"{name}: {message}"))
                row.update(_scores(summary), status="done", error="")
            except AnomalyDetectError as error:
                row.update(status="failed", error=str(error))
            except Exception as error:  # noqa: BLE001 - one volume's unexpected failure must not lose the others
                row.update(status="failed", error=f"{type(error).__name__}: {error}")
            row["seconds"] = f"{time.perf_counter() - started:.2f}"
            if row["status"] == "failed" and os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)  # made for this volume before it failed
        rows.append(row)
        write_cohort_table(os.path.join(out_dir, COHORT_TABLE), rows)
    bar.update(len(items), 0.0, "done")
    bar.close()
    failed = [row["id"] for row in rows if row["status"] == "failed"]
    counts = {status: sum(row["status"] == status for row in rows) for status in ("done", "resumed", "failed")}
    print(f"{len(rows)} volumes: {counts['done']} analysed, {counts['resumed']} already complete, {counts['failed']} failed"
          f"{' (' + ', '.join(failed) + ')' if failed else ''}; table: {os.path.join(out_dir, COHORT_TABLE)}")
    return 1 if failed else 0


def completed_summary(folder: str, item: CohortItem, model_path: str) -> Optional[Dict]:
    """The summary a previous run wrote for ``item`` in ``folder`` when all its outputs exist and it used the same model."""
    if not os.path.isdir(folder):
        return None
    for name in sorted(os.listdir(folder)):
        if not name.endswith("_summary.json"):
            continue
        try:
            with open(os.path.join(folder, name)) as handle:
                summary = json.load(handle)
        except (OSError, ValueError):
            continue
        same = summary.get("input") == item.input and summary.get("series_uid") == item.series_uid and summary.get("model") == model_path
        if same and summary.get("outputs") and all(os.path.isfile(path) for path in summary["outputs"]):
            return summary
    return None


def _scores(summary: Dict) -> Dict:
    """The cohort-table cells of one volume's summary (highest slice = the highest-scoring scored slice)."""
    best = summary.get("max_slice")
    return {
        "volume_score": f"{summary['volume_score']:.6g}",
        "flagged_slices": len(summary["flagged_slices"]),
        "max_slice_score": "" if best is None else f"{summary['max_slice_score']:.6g}",
        "max_slice": "" if best is None else best,
        "skipped_slices": len(summary.get("skipped_slices") or []),
        "profile": summary.get("profile", "default"),  # "masked": scored with the bundle's skull-stripped profile (own thresholds)
    }


def write_cohort_table(path: str, rows: List[Dict]) -> None:
    with atomic_output(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COHORT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


class ProgressLine:
    """One progress line on stderr over a cohort: volumes done out of all, the current volume's step."""

    def __init__(self, total: int, quiet: bool = False, width: int = 24):
        self.total, self.quiet, self.width = total, quiet, width

    def update(self, index: int, fraction: float, message: str) -> None:
        if self.quiet:
            return
        done = min(1.0, (index + min(max(fraction, 0.0), 1.0)) / max(self.total, 1))
        filled = int(round(done * self.width))
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {min(index + 1, self.total)}/{self.total} {message}"
        print(line[:100].ljust(100), end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.quiet:
            print(file=sys.stderr)
