"""Landmark figures on patients a model never saw: detection records, a confidence threshold chosen on
validation patients, patient-bootstrap intervals and the mean-position baseline.

Used by ``docs/benchmarks/landmarks_openkbp.py``. The pieces:

* :func:`detect_case` runs a detector once per volume with a low confidence floor and keeps every
  landmark's position and best confidence, so any threshold at or above the floor can be applied
  afterwards (:func:`score_cases`) without detecting again;
* :class:`MeanPositionBaseline` puts each landmark at its mean position relative to the body's
  bounding box (fitted on training patients): what a detector must beat to have learnt anything;
* :func:`choose_threshold` picks the confidence threshold on validation patients only;
* :func:`bootstrap` gives 95 % intervals by resampling patients (a patient's landmarks move together).

A landmark counts as *identified* when it is reported, the annotated landmark nearest to the report is
the same landmark, and the report lies within 10 mm of it; the rate's denominator is the annotated
landmarks. A *false report* is a landmark reported in a patient whose annotations lack it (organ not
contoured). Coordinates are RAS millimetres throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from AnomalyDetectLib.landmark_detection import LandmarkDetector

IDENTIFY_MM = 10.0


@dataclass
class CaseRecord:
    """What is known of one patient: annotated points, and each landmark's found point and confidence."""

    patient: str
    annotated: Dict[str, List[float]]
    found: Dict[str, List[float]] = field(default_factory=dict)
    confidence: Dict[str, float] = field(default_factory=dict)
    seconds: Optional[float] = None

    def to_json(self) -> Dict:
        return {"patient": self.patient, "annotated": self.annotated, "found": self.found, "confidence": self.confidence,
                "seconds": self.seconds}

    @classmethod
    def from_json(cls, item: Dict) -> CaseRecord:
        return cls(item["patient"], item["annotated"], item.get("found", {}), item.get("confidence", {}), item.get("seconds"))


def detect_case(detector: LandmarkDetector, volume, points: Dict[str, np.ndarray], patient: str, floor: float = 0.05) -> CaseRecord:
    """Detect every landmark of ``detector`` in ``volume`` with confidence floor ``floor`` (found points below it are dropped)."""
    result = detector.detect(volume, min_confidence=floor)
    return CaseRecord(patient, {name: [float(v) for v in p] for name, p in points.items()},
                      {f.name: [float(v) for v in f.ras] for f in result.found},
                      {name: float(value) for name, value in result.best_confidence.items()}, float(result.timings["total"]))


def body_box(volume, normaliser) -> np.ndarray:
    """RAS bounding box ``(2, 3)`` (min, max corner) of the body: the normaliser's foreground voxels."""
    scale = normaliser.fit(volume.voxels)
    kk, jj, ii = np.nonzero(normaliser.foreground(volume.voxels, scale))
    if len(kk) == 0:
        raise ValueError(f"'{volume.name}' has no body voxels")
    corners = np.array([[i, j, k, 1.0] for i in (ii.min(), ii.max()) for j in (jj.min(), jj.max()) for k in (kk.min(), kk.max())])
    ras = (corners @ volume.ijk_to_ras.T)[:, :3]
    return np.stack([ras.min(axis=0), ras.max(axis=0)])


class MeanPositionBaseline:
    """Each landmark at its mean position relative to the body's bounding box (fractions along x, y, z)."""

    def __init__(self, normaliser):
        self.normaliser = normaliser
        self.fractions: Dict[str, np.ndarray] = {}

    def fit(self, samples: Sequence) -> MeanPositionBaseline:
        """``samples``: (volume, {name: RAS point}) pairs of training patients."""
        collected: Dict[str, List[np.ndarray]] = {}
        for volume, points in samples:
            low, high = body_box(volume, self.normaliser)
            for name, point in points.items():
                collected.setdefault(name, []).append((np.asarray(point) - low) / np.maximum(high - low, 1e-6))
        self.fractions = {name: np.mean(values, axis=0) for name, values in collected.items()}
        return self

    def predict(self, volume) -> Dict[str, List[float]]:
        low, high = body_box(volume, self.normaliser)
        return {name: [float(v) for v in low + fraction * (high - low)] for name, fraction in self.fractions.items()}

    def case(self, volume, points: Dict[str, np.ndarray], patient: str) -> CaseRecord:
        """Its guesses as a record (every landmark reported with confidence 1)."""
        found = self.predict(volume)
        return CaseRecord(patient, {name: [float(v) for v in p] for name, p in points.items()}, found, {name: 1.0 for name in found})


def score_cases(cases: Sequence[CaseRecord], classes: Sequence[str], threshold: float) -> List[Dict]:
    """One row per (patient, landmark of ``classes``) with what was annotated and what was reported at ``threshold``.

    Rows whose landmark is neither annotated nor reported are kept: they count as "organ absent".
    """
    rows = []
    for case in cases:
        names = list(case.annotated)
        anchors = np.array([case.annotated[n] for n in names], dtype=float).reshape(-1, 3)
        for name in classes:
            annotated = case.annotated.get(name)
            reported = name in case.found and case.confidence.get(name, 0.0) >= threshold
            found = np.asarray(case.found[name]) if reported else None
            nearest = names[int(np.argmin(np.linalg.norm(anchors - found, axis=1)))] if reported and names else None
            error = float(np.linalg.norm(found - np.asarray(annotated))) if reported and annotated is not None else None
            rows.append({"volume": case.patient, "landmark": name, "annotated": annotated is not None, "reported": reported,
                         "error_mm": error, "nearest_is_right": nearest == name, "confidence": case.confidence.get(name, 0.0)})
    return rows


def group_figures(rows: Sequence[Dict], names: Sequence[str]) -> Dict:
    """Identification rate within 10 mm, median error, annotated / reported / false-report counts over landmarks ``names``."""
    mine = [r for r in rows if r["landmark"] in names]
    annotated = [r for r in mine if r["annotated"]]
    errors = [r["error_mm"] for r in annotated if r["error_mm"] is not None]
    identified = sum(1 for r in annotated if r["error_mm"] is not None and r["nearest_is_right"] and r["error_mm"] <= IDENTIFY_MM)
    return {
        "annotated": len(annotated), "reported": len(errors), "identified_10mm": identified,
        "identification_rate_10mm": identified / len(annotated) if annotated else None,
        "median_error_mm": float(np.median(errors)) if errors else None,
        "false_reports": sum(1 for r in mine if r["reported"] and not r["annotated"]),
        "absent": len({(r["volume"], r["landmark"]) for r in mine if not r["annotated"]}),
    }


def choose_threshold(cases: Sequence[CaseRecord], classes: Sequence[str], candidates: Sequence[float]) -> float:
    """The confidence threshold maximising identified landmarks minus false reports (use validation patients only).

    Ties go to the higher threshold (fewer false reports).
    """
    best, best_value = float(candidates[0]), -np.inf
    for threshold in sorted(candidates):
        figures = group_figures(score_cases(cases, classes, threshold), classes)
        value = figures["identified_10mm"] - figures["false_reports"]
        if value >= best_value:
            best, best_value = float(threshold), value
    return best


def bootstrap(cases: Sequence[CaseRecord], classes: Sequence[str], threshold: float, groups: Dict[str, Sequence[str]],
              rounds: int = 2000, seed: int = 0) -> Dict[str, Dict[str, List[Optional[float]]]]:
    """95 % percentile intervals of each group's identification rate and median error, resampling patients with replacement."""
    rng = np.random.default_rng(seed)
    per_case = [score_cases([case], classes, threshold) for case in cases]
    samples: Dict[str, Dict[str, List[float]]] = {group: {"identification_rate_10mm": [], "median_error_mm": []} for group in groups}
    for _ in range(rounds):
        drawn = rng.integers(0, len(cases), len(cases))
        rows = [row for index in drawn for row in per_case[index]]
        for group, names in groups.items():
            figures = group_figures(rows, names)
            for key in samples[group]:
                if figures[key] is not None:
                    samples[group][key].append(figures[key])
    return {group: {key: ([float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if values else [None, None])
                    for key, values in keys.items()} for group, keys in samples.items()}


def figures_table(cases: Sequence[CaseRecord], classes: Sequence[str], threshold: float, groups: Dict[str, Sequence[str]],
                  rounds: int = 2000) -> Dict:
    """Per-landmark and per-group figures with patient-bootstrap intervals (``rounds`` resamples)."""
    rows = score_cases(cases, classes, threshold)
    every = dict(groups, **{name: [name] for name in classes})
    intervals = bootstrap(cases, classes, threshold, every, rounds)
    return {name: dict(group_figures(rows, names), interval_95=intervals[name]) for name, names in every.items()}


def table_lines(title: str, figures: Dict) -> List[str]:
    """A markdown table of :func:`figures_table` output."""
    def interval(values, digits: int) -> str:
        low, high = values
        return "" if low is None else f" [{low:.{digits}f}–{high:.{digits}f}]"

    lines = [f"**{title}**", "", "| landmark | annotated | identified ≤ 10 mm [95 % CI] | median error mm [95 % CI] | reported | "
             "false reports / organ absent |", "|---|---|---|---|---|---|"]
    for name, row in figures.items():
        rate = "–" if row["identification_rate_10mm"] is None else f"{row['identification_rate_10mm']:.2f}"
        error = "–" if row["median_error_mm"] is None else f"{row['median_error_mm']:.1f}"
        ci = row["interval_95"]
        lines.append(f"| {name} | {row['annotated']} | {rate}{interval(ci['identification_rate_10mm'], 2)} | "
                     f"{error}{interval(ci['median_error_mm'], 1)} | "
                     f"{row['reported']} | {row['false_reports']} / {row['absent']} |")
    return lines
