"""Evaluating landmark detectors: localisation error, identification rates, patch accuracy, leave-one-volume-out.

For each volume with annotations, the detector runs on the whole volume; for each landmark the
model knows:

* annotated and reported: localisation error = distance (mm) between reported and annotated point;
* annotated, not reported: a miss;
* reported, not annotated: a false report (the detector invented a landmark absent from the volume).

Identification rate within d mm = (annotated landmarks reported within d mm whose nearest annotated
landmark in that volume is the right one) / (annotated landmarks): a vertebra reported within 20 mm
but closer to its neighbour does not count (as in Glocker et al., MICCAI 2013).
Top-1 patch accuracy: patches centred exactly on each annotated landmark plus as many body points
at least 20 mm from every landmark (class "none"); the share whose most probable class is right.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np
from AnomalyDetectLib.landmark_detection import LandmarkDetector, body_grid

from .landmarks import LandmarkCase, LandmarkFitConfig, fit_landmarks


def evaluate_landmarks(detector: LandmarkDetector, cases: Sequence[LandmarkCase], seed: int = 0) -> Dict:
    rng = np.random.default_rng(seed)
    records: List[Dict] = []
    patch_right = patch_total = 0
    seconds = []
    for case in cases:
        volume, points = case.read()
        result = detector.detect(volume)
        seconds.append(result.timings["total"])
        names = list(points)
        anchors_all = np.stack([points[n] for n in names]) if names else np.empty((0, 3))
        for name in detector.classes:
            annotated = points.get(name)
            found = result.position(name)
            if annotated is None and found is None:
                continue
            nearest = names[int(np.argmin(np.linalg.norm(anchors_all - found, axis=1)))] if found is not None and names else None
            records.append({
                "volume": case.patient, "landmark": name, "annotated": annotated is not None, "reported": found is not None,
                "error_mm": float(np.linalg.norm(found - annotated)) if annotated is not None and found is not None else None,
                "nearest_is_right": nearest == name, "confidence": result.best_confidence[name],
            })
        known = {name: p for name, p in points.items() if name in detector.classes}
        if known:
            scale = detector.normaliser.fit(volume.voxels)
            body = body_grid(volume, detector.normaliser, scale, 6.0)
            anchors = np.stack(list(known.values()))
            body = body[np.linalg.norm(body[:, None] - anchors[None], axis=2).min(axis=1) >= 20.0]
            negatives = body[rng.choice(len(body), min(len(known), len(body)), replace=False)] if len(body) else np.empty((0, 3))
            centres = np.concatenate([anchors, negatives])
            truth = np.array([detector.classes.index(name) + 1 for name in known] + [0] * len(negatives))
            predicted = detector.probabilities(volume, scale, centres).argmax(axis=1)
            patch_right += int((predicted == truth).sum())
            patch_total += len(truth)
    return summarise(records, patch_right, patch_total, seconds)


def summarise(records: List[Dict], patch_right: int, patch_total: int, seconds: Sequence[float]) -> Dict:
    annotated = [r for r in records if r["annotated"]]
    errors = [r["error_mm"] for r in annotated if r["error_mm"] is not None]
    identified = [r["error_mm"] for r in annotated if r["error_mm"] is not None and r["nearest_is_right"]]
    per_landmark = {}
    for name in sorted({r["landmark"] for r in records}):
        mine = [r for r in annotated if r["landmark"] == name]
        mine_errors = [r["error_mm"] for r in mine if r["error_mm"] is not None]
        per_landmark[name] = {
            "annotated": len(mine), "reported": len(mine_errors),
            "mean_error_mm": float(np.mean(mine_errors)) if mine_errors else None,
            "median_error_mm": float(np.median(mine_errors)) if mine_errors else None,
            "within_10mm": sum(r["error_mm"] <= 10 and r["nearest_is_right"] for r in mine if r["error_mm"] is not None),
            "within_20mm": sum(r["error_mm"] <= 20 and r["nearest_is_right"] for r in mine if r["error_mm"] is not None),
            "false_reports": sum(1 for r in records if r["landmark"] == name and r["reported"] and not r["annotated"]),
        }
    return {
        "annotated_landmarks": len(annotated),
        "reported": len(errors),
        "mean_error_mm": float(np.mean(errors)) if errors else None,
        "median_error_mm": float(np.median(errors)) if errors else None,
        "identification_rate_10mm": sum(e <= 10 for e in identified) / len(annotated) if annotated else None,
        "identification_rate_20mm": sum(e <= 20 for e in identified) / len(annotated) if annotated else None,
        "false_reports": sum(1 for r in records if r["reported"] and not r["annotated"]),
        "patch_top1_accuracy": patch_right / patch_total if patch_total else None,
        "patches": patch_total,
        "seconds_per_volume": float(np.mean(seconds)) if seconds else None,
        "per_landmark": per_landmark,
        "records": records,
    }


def leave_one_out(config: LandmarkFitConfig, cases: Sequence[LandmarkCase], work_dir: str, log=print) -> Dict:
    """Train on all patients but one, evaluate on that one's volumes, for each patient; pooled metrics.

    Volumes sharing a ``patient`` are held out together (no scan of the test patient trains its
    model). A held-out patient is scored on the landmarks its training volumes taught (others
    cannot be found); landmarks annotated only there are listed as ``untrainable``; a fold whose
    training volumes annotate none of the wanted landmarks is skipped and listed.
    """
    import os

    from AnomalyDetectLib.annotations import read_landmarks
    from AnomalyDetectLib.bundle import load_bundle

    names = {case: {p.name for p in read_landmarks(case.annotations, case.coordinate_system)} for case in cases}
    records, right, total, seconds, untrainable, skipped = [], 0, 0, [], [], []
    for index, patient in enumerate(sorted({case.patient for case in cases})):
        held_out = [case for case in cases if case.patient == patient]
        training = [case for case in cases if case.patient != patient]
        taught = sorted(set().union(*(names[case] for case in training))) if training else []
        untrainable += sorted({f"{patient}:{name}" for case in held_out for name in names[case] if name not in taught})
        classes = [name for name in taught if config.classes is None or name in config.classes]
        if not classes:
            skipped.append(patient)
            log(f"held out {patient}: skipped (its training volumes annotate none of the wanted landmarks)")
            continue
        out = os.path.join(work_dir, f"loo_{index}.safetensors")
        fit_landmarks(dataclasses.replace(config, out=out, classes=classes, quiet=True, resume=False), training)
        detector = LandmarkDetector.from_bundle(load_bundle(out), config.device)
        part = evaluate_landmarks(detector, held_out, seed=config.seed)
        records += part["records"]
        right += round((part["patch_top1_accuracy"] or 0) * part["patches"])
        total += part["patches"]
        seconds.append(part["seconds_per_volume"])
        log(f"held out {patient}: {part['reported']}/{part['annotated_landmarks']} reported, "
            f"median error {_mm(part['median_error_mm'])}, false reports {part['false_reports']}")
    return dict(summarise(records, right, total, seconds), untrainable=untrainable, skipped_folds=skipped)


def _mm(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1f} mm"


def report_lines(metrics: Dict) -> List[str]:
    lines = [
        f"annotated landmarks {metrics['annotated_landmarks']}, reported {metrics['reported']}, false reports {metrics['false_reports']}",
        f"localisation error: mean {_mm(metrics['mean_error_mm'])}, median {_mm(metrics['median_error_mm'])}",
        "identification rate: " + ", ".join(f"within {d} mm {metrics[f'identification_rate_{d}mm']:.3f}" for d in (10, 20)
                                            if metrics[f"identification_rate_{d}mm"] is not None),
    ]
    if metrics["patch_top1_accuracy"] is not None:
        lines.append(f"top-1 patch accuracy {metrics['patch_top1_accuracy']:.3f} ({metrics['patches']} patches)")
    lines.append("| landmark | annotated | reported | mean error | median error | ≤10 mm | ≤20 mm | false reports |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, row in metrics["per_landmark"].items():
        lines.append(f"| {name} | {row['annotated']} | {row['reported']} | {_mm(row['mean_error_mm'])} | {_mm(row['median_error_mm'])} | "
                     f"{row['within_10mm']} | {row['within_20mm']} | {row['false_reports']} |")
    return lines
