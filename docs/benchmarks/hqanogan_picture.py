"""Reconstructions and maps of the same LGG validation slices, side by side: x, x̂ and the map per model.

    OMP_NUM_THREADS=1 python docs/benchmarks/hqanogan_picture.py --data ../shared/data/lgg_flair \\
        --model hqanogan_lgg.safetensors [--model fanogan.safetensors --model anogan_encoder.safetensors] \\
        --out docs/images/hqanogan_reconstructions.png

Slices: from the FIRST model's validation patients, the two tumour slices with the largest tumour
area (two different patients) and two normal slices (no tumour in the slice) of two other patients at
mid-volume. x̂ per method: HQ-AnoGAN G_ema(E(x)) (refined if the bundle says so), f-AnoGAN G(E(x)),
AnoGAN G(z_Γ) of its bundle's latent search; the map is the bundle's own (scoring "map"), on the
model's 64×64 grid, shown with one colour scale per column.
"""

from __future__ import annotations

import argparse
import sys

import lgg_common
import numpy as np
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.models.base import reconstruction_map
from AnomalyDetectLib.pipeline import Detector
from AnomalyDetectLib.preprocess import resize_slices

from trainer.data import read_case


def reconstruct(bundle, networks, images: torch.Tensor) -> torch.Tensor:
    method = bundle.spec.method
    with torch.no_grad():
        if method == "hqanogan":
            from AnomalyDetectLib.models.hqanogan.method import encode_and_reconstruct

            return encode_and_reconstruct(networks, images, networks.score_settings)[1]
        if method == "fanogan":
            from AnomalyDetectLib.models.fanogan import izif_losses

            return izif_losses(networks, images, 1.0)[3]
        if method == "anogan":
            from AnomalyDetectLib.models.anogan.method import run_search

            return run_search(networks, images, networks.latent_search).reconstructions
    raise SystemExit(f"no reconstruction for method {method}")


def pick_slices(cases):
    """[(case, slice index, has tumour)]: two largest-tumour slices and two normal mid-volume slices, four patients."""
    tumour, normal = [], []
    for case in cases:
        volume, mask, labels = read_case(case)
        area = mask.sum(axis=(1, 2))
        if labels.any():
            tumour.append((int(area.max()), case, int(area.argmax())))
        middle = len(labels) // 2
        candidates = [k for k in range(middle - 3, middle + 4) if 0 <= k < len(labels) and not labels[k]]
        if candidates:
            normal.append((case, candidates[0]))
    tumour.sort(key=lambda item: -item[0])
    chosen = [(case, k, True) for _, case, k in tumour[:2]]
    used = {case.patient for case, _, _ in chosen}
    chosen += [(case, k, False) for case, k in normal if case.patient not in used][:2]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bundles = [load_bundle(path) for path in args.model]
    slices = pick_slices(lgg_common.held_out_cases(args.data, bundles[0], "validation"))
    columns = 1 + 2 * len(bundles)
    figure, axes = plt.subplots(len(slices), columns, figsize=(2.0 * columns, 2.1 * len(slices)), squeeze=False)
    for bundle_index, bundle in enumerate(bundles):
        networks = bundle.build_networks("cpu")
        detector = Detector(bundle.manifest, networks, "cpu")
        size, map_kind = detector.input_size, detector.scoring.map
        for row, (case, k, has_tumour) in enumerate(slices):
            volume, mask, _ = read_case(case)
            scale = detector.normaliser.fit(volume.voxels)
            image = torch.from_numpy(resize_slices(scale.apply(volume.voxels[k : k + 1]), size))[:, None]
            recon = reconstruct(bundle, networks, image)
            anomaly = reconstruction_map(image, recon, map_kind)[0, 0].numpy()
            if bundle_index == 0:
                axes[row, 0].imshow(image[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
                contour = resize_slices(mask[k : k + 1].astype(np.float32), size)[0]
                if has_tumour:
                    axes[row, 0].contour(contour, levels=[0.5], colors="lime", linewidths=0.8)
                axes[row, 0].set_ylabel(f"{case.patient[-13:]}\nslice {k} ({'tumour' if has_tumour else 'normal'})", fontsize=7)
            axes[row, 1 + 2 * bundle_index].imshow(recon[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[row, 2 + 2 * bundle_index].imshow(anomaly, cmap="inferno", vmin=0, vmax=max(float(np.percentile(anomaly, 99.5)), 1e-6))
        name = bundle.spec.method
        axes[0, 1 + 2 * bundle_index].set_title(f"{name}: x̂", fontsize=8)
        axes[0, 2 + 2 * bundle_index].set_title(f"{name}: {map_kind}", fontsize=8)
    axes[0, 0].set_title("x (validation; tumour outlined)", fontsize=8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}: {[(case.patient, k, t) for case, k, t in slices]}")


if __name__ == "__main__":
    sys.exit(main())
