"""AnoGAN detection cost: seconds per volume for the paper's Γ = 500 random-start search and for
encoder-initialised searches with a few steps, on the bundled sample volume (no ../shared/data needed).

    python docs/benchmarks/anogan_mapping_time.py --model anogan_encoder.safetensors [--threads 1]

The model must be an AnoGAN bundle trained with ``--architecture '{"encoder": true}'`` (for the
encoder rows). For every setting the script prints detect's wall time for the whole volume (all
counted slices in one batched search), the mean final mapping loss A(x) over the counted slices (lower
= G(z_Γ) closer to the slice) and the slice AUROC of A(x) on this one volume (a single patient: an
illustration, not a benchmark).
"""

from __future__ import annotations

import argparse
import copy
import time

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.cli import sample_volume_path
from AnomalyDetectLib.pipeline import Detector
from AnomalyDetectLib.volume import read_volume
from sklearn.metrics import roc_auc_score

SETTINGS = [
    ("encoder z₁ = E(x), Γ = 0", {"mapping_init": "encoder", "mapping_steps": 0}),
    ("encoder z₁ = E(x), Γ = 10", {"mapping_init": "encoder", "mapping_steps": 10}),
    ("encoder z₁ = E(x), Γ = 20", {"mapping_init": "encoder", "mapping_steps": 20}),
    ("random z₁, Γ = 100 (our default)", {"mapping_init": "random", "mapping_steps": 100}),
    ("random z₁, Γ = 500 (the paper)", {"mapping_init": "random", "mapping_steps": 500}),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="AnoGAN bundle trained with an encoder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.model)
    if bundle.spec.method != "anogan" or not bundle.spec.architecture.get("encoder"):
        raise SystemExit(f"{args.model} is not an AnoGAN bundle with an encoder")
    path = sample_volume_path()
    volume = read_volume(path)
    labels = read_volume(path.replace("_flair", "_mask")).voxels.any(axis=(1, 2))
    print(f"{volume.name}: {volume.shape[0]} slices of {volume.shape[1]}×{volume.shape[2]}, torch threads {args.threads}")
    print("| mapping | seconds per volume | mean A(x) | slice AUROC, level-calibrated (raw A(x)), this volume |")
    print("|---|---|---|---|", flush=True)
    for title, change in SETTINGS:
        manifest = copy.deepcopy(bundle.manifest)
        manifest["architecture"].update(change)
        manifest["scoring"] = dict(manifest.get("scoring", {}), slice_score="image")
        variant = type(bundle)(manifest, bundle.tensors, bundle.path)
        detector = Detector(manifest, variant.build_networks("cpu"), "cpu")
        started = time.perf_counter()
        result = detector.run(volume)
        seconds = time.perf_counter() - started
        counted = result.scored
        raw = roc_auc_score(labels[counted], result.raw_slice_scores[counted])
        calibrated = roc_auc_score(labels[counted], result.slice_scores[counted])
        print(f"| {title} | {seconds:.1f} | {np.mean(result.raw_slice_scores[counted]):.1f} | {calibrated:.3f} ({raw:.3f}) |", flush=True)


if __name__ == "__main__":
    main()
