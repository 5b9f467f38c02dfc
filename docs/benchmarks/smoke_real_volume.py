"""CI smoke step: detect on one real LGG FLAIR volume of the bundle's untouched test patients; print its slice AUROC.

    python docs/benchmarks/smoke_real_volume.py --data ../shared/data/lgg_flair
"""

from __future__ import annotations

import argparse
import time

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
from AnomalyDetectLib.bundle import default_bundle_path, load_bundle
from AnomalyDetectLib.pipeline import detect
from sklearn.metrics import roc_auc_score

from trainer.data import read_case


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    bundle = load_bundle(default_bundle_path())
    cases = lgg_common.held_out_cases(args.data, bundle, "test")
    # The held-out patient with the most tumour and normal slices gives the most informative single AUROC.
    best = None
    for case in cases:
        volume, mask, labels = read_case(case)
        counted = (volume.voxels > lgg_common.BRAIN_RAW).mean(axis=(1, 2)) >= lgg_common.MIN_BRAIN_FRACTION
        balance = min(labels[counted].sum(), (1 - labels[counted]).sum())
        if best is None or balance > best[0]:
            best = (balance, case, volume, labels, counted)
    _, case, volume, labels, counted = best
    started = time.perf_counter()
    result = detect(volume, bundle, device="auto")
    seconds = time.perf_counter() - started
    auroc = roc_auc_score(labels[counted], result.slice_scores[counted])
    print(f"real-data smoke: {case.patient} ({volume.shape[0]} slices, {int(labels[counted].sum())} tumour slices counted): "
          f"slice AUROC {auroc:.3f}, flagged {len(result.flagged_slices)} slices, detect {seconds:.1f} s on {result.device}")
    assert np.isfinite(result.anomaly_map).all() and result.anomaly_map.shape == volume.shape


if __name__ == "__main__":
    main()
