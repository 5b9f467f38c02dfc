"""How well thresholding the FLAIR finds LGG tumour pixels once scalp and skull are gone (issue 12; a diagnostic).

    python docs/benchmarks/lgg_threshold_depth.py --lgg ../shared/data/lgg_flair [--split validation] [--rims 10,20,30]

Each of the bundle's held-out patients is made skull-stripped by
``trainer.masked.simulate_brain_extraction`` at each rim (only tissue deeper than that many mm
inside the head is kept), then scored with the trivial map of ../shared/DATA.md (FLAIR / the
patient's 99th brain percentile) under the BraTS protocol (brain = above the background constant,
a slice counts at ≥ 5 % brain). Prints the pooled pixel AUROC, the median per-patient pixel AUROC
and the tumour voxels kept. If thresholding stays well below its BraTS figure (0.937) even deep
inside the brain, this collection's gliomas are less hyperintense than BraTS's, and no simulated
skull stripping of it can stand in for BraTS when choosing how much say intensity gets.
"""

from __future__ import annotations

import argparse
import sys

import lgg_common
import numpy as np
from AnomalyDetectLib.bundle import default_bundle_path, load_bundle
from sklearn.metrics import roc_auc_score

from trainer.data import read_case
from trainer.masked import simulate_brain_extraction


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lgg", required=True)
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--model", default=None, help="bundle whose split and normalisation are used (default: the bundled one)")
    parser.add_argument("--rims", default="10,20,30", help="comma-separated rims in mm")
    args = parser.parse_args()
    bundle = load_bundle(args.model or default_bundle_path())
    cases = lgg_common.held_out_cases(args.lgg, bundle, args.split)
    volumes = [read_case(case) for case in cases]
    for rim in (float(value) for value in args.rims.split(",")):
        labels, scores, per_patient = [], [], []
        for volume, mask, _ in volumes:
            stripped = simulate_brain_extraction(volume, bundle.manifest["normalisation"], rim).voxels
            brain = stripped > stripped.min()
            counted = brain.mean(axis=(1, 2)) >= 0.05
            values, truth = stripped[counted][brain[counted]], mask[counted][brain[counted]]
            labels.append(truth)
            scores.append(values / np.percentile(values, 99))
            if 0 < truth.sum() < truth.size:
                per_patient.append(roc_auc_score(truth, values))
        pooled = roc_auc_score(np.concatenate(labels), np.concatenate(scores))
        kept = sum(int(truth.sum()) for truth in labels)
        print(f"rim {rim:g} mm: pooled pixel AUROC {pooled:.3f}, median per patient {np.median(per_patient):.3f}, "
              f"tumour voxels kept {kept} ({len(per_patient)} patients with tumour and normal pixels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
