"""Which normal slices outscore tumour slices on the BraTS cases: distance to the tumour, and the tumour's size.

    python docs/benchmarks/brats_slice_ends.py --brats ../shared/data/brats2013_flair [--model M]

A diagnostic of the position-matched AUROC (tumour slices against normal slices within 5 slices of a
tumour slice). For the model and the trivial baseline (heldout_report.py, BraTS protocol) it prints the
AUROC of all tumour slices against normal slices at 1–2, 3–5 and ≥ 6 slices from the nearest tumour
slice, and that of the smallest quarter of tumour slices (by tumour voxels: the tumour's ends) and the
rest against the normal slices within 5. Nothing is chosen by it.
"""

from __future__ import annotations

import argparse
import sys

import heldout_report
import numpy as np
from AnomalyDetectLib.bundle import default_bundle_path, load_bundle
from AnomalyDetectLib.pipeline import Detector
from sklearn.metrics import roc_auc_score


def slice_table(records):
    """Per counted slice: label, distance (slices) to the patient's nearest tumour slice, score, tumour voxels."""
    labels, distance, scores, voxels = [], [], [], []
    for r in records:
        tumour = np.flatnonzero(r["labels"])
        mask, _map, _brain, counted = r["case"]
        labels.append(r["labels"])
        distance.append(np.abs(np.arange(len(r["labels"]))[:, None] - tumour[None, :]).min(axis=1))
        scores.append(r["scores"])
        voxels.append(mask[counted].reshape(len(r["labels"]), -1).sum(axis=1))
    return tuple(np.concatenate(x) for x in (labels, distance, scores, voxels))


def auroc(positive, negative):
    return roc_auc_score(np.r_[np.ones(positive.size), np.zeros(negative.size)], np.r_[positive, negative])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brats", required=True)
    parser.add_argument("--model", default=None, help="bundle (default: the bundled default model)")
    args = parser.parse_args()
    detector = Detector.from_bundle(load_bundle(args.model or default_bundle_path()), "cpu")
    model, baseline, _seconds, _extra = heldout_report.run(detector, heldout_report.brats_cases(args.brats), "brats", 0)
    for name, records in (("model", model), ("trivial baseline", baseline)):
        labels, distance, scores, voxels = slice_table(records)
        tumour, normal = labels == 1, labels == 0
        print(f"{name}:")
        for low, high in ((1, 2), (3, 5), (6, None)):
            chosen = normal & (distance >= low) & (distance <= (high or distance.max()))
            print(f"  all tumour slices vs normal slices {low}{'–' + str(high) if high else '+'} slices away "
                  f"({chosen.sum()}): AUROC {auroc(scores[tumour], scores[chosen]):.3f}")
        near = normal & (distance <= 5)
        cut = np.percentile(voxels[tumour], 25)
        small = tumour & (voxels < cut)
        print(f"  smallest quarter of tumour slices (< {cut:.0f} tumour voxels, {small.sum()}) vs normal within 5 ({near.sum()}): "
              f"AUROC {auroc(scores[small], scores[near]):.3f}; the other tumour slices: {auroc(scores[tumour & ~small], scores[near]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
