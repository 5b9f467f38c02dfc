"""Does a translation model repair lesions, or has it settled on the identity? Label-free, on normal validation slices.

    OMP_NUM_THREADS=1 python docs/benchmarks/attention_collapse.py --data ../shared/data/lgg_flair --model A.safetensors [--model B ...]

For each bundle: the normal slices of its validation patients (no tumour label is read) get pseudo-lesions
(the default generator, a fixed seed); printed are the generator's attention A inside and outside the
lesions, how much of the lesion G(y) removes (|G(y) − y| inside the lesion against the lesion's own
contrast |x − y|), and how well the residual_brighter map finds them (slice AUROC of its 99th percentile,
lesioned vs clean copies; pixel AUROC over the foreground). A model with A ≈ 0 everywhere returns its
input unchanged: its maps carry only noise, whatever its reconstruction loss says.
"""

from __future__ import annotations

import argparse
import os
import sys

import lgg_common  # noqa: F401  (puts the repository on sys.path)
import numpy as np
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.models.base import reconstruction_map
from AnomalyDetectLib.preprocess import normaliser_from_config
from AnomalyDetectLib.pseudolesion import PseudoLesionConfig, add_pseudo_lesions
from sklearn.metrics import roc_auc_score

from trainer.data import discover_data, load_slices


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--seed", type=int, default=777, help="seed of the pseudo-lesions")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | A inside lesions | A outside (head) | lesion removed by G | synthetic slice AUROC | synthetic pixel AUROC |")
    print("|---|---|---|---|---|---|")
    all_cases = discover_data(args.data).cases
    prepared = {}  # models of one split, normalisation and size share their slices and pseudo-lesions
    for path in args.model:
        bundle = load_bundle(path)
        if bundle.spec.method != "translation":
            raise SystemExit(f"{path}: not a translation model")
        patients = tuple(bundle.manifest["training"]["validation_patients"])
        key = (patients, repr(bundle.manifest["normalisation"]), bundle.spec.input_size)
        if key not in prepared:
            cases = [case for case in all_cases if case.patient in set(patients)]
            slices = load_slices(cases, normaliser_from_config(bundle.manifest["normalisation"]), bundle.spec.input_size, 0.1)
            clean = torch.from_numpy(slices.images[slices.labels == 0])[:, None]
            prepared[key] = (clean, *add_pseudo_lesions(clean, PseudoLesionConfig(), seed=args.seed))
        clean, lesioned, alpha = prepared[key]
        lesion, head = alpha > 0.5, lesioned > 0.1
        generator = bundle.build_networks("cpu").eval()["to_normal"]
        with torch.no_grad():
            repaired, _, attention = generator(lesioned)
            clean_map = reconstruction_map(clean, generator(clean)[0], "residual_brighter")
            lesion_map = reconstruction_map(lesioned, repaired, "residual_brighter")
        removed = float((repaired - lesioned).abs()[lesion].mean() / (clean - lesioned).abs()[lesion].mean())
        top = lambda maps: torch.quantile(maps.flatten(1), 0.99, dim=1).numpy()  # noqa: E731
        has_lesion = lesion.flatten(1).any(1).numpy()
        slice_auroc = roc_auc_score(np.r_[np.zeros(len(clean)), has_lesion], np.r_[top(clean_map), top(lesion_map)])
        pixel_auroc = roc_auc_score(lesion[head].numpy().astype(int), lesion_map[head].numpy())
        inside = float(attention[lesion].mean()) if attention is not None else float("nan")
        outside = float(attention[head & ~lesion].mean()) if attention is not None else float("nan")
        print(f"| {os.path.basename(path)} | {inside:.3f} | {outside:.3f} | {removed:.2f} | {slice_auroc:.3f} | {pixel_auroc:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
