"""Transfer learning: landmark-pretrained mini-VGG features for tumour-vs-normal FLAIR patches, few labelled patients.

    python docs/benchmarks/transfer_lgg.py --data ../shared/data/lgg_flair --landmarks LANDMARK_BUNDLE \
        [--train-patients 4] [--per-class 20] [--repeats 5]

Each repeat draws ``--train-patients`` tumour patients for training (``--per-class`` tumour and
normal-tissue patches each) and scores AUROC on patches of 20 other patients (20 + 20 each);
features: the landmark model's (frozen) vs the same network with random weights, AdaBoost of
decision stumps as the number of learners grows, and both networks fine-tuned end to end.
The landmark model was trained on CT; the patches here are MR (FLAIR, percentile-normalised),
so this measures cross-modality transfer — the only lesion masks available offline are MR.
"""

from __future__ import annotations

import argparse
import sys

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.landmark_detection import LandmarkDetector, landmark_normaliser

from trainer.data import discover_cases, read_case
from trainer.transfer import compare, lesion_patches, summary_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--landmarks", required=True, help="a landmark bundle (python -m trainer fit --method landmarks)")
    parser.add_argument("--train-patients", type=int, default=4)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.landmarks)
    detector = LandmarkDetector.from_bundle(bundle, "cpu")
    extent, size = float(detector.settings["extent_mm"]), detector.size
    normaliser = landmark_normaliser("MR")
    cases = [c for c in discover_cases(args.data) if c.mask]
    rng = np.random.default_rng(0)
    patches = {}
    for case in cases:
        volume, mask, labels = read_case(case)
        if labels.any():
            patches[case.patient] = lesion_patches(volume, mask, normaliser, args.per_class, extent, size, rng)
    patients = sorted(patches)
    print(f"{len(patients)} tumour patients; patches {extent:g} mm, {size}×{size}; landmark model {bundle.path}", flush=True)

    def random_network(seed):
        torch.manual_seed(1000 + seed)
        return bundle.method.build_networks(bundle.spec.architecture)["classifier"].eval()

    results = []
    for repeat in range(args.repeats):
        order = np.random.default_rng(repeat).permutation(patients)
        train, test = order[: args.train_patients], order[args.train_patients : args.train_patients + 20]
        train_x = np.concatenate([patches[p][0] for p in train])
        train_y = np.concatenate([patches[p][1] for p in train])
        test_x = np.concatenate([patches[p][0] for p in test])
        test_y = np.concatenate([patches[p][1] for p in test])
        results.append(compare(detector.network, random_network, train_x, train_y, test_x, test_y, seed=repeat))
        print(f"repeat {repeat}: {len(train_y)} training patches ({train_y.sum()} tumour), {len(test_y)} test patches: "
              + "; ".join(f"{k} fine-tuned {v['fine_tuned_auroc']:.3f}, AdaBoost-200 {v['adaboost_auroc_by_learners'][200]:.3f}"
                          for k, v in results[-1].items()), flush=True)
    print("\n".join(summary_rows(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
