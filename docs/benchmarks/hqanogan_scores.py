"""HQ-AnoGAN's image scores compared on the bundle's VALIDATION patients of ../shared/data/lgg_flair.

    OMP_NUM_THREADS=1 python docs/benchmarks/hqanogan_scores.py --data ../shared/data/lgg_flair --model hqanogan_lgg.safetensors

For each ``image_score`` (combined, reconstruction, latent) the level calibration and thresholds are
refitted on the normal validation slices (as ``trainer calibrate`` does), then the validation patients
are scored under the LGG protocol (``benchmark_lgg.py --split validation``). Test patients are never
read. Prints one markdown row per score. The default (combined) was fixed before these figures.
"""

from __future__ import annotations

import argparse
import copy
import sys

import lgg_common
from AnomalyDetectLib.bundle import load_bundle

from trainer.calibrate import calibrate_and_validate
from trainer.evaluate import evaluate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    bundle = load_bundle(args.model)
    original = copy.deepcopy(bundle.manifest)
    cases = lgg_common.held_out_cases(args.data, bundle, "validation")
    print("| image score | slice AUROC | slice AP | position-matched AUROC | pixel AUROC | Dice @ thr. |")
    print("|---|---|---|---|---|---|")
    for score in ("combined", "reconstruction", "latent"):
        manifest = copy.deepcopy(original)
        manifest["architecture"]["image_score"] = score
        bundle.manifest = manifest
        calibration, thresholds, _ = calibrate_and_validate(manifest, bundle.build_networks("cpu"), "cpu", cases, 0.95, 0.99, quiet=True)
        manifest.update(calibration=calibration, thresholds=thresholds)
        m = evaluate(bundle, cases, device="cpu", foreground_raw=lgg_common.BRAIN_RAW)
        print(f"| {score} | {m['slice_auroc']:.3f} | {m['slice_ap']:.3f} | {m['position_matched_auroc']:.3f} | "
              f"{m['pixel_auroc']:.3f} | {m['pixel_dice']:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
