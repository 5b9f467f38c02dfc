"""Paired patient-bootstrap comparison of two or more bundles on the same LGG patients (issue 12's decisions).

    python docs/benchmarks/paired_compare.py --lgg ../shared/data/lgg_flair --split validation \
        --model BASE.safetensors --model CANDIDATE.safetensors [--model ...] [--bootstrap 2000]

Two models scored on the same patients are correlated: a hard patient is hard for both. Separate intervals
(heldout_report) ignore that and are too wide for telling the models apart; here each bootstrap draw takes
the same patients for every model, and the interval is that of the difference (candidate − base, the first
``--model``). A difference whose interval excludes 0 is a win or a loss; otherwise it is not shown to be
either. The models must share one patient split (``trainer fit --split-seed``). Only validation patients
should decide anything; ``--split test`` exists to report a decision already made.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict

import heldout_report
import lgg_common
import numpy as np
from AnomalyDetectLib.pipeline import Detector


def paired_differences(base, candidate, draws, seed=0):
    """{figure: (point difference, 2.5 %, 97.5 %, share of draws with candidate > base)} over patient draws."""
    point_base, point_candidate = heldout_report.figures(base), heldout_report.figures(candidate)
    rng = np.random.default_rng(seed)
    samples = defaultdict(list)
    for _ in range(draws):
        chosen = rng.integers(0, len(base), len(base))
        try:
            a = heldout_report.figures([base[i] for i in chosen])
            b = heldout_report.figures([candidate[i] for i in chosen])
        except ValueError:  # a draw without both classes
            continue
        for key in a:
            if a[key] is not None and b[key] is not None:
                samples[key].append(b[key] - a[key])
    out = {}
    for key, values in samples.items():
        if point_base[key] is None or point_candidate[key] is None:
            continue
        values = np.asarray(values)
        out[key] = (point_candidate[key] - point_base[key], float(np.percentile(values, 2.5)),
                    float(np.percentile(values, 97.5)), float((values > 0).mean()))
    return out


def main() -> int:
    args = lgg_common.several_models_parser(__doc__, "the base first, then one or more candidates", 2000).parse_args()
    if len(args.model) < 2:
        raise SystemExit("Give a base model and at least one candidate.")
    bundles = lgg_common.bundles_on_one_split(args.model)
    cases = lgg_common.held_out_cases(args.lgg, bundles[0], args.split)
    records = []
    for path, bundle in zip(args.model, bundles):
        model_records, _, seconds, _ = heldout_report.run(Detector.from_bundle(bundle, "cpu"), cases, "lgg", 0)
        heldout_report.report(f"{os.path.basename(path)} ({seconds:.2f} s/volume)", model_records, 0)
        records.append(model_records)
    for path, candidate in zip(args.model[1:], records[1:]):
        print(f"\n{os.path.basename(path)} − {os.path.basename(args.model[0])}, paired over {len(cases)} {args.split} patients "
              f"({args.bootstrap} draws): difference [95 % interval], share of draws > 0")
        for key, (difference, low, high, share) in paired_differences(records[0], candidate, args.bootstrap).items():
            verdict = "higher" if low > 0 else "lower" if high < 0 else "not shown different"
            print(f"  {key:24s} {difference:+.3f} [{low:+.3f}, {high:+.3f}]  {share:.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
