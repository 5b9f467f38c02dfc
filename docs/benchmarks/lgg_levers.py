"""Issue 12's scoring levers, measured on the LGG VALIDATION patients: the same networks re-scored with each map.

    python docs/benchmarks/lgg_levers.py --data ../shared/data/lgg_flair --work DIR [--model M ...] [--bootstrap 1000]

For every ``--model`` (default: the bundled model) and every scoring variant below, the bundle is
re-calibrated on its own normal validation slices (``python -m trainer calibrate``: level
calibration and thresholds, no tumour labels) into DIR, then scored with
``heldout_report.py --split validation``. Prints one markdown row per (model, variant) with
patient-bootstrap 95 % intervals. Validation figures: used to choose, never reported as the result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import lgg_common  # noqa: F401  (puts the project on sys.path)

HERE = os.path.dirname(os.path.abspath(__file__))

VARIANTS = {
    "mgmsd_brighter, rim 10 mm": {"map": "mgmsd_brighter", "intensity_weighting": None},
    "residual_brighter, rim 10 mm": {"map": "residual_brighter", "intensity_weighting": None},
    "mgmsd_brighter × intensity": {"map": "mgmsd_brighter", "intensity_weighting": {"direction": "brighter", "offset_sd": 1.0}},
    "residual_brighter × intensity": {"map": "residual_brighter", "intensity_weighting": {"direction": "brighter", "offset_sd": 1.0}},
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--model", action="append", default=None)
    parser.add_argument("--variants", default=None, help="comma-separated subset of: " + "; ".join(VARIANTS))
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    from AnomalyDetectLib.bundle import default_bundle_path

    os.makedirs(args.work, exist_ok=True)
    chosen = [v.strip() for v in args.variants.split(",")] if args.variants else list(VARIANTS)
    rows = []
    for model in args.model or [default_bundle_path()]:
        for number, name in enumerate(chosen):
            out = os.path.join(args.work, f"{os.path.splitext(os.path.basename(model))[0]}_v{number}.safetensors")
            subprocess.run([sys.executable, "-m", "trainer", "calibrate", "--model", model, "--data", args.data, "--out", out,
                            "--scoring", json.dumps(VARIANTS[name])], check=True, stdout=subprocess.DEVNULL)
            report = out + ".json"
            subprocess.run([sys.executable, os.path.join(HERE, "heldout_report.py"), "--model", out, "--lgg", args.data,
                            "--split", "validation", "--bootstrap", str(args.bootstrap), "--out-json", report], check=True,
                           stdout=subprocess.DEVNULL)
            with open(report) as handle:
                figures = json.load(handle)["lgg"]["model"]

            def cell(key, figures=figures):
                value, interval = figures["point"].get(key), figures["interval_95"].get(key)
                if value is None:
                    return "–"
                return f"{value:.3f} ({interval[0]:.2f}–{interval[1]:.2f})" if interval else f"{value:.3f}"

            rows.append(f"| {os.path.basename(model)} | {name} | {cell('slice_auroc')} | {cell('position_matched_auroc')} | "
                        f"{cell('pixel_auroc')} | {cell('dice')} | {cell('sensitivity')} / {cell('specificity')} |")
            print(rows[-1], flush=True)
    print("\n| model | map | slice AUROC | position-matched | pixel AUROC | Dice @ thr. | flagged sens. / spec. |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
