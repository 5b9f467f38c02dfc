"""Benchmark a bundle on held-out patients (test by default) of ../shared/data/lgg_flair.

    python docs/benchmarks/benchmark_lgg.py --data ../shared/data/lgg_flair [--split test|validation] [--model M] [--out-json F]

Prints one markdown table row set: the bundle, and the trivial intensity baseline of
../shared/DATA.md on the same patients and protocol (FLAIR > 20 brain pixels, slices
with ≥ 10 % brain). The Dice threshold is the bundle's (99th percentile of normal
validation pixels); the baseline's Dice threshold is the 99th percentile of its map on
the normal counted slices of the same patients (also label-free). "best Dice" is an
oracle over thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys

import lgg_common
import numpy as np
from AnomalyDetectLib.bundle import default_bundle_path, load_bundle

from trainer import metrics
from trainer.data import read_case
from trainer.evaluate import evaluate


def baseline(cases) -> dict:
    """Map = FLAIR / (99th brain percentile of the patient); slice score = 99th percentile of the map in the brain."""
    labels, scores, masks, maps, regions, per_volume_labels, per_volume_scores = [], [], [], [], [], [], []
    for case in cases:
        volume, mask, slice_labels = read_case(case)
        voxels = volume.voxels.astype(np.float32)
        brain = voxels > lgg_common.BRAIN_RAW
        anomaly = voxels / np.percentile(voxels[brain], 99)
        counted = brain.mean(axis=(1, 2)) >= lgg_common.MIN_BRAIN_FRACTION
        slice_scores = np.array([np.percentile(anomaly[k][brain[k]], 99) if counted[k] else 0.0 for k in range(len(voxels))])
        labels.append(slice_labels[counted])
        scores.append(slice_scores[counted])
        per_volume_labels.append(slice_labels[counted])
        per_volume_scores.append(slice_scores[counted])
        masks.append(mask[counted])
        maps.append(anomaly[counted])
        regions.append(brain[counted])
    normal_pixels = np.concatenate([m[r & ~lab.any(axis=(1, 2))[:, None, None]] for m, r, lab in zip(maps, regions, masks)])
    threshold = float(np.percentile(normal_pixels, 99))
    slice_part = metrics.slice_metrics(np.concatenate(labels), np.concatenate(scores))
    pixel_part = metrics.pixel_metrics(masks, maps, regions, threshold)
    return {
        "slice_auroc": slice_part["auroc"], "slice_ap": slice_part["ap"],
        "position_matched_auroc": metrics.position_matched(per_volume_labels, per_volume_scores)["auroc"],
        "pixel_auroc": pixel_part["auroc"], "pixel_ap": pixel_part["ap"], "pixel_dice": pixel_part["dice"],
        "pixel_best_dice_oracle": pixel_part["best_dice_oracle"],
    }


def row(name: str, m: dict, extra: str = "") -> str:
    def f(key):
        value = m.get(key)
        return "–" if value is None else f"{value:.3f}"

    return (f"| {name} | {f('slice_auroc')} | {f('slice_ap')} | {f('position_matched_auroc')} | {f('pixel_auroc')} | "
            f"{f('pixel_ap')} | {f('pixel_dice')} | {f('pixel_best_dice_oracle')} | {extra} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--split", choices=["validation", "test"], default="test",
                        help="test: patients set aside untouched (default); validation: the patients used for selection and calibration")
    parser.add_argument("--out-json", default=None)
    args = parser.parse_args()
    bundle = load_bundle(args.model or default_bundle_path())
    cases = lgg_common.held_out_cases(args.data, bundle, args.split)
    model_metrics = evaluate(bundle, cases, device=args.device, foreground_raw=lgg_common.BRAIN_RAW)
    base = baseline(cases)
    training = bundle.spec.training
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(cases)} {args.split} patients, {model_metrics['counted_slices']} counted slices "
          f"({model_metrics['tumour_slices']} with tumour); protocol of ../shared/DATA.md")
    print("| method | slice AUROC | slice AP | position-matched AUROC | pixel AUROC | pixel AP | Dice @ calibrated thr. "
          "| best Dice (oracle) | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row(os.path.basename(bundle.path), model_metrics,
              f"train {training.training_seconds / 60:.1f} min, detect {model_metrics['seconds_per_volume']:.2f} s/volume ({args.device})"))
    print(row("trivial intensity baseline", base, "FLAIR / patient p99"))
    print(f"uncalibrated slice AUROC (no level calibration): {model_metrics['slice_auroc_uncalibrated']:.3f}; "
          f"sensitivity/specificity at the calibrated slice threshold: {model_metrics['sensitivity_at_calibrated_threshold']:.3f}/"
          f"{model_metrics['specificity_at_calibrated_threshold']:.3f}; peak RSS of this process {peak_mb:.0f} MB")
    if args.out_json:
        with open(args.out_json, "w") as handle:
            json.dump({"model": model_metrics, "baseline": base}, handle, indent=2, default=float)


if __name__ == "__main__":
    sys.exit(main())
