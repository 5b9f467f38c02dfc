"""Translation model on 2D head CT, normal vs haemorrhage (../shared/data/head_ct_hemorrhage).

    python docs/benchmarks/head_ct.py --data ../shared/data/head_ct_hemorrhage --work WORK [--max-minutes 10] [--threads 1]

Runs what a user runs (README, "Training on your own data"): ``fit`` on the class folders
(stratified patient split 60/20/20 %, the translation method's defaults, the 8-bit CT
normalisation ``fit`` picks for PNGs) and ``evaluate`` on the validation and on the test
images, skipping any step whose output is already in WORK. Then prints the figures with
95 % stratified bootstrap intervals (``trainer.metrics.bootstrap_interval``, 2000
replicates, seed 0) and the training time read from the bundle, beside a trivial baseline
on the same images: the mean grey value of the head without bone (20 < grey < 240; fresh
blood is brighter than brain), fixed before looking at any result and not tuned.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import lgg_common  # noqa: F401  (puts the project on sys.path)
from AnomalyDetectLib.bundle import read_manifest
from AnomalyDetectLib.volume import read_volume

from trainer.metrics import bootstrap_interval, slice_metrics


def baseline_score(path: str) -> float:
    """Mean grey value of the head without air and bone (20 < grey < 240)."""
    grey = read_volume(path).voxels
    return float(grey[(grey > 20) & (grey < 240)].mean())


def _run(arguments) -> None:
    command = [sys.executable, "-m", "trainer"] + arguments
    print("$ python -m trainer " + " ".join(arguments), flush=True)
    subprocess.run(command, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--max-minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    model = os.path.join(args.work, "headct_translation.safetensors")
    if not os.path.exists(model):
        _run(["fit", "--method", "translation", "--data", args.data, "--modality", "CT", "--test-fraction", "0.2", "--epochs", "1000",
              "--batch-size", "16", "--max-minutes", str(args.max_minutes), "--threads", str(args.threads), "--quiet", "--out", model])
    rows = []
    for split in ("validation", "test"):
        out_json = os.path.join(args.work, f"headct_{split}.json")
        if not os.path.exists(out_json):
            _run(["evaluate", "--model", model, "--data", args.data, "--device", "cpu", "--split", split, "--out-json", out_json,
                  "--roc-png", os.path.join(args.work, f"headct_{split}_roc.png")])
        with open(out_json) as handle:
            result = json.load(handle)
        labels = [row["label"] for row in result["images"]]
        scores = [row["score"] for row in result["images"]]
        interval = bootstrap_interval(labels, scores)
        baseline = [baseline_score(row["image"]) for row in result["images"]]
        rows.append((split, result, interval, slice_metrics(labels, baseline)["auroc"], bootstrap_interval(labels, baseline)["auroc_ci"]))
    training = read_manifest(model)["training"]
    print(f"\nTraining: {training['training_seconds'] / 60:.1f} min, {training['steps']} steps (selected step {training['selected_step']}), "
          f"{training['normal_training_slices']} normal training images, device {training['device']}")
    print("| split | images (normal / haemorrhage) | image AUROC [95 % CI] | image AP [95 % CI] | sens. / spec. at calibrated threshold "
          "| baseline AUROC [95 % CI] |")
    print("|---|---|---|---|---|---|")
    for split, result, interval, baseline_auroc, baseline_ci in rows:
        auroc_low, auroc_high = interval["auroc_ci"]
        ap_low, ap_high = interval["ap_ci"]
        print(f"| {split} | {result['image_n_neg']} / {result['image_n_pos']} | {result['image_auroc']:.3f} [{auroc_low:.2f}, {auroc_high:.2f}] "
              f"| {result['image_ap']:.3f} [{ap_low:.2f}, {ap_high:.2f}] "
              f"| {result['image_sensitivity_at_calibrated_threshold']:.2f} / {result['image_specificity_at_calibrated_threshold']:.2f} "
              f"| {baseline_auroc:.3f} [{baseline_ci[0]:.2f}, {baseline_ci[1]:.2f}] |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
