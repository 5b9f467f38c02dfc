"""The patient split of the head-and-neck landmark benchmark (../shared/data/ct_landmarks_openkbp).

    python docs/benchmarks/openkbp_split.py --data ../shared/data/ct_landmarks_openkbp --work WORK [--test 40] [--seed 0]

Writes ``WORK/train.csv``, ``WORK/validation.csv`` and ``WORK/test.csv``, landmark manifests that
``python -m trainer fit --method landmarks --data`` reads (columns image, landmarks, patient):

* test: ``--test`` patients drawn with ``--seed`` from the challenge's *train* list, never used to
  train or to select anything;
* train: the rest of the challenge's train list;
* validation: the challenge's own validation patients (model and threshold selection).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from typing import Dict, List

import numpy as np


def split_patients(data: str, test: int, seed: int) -> Dict[str, List[str]]:
    """{"train", "validation", "test"} → sorted patient ids (from ``data/patients.csv``)."""
    with open(os.path.join(data, "patients.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    challenge_train = sorted(row["patient"] for row in rows if row["openkbp_split"] == "train")
    validation = sorted(row["patient"] for row in rows if row["openkbp_split"] == "validation")
    if test >= len(challenge_train):
        raise SystemExit(f"--test {test} leaves no training patient (the challenge lists {len(challenge_train)}).")
    drawn = set(np.random.default_rng(seed).choice(challenge_train, size=test, replace=False).tolist())
    return {"train": [p for p in challenge_train if p not in drawn], "validation": validation,
            "test": sorted(drawn)}


def write_manifests(data: str, work: str, split: Dict[str, List[str]]) -> None:
    os.makedirs(work, exist_ok=True)
    data = os.path.abspath(data)
    for part, patients in split.items():
        with open(os.path.join(work, f"{part}.csv"), "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "landmarks", "patient"])
            for patient in patients:
                writer.writerow([os.path.join(data, f"{patient}.nii.gz"), os.path.join(data, f"{patient}_landmarks.csv"), patient])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the ct_landmarks_openkbp folder")
    parser.add_argument("--work", required=True)
    parser.add_argument("--test", type=int, default=40, help="patients of the challenge's train list held out for the test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    split = split_patients(args.data, args.test, args.seed)
    write_manifests(args.data, args.work, split)
    print(", ".join(f"{part} {len(patients)}" for part, patients in split.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
