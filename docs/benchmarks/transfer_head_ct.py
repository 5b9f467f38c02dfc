"""Transfer learning, same modality: head-and-neck landmark features for normal vs haemorrhage head CT slices.

    python docs/benchmarks/transfer_head_ct.py --data ../shared/data/head_ct_hemorrhage --landmarks LANDMARK_BUNDLE \
        [--train-per-class 10] [--repeats 10]

Each image (an 8-bit windowed axial slice, ``normal/`` or ``hemorrhage/``) is cropped to the head
(pixels above 5 % of the maximum), padded square, resized to the landmark model's 32×32 input and
repeated on its three channels (a 2D slice has no coronal or sagittal plane). Each repeat draws
``--train-per-class`` images of each class for training and scores AUROC on all the others: frozen
features of the landmark model vs the same network with random weights (AdaBoost of decision
stumps as the number of learners grows), and both fine-tuned end to end (``trainer/transfer.py``).
The collection gives no patient identifiers, so images, not patients, are drawn; the PNGs'
window is not stated, so intensities are used as they are (0–1), unlike the model's −1000…1000 HU.
"""

from __future__ import annotations

import argparse
import os
import sys

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.landmark_detection import LandmarkDetector
from skimage.io import imread
from skimage.transform import resize

from trainer.transfer import compare, summary_rows


def slice_patch(path: str, size: int) -> np.ndarray:
    """One image as a (3, size, size) patch in [0, 1]: the head's bounding box, padded square and resized."""
    image = imread(path).astype(np.float32)
    if image.ndim == 3:
        image = image[..., :3].mean(axis=2)
    image /= max(float(image.max()), 1.0)
    rows, columns = np.nonzero(image > 0.05)
    crop = image[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1] if len(rows) else image
    side = max(crop.shape)
    square = np.zeros((side, side), np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    small = resize(square, (size, size), anti_aliasing=True).astype(np.float32)
    return np.repeat(small[None], 3, axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="folder with normal/ and hemorrhage/ PNGs")
    parser.add_argument("--landmarks", required=True, help="a landmark bundle")
    parser.add_argument("--train-per-class", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.landmarks)
    detector = LandmarkDetector.from_bundle(bundle, "cpu")
    patches, labels = [], []
    for label, folder in ((0, "normal"), (1, "hemorrhage")):
        for name in sorted(os.listdir(os.path.join(args.data, folder))):
            if name.lower().endswith(".png"):
                patches.append(slice_patch(os.path.join(args.data, folder, name), detector.size))
                labels.append(label)
    x, y = np.stack(patches), np.asarray(labels)
    print(f"{len(y)} images ({int(y.sum())} haemorrhage); {args.train_per_class} per class train each repeat", flush=True)

    def random_network(seed):
        torch.manual_seed(1000 + seed)
        return bundle.method.build_networks(bundle.spec.architecture)["classifier"].eval()

    results = []
    for repeat in range(args.repeats):
        rng = np.random.default_rng(repeat)
        train = np.concatenate([rng.choice(np.flatnonzero(y == c), args.train_per_class, replace=False) for c in (0, 1)])
        test = np.setdiff1d(np.arange(len(y)), train)
        results.append(compare(detector.network, random_network, x[train], y[train], x[test], y[test], seed=repeat))
        print(f"repeat {repeat}: " + "; ".join(f"{k} fine-tuned {v['fine_tuned_auroc']:.3f}, AdaBoost-200 "
                                              f"{v['adaboost_auroc_by_learners'][200]:.3f}" for k, v in results[-1].items()), flush=True)
    print("\n".join(summary_rows(results)))
    measures = [("fine-tuned", lambda r: r["fine_tuned_auroc"])] + [
        (f"AdaBoost-{count}", lambda r, count=count: r["adaboost_auroc_by_learners"][count]) for count in (10, 200)]
    for label, value in measures:
        gaps = np.array([value(r["landmark-pretrained"]) - value(r["random init"]) for r in results])
        means = [np.mean(np.random.default_rng(b).choice(gaps, len(gaps))) for b in range(2000)]
        low, high = np.percentile(means, [2.5, 97.5])
        print(f"{label} AUROC, pretrained minus random: mean {gaps.mean():+.3f}, 95 % bootstrap interval over repeats [{low:+.3f}, {high:+.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
