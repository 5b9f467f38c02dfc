"""The skull-stripped share chosen on the BraTS cases by leave-one-patient-out (BENCHMARKS, "Choosing the skull-stripped share").

    python docs/benchmarks/brats_share_loo.py --brats ../shared/data/brats2013_flair \
        --models S050.safetensors,S065.safetensors,S075.safetensors,S090.safetensors [--bootstrap 1000] [--out-json F]

Each model is a bundle with a masked profile (``trainer calibrate --masked-profile``); all must share
the network and differ in the profile only. Every case is scored once per model with the BraTS
protocol of ``heldout_report.py``. The criterion on a set of cases is slice AUROC + pixel AUROC + Dice
at the profile's own threshold, pooled; within ``--tie`` of the best, the smaller share wins. For each
case the share is chosen on the others and the case is scored with it: the pooled held-out results are
the leave-one-out figures, also paired against the smallest share and the trivial baseline on the same
patients. The share chosen on all cases is printed last.
"""

from __future__ import annotations

import argparse
import json
import sys

import heldout_report
import paired_compare
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.pipeline import Detector


def profile_share(bundle) -> float:
    profile = bundle.manifest.get("masked_profile")
    if not profile:
        raise SystemExit(f"{bundle.path} has no masked profile (trainer calibrate --masked-profile).")
    return float((profile.get("intensity_weighting") or {}).get("share", 0.5))


def criterion(records) -> float:
    f = heldout_report.figures(records)
    return f["slice_auroc"] + f["pixel_auroc"] + f["dice"]


def choose(by_share, patients, tie):
    """The share with the best criterion on ``patients`` (ties within ``tie``: the smaller), and every share's sum."""
    sums = {share: criterion([r for r in records if r["patient"] in patients]) for share, records in by_share.items()}
    best = max(sums.values())
    return min(share for share, value in sums.items() if value >= best - tie), sums


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brats", required=True, help="../shared/data/brats2013_flair")
    parser.add_argument("--models", required=True, help="comma-separated bundles, one per candidate share")
    parser.add_argument("--tie", type=float, default=0.01)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out-json", default=None)
    args = parser.parse_args()

    cases = heldout_report.brats_cases(args.brats)
    by_share, baseline = {}, None
    for path in args.models.split(","):
        bundle = load_bundle(path)
        share = profile_share(bundle)
        if share in by_share:
            raise SystemExit(f"Two models with share {share}.")
        records, base, _seconds, _extra = heldout_report.run(Detector.from_bundle(bundle, args.device), cases, "brats", 0)
        if {r["profile"] for r in records} != {"masked"}:
            raise SystemExit(f"{path}: not every BraTS case was scored with the masked profile.")
        by_share[share] = records
        baseline = baseline or base
        print(f"share {share}: {path}, {len(records)} cases scored", flush=True)

    patients = [r["patient"] for r in next(iter(by_share.values()))]
    held_out, folds = [], []
    for patient in patients:
        share, sums = choose(by_share, set(patients) - {patient}, args.tie)
        held_out.append(next(r for r in by_share[share] if r["patient"] == patient))
        folds.append({"held_out": patient, "share": share, "sums_on_the_others": sums})
        print(f"held out {patient}: share {share} (sums on the other {len(patients) - 1}: "
              + ", ".join(f"{s}: {v:.3f}" for s, v in sums.items()) + ")")
    chosen, sums_all = choose(by_share, set(patients), args.tie)
    out = {"folds": folds, "leave_one_out": heldout_report.report("Leave-one-out (each case at the share chosen on the others)",
                                                                  held_out, args.bootstrap)}
    for share, records in by_share.items():
        out[f"share_{share}"] = heldout_report.report(f"Share {share} on every case", records, args.bootstrap)
    out["baseline"] = heldout_report.report("Trivial baseline", baseline, args.bootstrap)
    # Every model's records (and so held_out) follow the order of `cases`: the pairs line up patient by patient.
    reference = by_share[min(by_share)]  # the smallest share: the shipped one when the rule was written
    for name, base in ((f"share {min(by_share)}", reference), ("the trivial baseline", baseline)):
        differences = paired_compare.paired_differences(base, held_out, args.bootstrap)
        print(f"\nLeave-one-out − {name}, paired over the same patients ({args.bootstrap} draws):")
        no_flags = base is baseline  # the baseline flags nothing: its sensitivity and specificity say nothing
        for key, (point, low, high, _above) in differences.items():
            if not (no_flags and key in ("sensitivity", "specificity")):
                print(f"  {key:24s} {point:+.3f} [{low:+.3f}, {high:+.3f}]")
        out[f"paired_leave_one_out_minus_{name.replace(' ', '_')}"] = differences
    out["chosen_on_all"] = {"share": chosen, "sums": sums_all}
    print(f"\nchosen on all {len(patients)} cases: share {chosen} (sums: " + ", ".join(f"{s}: {v:.3f}" for s, v in sums_all.items()) + ")")
    if args.out_json:
        with open(args.out_json, "w") as handle:
            json.dump(out, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
