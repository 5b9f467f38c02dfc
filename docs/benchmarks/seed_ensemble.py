"""Spread over training seeds, and what averaging the seeds' outputs buys (issue 12, lever 4), on LGG validation patients.

    python docs/benchmarks/seed_ensemble.py --lgg ../shared/data/lgg_flair --split validation \
        --model A.safetensors --model B.safetensors --model C.safetensors [--bootstrap 1000]

Each model alone gets heldout_report's figures (patient-bootstrap intervals); then their mean and spread
over seeds; then the ensemble: the mean of the models' level-calibrated slice scores and of their maps,
flagged above the mean of their slice thresholds and segmented above the mean of their map thresholds
(every threshold comes from normal validation slices, as each model's own; no tumour label is used).
The models must share one patient split (``trainer fit --split-seed``).
"""

from __future__ import annotations

import os
import sys
import time
from types import SimpleNamespace

import heldout_report
import lgg_common
import numpy as np
from AnomalyDetectLib.pipeline import Detector

FIGURES = ("slice_auroc", "position_matched_auroc", "pixel_auroc", "dice", "sensitivity", "specificity")


class Ensemble:
    """Runs several detectors on a volume and averages their slice scores and maps."""

    def __init__(self, detectors):
        self.detectors = detectors

    def run(self, volume):
        started = time.perf_counter()
        results = [detector.run(volume) for detector in self.detectors]
        scores = np.mean([r.slice_scores for r in results], axis=0)
        slice_threshold = float(np.mean([d.manifest["thresholds"]["slice"] for d in self.detectors]))
        return SimpleNamespace(
            slice_scores=scores, flagged=scores > slice_threshold, anomaly_map=np.mean([r.anomaly_map for r in results], axis=0),
            map_threshold=float(np.mean([r.map_threshold for r in results])), timings={"total": time.perf_counter() - started},
        )


def main() -> int:
    args = lgg_common.several_models_parser(__doc__, "a bundle; give several (one per seed)", 1000).parse_args()
    bundles = lgg_common.bundles_on_one_split(args.model)
    cases = lgg_common.held_out_cases(args.lgg, bundles[0], args.split)
    detectors = [Detector.from_bundle(bundle, "cpu") for bundle in bundles]
    singles = []
    for path, detector in zip(args.model, detectors):
        records, _, seconds, _ = heldout_report.run(detector, cases, "lgg", 0)
        singles.append(heldout_report.report(f"{os.path.basename(path)} ({seconds:.2f} s/volume)", records, args.bootstrap))
    print(f"\nmean ± SD over the {len(singles)} models (each figure's point value):")
    for name in FIGURES:
        values = [s["point"][name] for s in singles if s["point"].get(name) is not None]
        if values:
            print(f"  {name}: {np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f} "
                  f"(min {min(values):.3f}, max {max(values):.3f})")
    records, _, seconds, _ = heldout_report.run(Ensemble(detectors), cases, "lgg", 0)
    heldout_report.report(f"ensemble of {len(detectors)} ({seconds:.2f} s/volume)", records, args.bootstrap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
