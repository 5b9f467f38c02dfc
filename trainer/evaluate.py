"""``python -m trainer evaluate``: slice and pixel metrics of a bundle on labelled volumes.

Each case runs through the same :class:`AnomalyDetectLib.pipeline.Detector` that
``detect`` and Slicer use, so the figures describe the shipped code path. A slice is
counted when its foreground fraction reaches the bundle's ``min_foreground_fraction``
(or, with ``foreground_raw``, when at least that fraction of its voxels exceed the raw
value, as in the LGG protocol of ../shared/DATA.md); pixel metrics use the same
foreground pixels.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from AnomalyDetectLib.files import atomic_output, json_value
from AnomalyDetectLib.pipeline import DetectionResult, Detector
from AnomalyDetectLib.scoring import LevelCalibration

from . import metrics as metric_functions
from .data import Case, read_case


@dataclass
class CaseResult:
    case: Case
    labels: np.ndarray
    mask: Optional[np.ndarray]
    region: np.ndarray
    counted: np.ndarray
    result: DetectionResult


def run_cases(detector: Detector, cases: Sequence[Case], foreground_raw: Optional[float] = None, progress=None) -> List[CaseResult]:
    results = []
    for index, case in enumerate(cases):
        volume, mask, labels = read_case(case)
        result = detector.run(volume)
        if foreground_raw is not None:
            region = volume.voxels > foreground_raw
        else:
            region = detector.scoring_region(volume.voxels, detector.normaliser.fit(volume.voxels), (volume.spacing[1], volume.spacing[0]))
        counted = region.mean(axis=(1, 2)) >= detector.scoring["min_foreground_fraction"]
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
    return out


def evaluate(bundle, cases: Sequence[Case], out_json: Optional[str] = None, roc_png: Optional[str] = None,
             device: str = "auto", foreground_raw: Optional[float] = None, progress=None) -> Dict:
    detector = Detector.from_bundle(bundle, device)
    case_results = run_cases(detector, cases, foreground_raw, progress)
    result = compute_metrics(case_results, detector.manifest["thresholds"].get("pixel", float("inf")),
                             detector.manifest["thresholds"].get("slice"))
    result["model"] = bundle.path
    result["seconds_per_volume"] = float(np.mean([c.result.timings["total"] for c in case_results]))
    if out_json:
        with atomic_output(out_json) as temporary, open(temporary, "w") as handle:
            json.dump(result, handle, indent=2, default=json_value)
    if roc_png:
        labels = np.concatenate([c.labels[c.counted] for c in case_results])
        scores = np.concatenate([c.result.slice_scores[c.counted] for c in case_results])
        metric_functions.plot_roc(labels, scores, roc_png, f"{os.path.basename(bundle.path)}: slice ROC")
    return result
