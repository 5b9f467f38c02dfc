"""A CSV manifest for the small-data ADA runs: every 10th training patient of the seed-0 LGG split, same validation and test patients.

    python docs/benchmarks/hqanogan_small_split.py --data ../shared/data/lgg_flair --out lgg_small.csv

The split (validation and test fraction 0.2, seed 0) is the one ``trainer fit --test-fraction 0.2`` makes;
the manifest fixes it with a ``split`` column, so the small runs are validated on the same 16 patients.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import lgg_common  # noqa: F401  (puts the checkout on sys.path)

from trainer.data import discover_cases, split_by_patient


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--every", type=int, default=10, help="keep every N-th training patient (sorted by name)")
    args = parser.parse_args()
    training, validation, test = split_by_patient(discover_cases(args.data), 0.2, 0, 0.2)
    keep = set(sorted({case.patient for case in training})[:: args.every])
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "mask", "patient", "split"])
        for split, cases in (("training", [c for c in training if c.patient in keep]), ("validation", validation), ("test", test)):
            for case in cases:
                writer.writerow([os.path.abspath(case.image), os.path.abspath(case.mask) if case.mask else "", case.patient, split])
    print(f"{args.out}: {len(keep)} training patients ({sorted(keep)}), {len({c.patient for c in validation})} validation, "
          f"{len({c.patient for c in test})} test")


if __name__ == "__main__":
    sys.exit(main())
