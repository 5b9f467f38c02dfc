"""A picture of the pseudo-lesion generator (AnomalyDetectLib/pseudolesion.py): slices, their pseudo-lesions, the masks.

    python docs/benchmarks/pseudolesion_examples.py --out docs/images/pseudolesion_examples.png
    python docs/benchmarks/pseudolesion_examples.py --data DIR --modality MR --out examples.png

Without ``--data`` the slices are synthetic head phantoms (AnomalyDetectLib.phantom); with it, normal
counted slices of the data's first volumes (trainer.data: folder or CSV manifest). The slices are
normalised and resized as the trainer does (``--size``), lesions are drawn with ``--seed`` and the
default :class:`PseudoLesionConfig`. Rows: input, with pseudo-lesion (kind in the title), mask α.
"""

from __future__ import annotations

import argparse
import os

import lgg_common  # noqa: F401  (puts the project on sys.path)
import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from AnomalyDetectLib.phantom import make_head_phantom  # noqa: E402
from AnomalyDetectLib.preprocess import MRPercentile, resize_slices  # noqa: E402
from AnomalyDetectLib.pseudolesion import PseudoLesionConfig, add_pseudo_lesions  # noqa: E402


def phantom_slices(count: int, size: int) -> np.ndarray:
    """One slice near the middle of each of ``count`` normal phantoms, normalised and resized."""
    slices = []
    for seed in range(count):
        volume, _ = make_head_phantom(seed=seed, shape=(24, 64, 64))
        scale = MRPercentile().fit(volume.voxels)
        slices.append(resize_slices(scale.apply(volume.voxels[9 + seed % 6 : 10 + seed % 6]), size)[0])
    return np.stack(slices)


def data_slices(data: str, modality: str, count: int, size: int) -> np.ndarray:
    """``count`` normal counted slices spread over the data's volumes (as the trainer loads them)."""
    from AnomalyDetectLib.scoring import DEFAULT_SCORING

    from trainer.data import discover_cases, load_slices
    from trainer.fit import normaliser_for

    cases = discover_cases(data)[: max(1, count)]
    slices = load_slices(cases, normaliser_for(modality), size, DEFAULT_SCORING["min_foreground_fraction"])
    normal = slices.images[slices.labels == 0]
    if len(normal) == 0:
        raise SystemExit(f"No normal counted slices in the first {len(cases)} case(s) of {data}.")
    return normal[np.linspace(0, len(normal) - 1, count).round().astype(int)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--data", default=None, help="training data (folder or CSV); phantoms when absent")
    parser.add_argument("--modality", default="MR", choices=["MR", "CT"])
    parser.add_argument("--count", type=int, default=6, help="slices (columns)")
    parser.add_argument("--size", type=int, default=64, help="model input size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    images = data_slices(args.data, args.modality, args.count, args.size) if args.data else phantom_slices(args.count, args.size)
    tensor = torch.from_numpy(images)[:, None]
    lesioned, masks, is_blob = add_pseudo_lesions(tensor, PseudoLesionConfig(), seed=args.seed, return_kinds=True)

    figure, axes = plt.subplots(3, len(images), figsize=(1.9 * len(images), 6.0), squeeze=False)
    for column in range(len(images)):
        kind = "blob" if bool(is_blob[column]) else "patch"
        panels = [(images[column], "input"), (lesioned[column, 0].numpy(), f"pseudo-lesion ({kind})"), (masks[column, 0].numpy(), "mask α")]
        for row, (picture, title) in enumerate(panels):
            axes[row, column].imshow(picture, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            axes[row, column].set_title(title, fontsize=8)
            axes[row, column].axis("off")
    figure.tight_layout()
    folder = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(folder, exist_ok=True)
    figure.savefig(args.out, dpi=110)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
