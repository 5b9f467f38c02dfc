"""``python -m trainer evaluate``: slice and pixel metrics of a bundle on labelled volumes.

Each case runs through the same :class:`AnomalyDetectLib.pipeline.Detector` that
``detect`` and Slicer use, so the figures describe the shipped code path. A slice is
counted when its foreground fraction reaches the bundle's ``min_foreground_fraction``
(or, with ``foreground_raw``, when at least that fraction of its voxels exceed the raw
value, as in the LGG protocol of ../shared/DATA.md); pixel metrics use the same
foreground pixels.

Data labelled per image (class folders, a manifest's ``label`` column) also gets image
metrics: one score per image or volume (its highest counted slice score) against its
label, overall (``image_auroc``, ``image_ap``, ...) and per abnormal class against the
normal images (``image_per_class``), and a row per image in ``images``. Pixel metrics
need pixel masks; without them ``notes`` says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.files import atomic_output, json_value
from AnomalyDetectLib.pipeline import DetectionResult, Detector
from AnomalyDetectLib.scoring import LevelCalibration
from AnomalyDetectLib.volume import Volume

from . import metrics as metric_functions
from .cases import NORMAL_CLASS
from .data import Case, read_case


@dataclass
class CaseResult:
    case: Case
    labels: np.ndarray
    mask: Optional[np.ndarray]
    region: np.ndarray
    counted: np.ndarray
    result: DetectionResult


def run_cases(detector: Detector, cases: Sequence[Case], foreground_raw: Optional[float] = None, progress=None,
              transform: Optional[Callable[[Volume], Volume]] = None) -> List[CaseResult]:
    """Each case through ``detector`` (after ``transform(volume)`` when given: e.g. a simulated brain extraction)."""
    results = []
    for index, case in enumerate(cases):
        volume, mask, labels = read_case(case)
        if transform is not None:
            volume = transform(volume)
        result = detector.run(volume)
        if foreground_raw is not None:
            region = volume.voxels > foreground_raw
        else:
            region = detector.scoring_region(volume.voxels, detector.normaliser.fit(volume.voxels), (volume.spacing[1], volume.spacing[0]),
                                             result.rim_mm)
        counted = region.mean(axis=(1, 2)) >= detector.scoring.min_foreground_fraction
        results.append(CaseResult(case, labels, mask, region, counted, result))
        if progress:
            progress(index + 1, len(cases))
    return results


def apply_calibration(case_results: Sequence[CaseResult], calibration: Optional[LevelCalibration], slice_threshold: float) -> None:
    """Recompute calibrated slice scores and flags in place (no network run needed)."""
    for item in case_results:
        r = item.result
        calibrated = calibration.apply(r.levels, r.raw_slice_scores) if calibration is not None else r.raw_slice_scores.copy()
        r.slice_scores = np.where(r.scored, calibrated, 0.0)
        r.slice_threshold = slice_threshold
        r.flagged = r.scored & (r.slice_scores > slice_threshold)
        r.volume_score = float(r.slice_scores[r.scored].max()) if r.scored.any() else 0.0


def compute_metrics(case_results: Sequence[CaseResult], map_threshold: float, slice_threshold: Optional[float] = None) -> Dict:
    labels = np.concatenate([c.labels[c.counted] for c in case_results])
    scores = np.concatenate([c.result.slice_scores[c.counted] for c in case_results])
    raw = np.concatenate([c.result.raw_slice_scores[c.counted] for c in case_results])
    out: Dict = {"cases": len(case_results), "counted_slices": int(len(labels)), "tumour_slices": int(labels.sum())}
    slice_part = metric_functions.slice_metrics(labels, scores)
    out.update({f"slice_{k}": v for k, v in slice_part.items()})
    out["slice_auroc_uncalibrated"] = metric_functions.slice_metrics(labels, raw).get("auroc")
    matched = metric_functions.position_matched([c.labels[c.counted] for c in case_results], [c.result.slice_scores[c.counted] for c in case_results])
    out["position_matched_auroc"] = matched.get("auroc")
    out["position_matched"] = matched
    if slice_threshold is not None and len(labels):
        flagged = scores > slice_threshold
        positives, negatives = labels == 1, labels == 0
        out["sensitivity_at_calibrated_threshold"] = float(flagged[positives].mean()) if positives.any() else None
        out["specificity_at_calibrated_threshold"] = float((~flagged[negatives]).mean()) if negatives.any() else None
    with_masks = [c for c in case_results if c.mask is not None]
    if with_masks:
        pixel = metric_functions.pixel_metrics(
            [c.mask[c.counted] for c in with_masks],
            [c.result.anomaly_map[c.counted] for c in with_masks],
            [c.region[c.counted] for c in with_masks],
            map_threshold,
        )
        out.update({f"pixel_{k}" if not k.startswith("pixel") else k: v for k, v in pixel.items()})
    notes = []
    if not with_masks:
        notes.append("No pixel masks in this data: pixel metrics (pixel AUROC/AP, Dice) need masks; image and slice metrics only.")
    out.update(image_metrics(case_results, slice_threshold))
    single_class = out.get("image_note") if "image_auroc" in out else slice_part.get("note")
    if single_class:
        notes.append(single_class)
    out["notes"] = notes
    return out


def image_metrics(case_results: Sequence[CaseResult], slice_threshold: Optional[float] = None) -> Dict:
    """Image-level metrics where the cases carry image labels (empty dict otherwise).

    An image's (or volume's) score is its highest calibrated slice score among counted
    slices; an image with no counted slice (too little foreground) is left out and counted
    in ``image_not_counted``. Positive when ``score > slice_threshold``. ``image_auroc_ci95``
    and ``image_ap_ci95``: 95 % stratified bootstrap intervals (2000 replicates, seed 0).
    """
    labelled = [c for c in case_results if c.case.label is not None]
    if not labelled:
        return {}
    rows, not_counted = [], 0
    for item in labelled:
        if not item.counted.any():
            not_counted += 1
            continue
        score = float(item.result.slice_scores[item.counted].max())
        rows.append({"image": item.case.image, "patient": item.case.patient, "label": int(item.case.label),
                     "class": item.case.label_name or (NORMAL_CLASS if item.case.label == 0 else "abnormal"), "score": score,
                     "flagged": bool(slice_threshold is not None and score > slice_threshold)})
    labels = np.array([row["label"] for row in rows], dtype=np.int64)
    scores = np.array([row["score"] for row in rows], dtype=np.float64)
    overall = metric_functions.slice_metrics(labels, scores)
    out: Dict = {f"image_{k}": v for k, v in overall.items()}
    out["image_not_counted"] = not_counted
    interval = metric_functions.bootstrap_interval(labels, scores)
    out.update(image_auroc_ci95=interval["auroc_ci"], image_ap_ci95=interval["ap_ci"])
    if slice_threshold is not None and len(rows):
        flagged = scores > slice_threshold
        out["image_sensitivity_at_calibrated_threshold"] = float(flagged[labels == 1].mean()) if (labels == 1).any() else None
        out["image_specificity_at_calibrated_threshold"] = float((~flagged[labels == 0]).mean()) if (labels == 0).any() else None
    normal = labels == 0
    per_class = {}
    for name in sorted({row["class"] for row in rows if row["label"] == 1}):
        chosen = normal | np.array([row["class"] == name and row["label"] == 1 for row in rows])
        part = metric_functions.slice_metrics(labels[chosen], scores[chosen])
        per_class[name] = {k: part[k] for k in ("auroc", "ap", "n_pos", "n_neg", "note")}
    out["image_per_class"] = per_class
    out["images"] = rows
    return out


def evaluate(bundle, cases: Sequence[Case], out_json: Optional[str] = None, roc_png: Optional[str] = None,
             device: str = "auto", foreground_raw: Optional[float] = None, progress=None) -> Dict:
    detector = Detector.from_bundle(bundle, device)
    case_results = run_cases(detector, cases, foreground_raw, progress)
    thresholds = detector.spec.thresholds
    result = compute_metrics(case_results, float("inf") if thresholds.map is None else thresholds.map, thresholds.slice)
    result["model"] = bundle.path
    result["seconds_per_volume"] = float(np.mean([c.result.timings["total"] for c in case_results]))
    if roc_png:
        _check_two_classes(result)
    if out_json:
        with atomic_output(out_json) as temporary, open(temporary, "w") as handle:
            json.dump(result, handle, indent=2, default=json_value)
    if roc_png:
        if result.get("image_auroc") is not None and all(c.mask is None for c in case_results):  # image labels only
            labels = np.array([row["label"] for row in result["images"]])
            scores = np.array([row["score"] for row in result["images"]])
            what = "image ROC"
        else:
            labels = np.concatenate([c.labels[c.counted] for c in case_results])
            scores = np.concatenate([c.result.slice_scores[c.counted] for c in case_results])
            what = "slice ROC"
        metric_functions.plot_roc(labels, scores, roc_png, f"{os.path.basename(bundle.path)}: {what}")
    return result


def _check_two_classes(result: Dict) -> None:
    """A ROC curve needs normal and abnormal images or slices: say so in one line before writing anything."""
    if result.get("image_auroc") is not None or result.get("slice_auroc") is not None:
        return
    normal, abnormal = result.get("image_n_neg", result.get("slice_n_neg")), result.get("image_n_pos", result.get("slice_n_pos"))
    raise AnomalyDetectError(
        f"--roc-png needs normal and abnormal images or slices; this evaluation set has {normal} normal and {abnormal} abnormal. "
        "Evaluate on data with both (for a bundle's held-out patients: --split validation or test)."
    )

