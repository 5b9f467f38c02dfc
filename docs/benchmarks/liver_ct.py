"""Unsupervised translation model on abdominal CT, applied to the liver-lesion CT of 3D-IRCADb 1.1.

    python docs/benchmarks/liver_ct.py --data ../shared/data --work WORK [--model M] [--max-steps 240] \
        [--picture docs/images/liver_ircadb_translation.png]

Normal abdominal CT available offline (../shared/DATA.md): the TotalSegmentator example CT
(abdomen–pelvis, 112 slices at 3 mm, stored RAS-wise) for training and its 20-slice upper-abdomen
DICOM series (another scan) for selection and calibration; a CSV manifest with a fixed split says
so. The model is the bundled LGG configuration (pseudo-lesions, U-Net discriminator, global + local
attention, width 8) on the CT soft-tissue window; its map is ``mgmsd`` (both directions: liver
lesions are mostly darker than liver on contrast CT, while ``mgmsd_brighter`` keeps brighter ones
only). Without ``--model`` it trains one into WORK first. It then runs detection on
ircadb_3Dircadb1.1 (no lesion masks are available, so only the map and scores can be shown) and
writes a montage of slices through the liver with the map laid over them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.orientation import InPlaneOrientation
from AnomalyDetectLib.overview import render_overview, write_png
from AnomalyDetectLib.pipeline import detect
from AnomalyDetectLib.volume import read_volume

TRAINING = "ct_mr_volumes/totalseg_example_ct/example_ct.nii.gz"
VALIDATION = "ct_mr_volumes/totalseg_example_ct_dicom/dicom"
QUERY = "ct_mr_volumes/ircadb_3Dircadb1.1/3Dircadb1.1_ct.nii.gz"


def train(args) -> str:
    manifest = os.path.join(args.work, "normal_abdominal_ct.csv")
    with open(manifest, "w") as handle:
        handle.write("image,label,patient,split\n")
        handle.write(f"{os.path.abspath(os.path.join(args.data, TRAINING))},normal,totalseg_example_ct,training\n")
        handle.write(f"{os.path.abspath(os.path.join(args.data, VALIDATION))},normal,totalseg_example_dicom,validation\n")
    out = os.path.join(args.work, "translation_abdominal_ct.safetensors")
    if not os.path.exists(out):
        command = [sys.executable, "-m", "trainer", "fit", "--method", "translation", "--data", manifest, "--out", out,
                   "--modality", "CT", "--epochs", "200", "--max-steps", str(args.max_steps), "--threads", str(args.threads),
                   "--quiet", "--architecture", json.dumps({"base_channels": 8, "n_res_blocks": 2}),
                   "--scoring", json.dumps({"map": "mgmsd", "interior_erosion_mm": 10})]
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the shared data folder (holding ct_mr_volumes/)")
    parser.add_argument("--work", required=True)
    parser.add_argument("--model", default=None, help="an abdominal CT bundle; default: train one into --work")
    parser.add_argument("--max-steps", type=int, default=240)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--picture", default=None, help="PNG montage to write")
    parser.add_argument("--slices", default=None, help="comma-separated slice indices for the picture (default: 8 spread over the upper two thirds)")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    bundle = load_bundle(args.model or train(args))
    training = bundle.manifest["training"]
    print(f"model: {bundle.path}; {training['normal_training_slices']} training slices, "
          f"{training['normal_validation_slices']} validation slices, {training['steps']} steps, "
          f"{training['training_seconds'] / 60:.1f} min")
    volume = read_volume(os.path.join(args.data, QUERY))
    started = time.perf_counter()
    result = detect(volume, bundle, device="cpu")
    print(f"detect on {volume.name} {volume.shape}: {time.perf_counter() - started:.1f} s; "
          f"{int(result.scored.sum())} scored slices, {int(result.flagged.sum())} flagged "
          f"(slice threshold {result.slice_threshold:.3f}); volume score {result.volume_score:.3f}")
    scored = np.flatnonzero(result.scored)
    print("slice: score  " + "  ".join(f"{k}:{result.slice_scores[k]:.2f}" for k in scored))
    print(f"flagged slices: {result.flagged_slices}")
    if args.picture:
        ks = ([int(k) for k in args.slices.split(",")] if args.slices
              else [int(k) for k in np.linspace(scored[len(scored) // 3], scored[-1] - 8, 8).round()])
        shown = InPlaneOrientation.of(volume.ijk_to_ras)
        rgb = render_overview([shown.apply(volume.voxels[k]) for k in ks], [shown.apply(result.anomaly_map[k]) for k in ks], ks,
                              [float(result.slice_scores[k]) for k in ks], threshold=result.slice_threshold,
                              map_threshold=result.map_threshold, window=(-160.0, 240.0), columns=4)
        write_png(rgb, args.picture)
        print(f"wrote {args.picture} (slices {ks})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
