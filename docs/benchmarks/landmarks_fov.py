"""False reports of the landmark detector, measured where an organ is truly absent: outside the field of view.

    python docs/benchmarks/landmarks_fov.py --data ../shared/data/ct_landmarks_openkbp --work WORK \
        [--model AnomalyDetect/Resources/Models/landmarks_head_neck_ct.safetensors] [--margin-mm 10]

On OpenKBP an organ without a contour is usually still in the scan (it was not contoured), so reports of
uncontoured organs say nothing about false reports. Here each test patient's CT (WORK/test.csv, from
openkbp_split.py) is cut along its slice axis so that contoured organs lie wholly outside the kept slab:

* ``neck``: only the slices more than ``--margin-mm`` below the lowest voxel of the brainstem, parotid and
  mandible contours (those four organs are absent; larynx, cord and oesophagus may remain);
* ``head``: only the slices more than ``--margin-mm`` above the highest voxel of the larynx and oesophagus
  contours (patients with a larynx contour; those organs are absent).

An organ counts as *absent* when its contour has no voxel in the slab, *present* when all of it is inside;
organs cut by the slab boundary are left out of both counts, as are uncontoured ones. The detector runs
with the shipped confidence threshold. Reported: false reports per absent organ, and for present compact
organs the identification rate (nearest, within 10 mm) in the cropped scan. No choice is made on these
figures; the test patients are used because they are the ones the model never saw.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.landmark_detection import LandmarkDetector
from AnomalyDetectLib.volume import Volume, read_volume

from trainer.landmark_benchmark import detect_case, group_figures, score_cases
from trainer.landmarks import discover_landmark_cases

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "..", "AnomalyDetect", "Resources", "Models", "landmarks_head_neck_ct.safetensors")
LABELS = {1: "Brainstem", 2: "SpinalCord", 3: "RightParotid", 4: "LeftParotid", 5: "Esophagus", 6: "Larynx", 7: "Mandible"}
HEAD, NECK = ("Brainstem", "LeftParotid", "RightParotid", "Mandible"), ("Larynx", "Esophagus")
COMPACT = ["Brainstem", "Mandible", "LeftParotid", "RightParotid", "Larynx"]
MIN_SLICES = 16


def crop_slices(volume: Volume, first: int, stop: int) -> Volume:
    """Slices ``first … stop − 1`` of ``volume`` with the geometry that keeps every voxel where it was."""
    ijk_to_ras = volume.ijk_to_ras.copy()
    ijk_to_ras[:3, 3] = volume.ijk_to_ras[:3, :3] @ np.array([0.0, 0.0, first]) + volume.ijk_to_ras[:3, 3]
    return Volume(np.ascontiguousarray(volume.voxels[first:stop]), ijk_to_ras, volume.name, volume.modality)


def organ_slices(labels: np.ndarray) -> dict:
    """{organ: (first, last) k index of its contour} for the organs contoured in ``labels`` (k, j, i)."""
    out = {}
    for value, name in LABELS.items():
        k = np.nonzero((labels == value).any(axis=(1, 2)))[0]
        if k.size:
            out[name] = (int(k.min()), int(k.max()))
    return out


def slabs(extents: dict, n_slices: int, inferior_step: bool, margin: int) -> dict:
    """{crop name: (first, stop)} of the slabs that exist for this patient (k grows inferiorly when ``inferior_step``)."""
    out = {}
    head = [extents[o] for o in HEAD if o in extents]
    neck = [extents[o] for o in NECK if o in extents]
    if head:
        if inferior_step:  # below the head organs = larger k
            out["neck"] = (max(e[1] for e in head) + margin + 1, n_slices)
        else:
            out["neck"] = (0, min(e[0] for e in head) - margin)
    if "Larynx" in extents:
        if inferior_step:
            out["head"] = (0, min(e[0] for e in neck) - margin)
        else:
            out["head"] = (max(e[1] for e in neck) + margin + 1, n_slices)
    return {name: (first, stop) for name, (first, stop) in out.items() if stop - first >= MIN_SLICES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--work", required=True, help="folder with test.csv (openkbp_split.py); results go here")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--margin-mm", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = load_bundle(args.model)
    detector = LandmarkDetector.from_bundle(bundle, "cpu")
    threshold = float(bundle.spec.thresholds.confidence)
    rows = {"neck": [], "head": []}
    seconds = []
    for case in discover_landmark_cases(os.path.join(args.work, "test.csv")):
        volume, points = case.read()
        labels = read_volume(os.path.join(args.data, "labels", f"{case.patient}_labels.nii.gz"), check=False).voxels
        extents = organ_slices(labels)
        step_mm = float(np.linalg.norm(volume.ijk_to_ras[:3, 2]))
        inferior_step = volume.ijk_to_ras[2, 2] < 0  # RAS z falls with k: k runs towards the feet
        for crop, (first, stop) in slabs(extents, volume.shape[0], inferior_step, int(np.ceil(args.margin_mm / step_mm))).items():
            absent = {o for o, (k0, k1) in extents.items() if k1 < first or k0 >= stop}
            present = {o for o, (k0, k1) in extents.items() if k0 >= first and k1 < stop}
            record = detect_case(detector, crop_slices(volume, first, stop), {o: points[o] for o in present if o in points},
                                 f"{case.patient}:{crop}")
            seconds.append(record.seconds)
            for row in score_cases([record], detector.classes, threshold):
                if row["landmark"] in present or row["landmark"] in absent:
                    rows[crop].append(row)
            print(f"{case.patient} {crop}: slices {first}-{stop - 1}, absent {sorted(absent)}, reported "
                  f"{sorted(n for n, c in record.confidence.items() if c >= threshold and n in record.found)}", flush=True)
    summary = {"threshold": threshold, "margin_mm": args.margin_mm, "seconds_per_crop": float(np.mean(seconds))}
    for crop, crop_rows in rows.items():
        summary[crop] = {"volumes": len({r["volume"] for r in crop_rows})}
        for name in detector.classes:
            mine = [r for r in crop_rows if r["landmark"] == name]
            absent = [r for r in mine if not r["annotated"]]
            if absent:
                summary[crop].setdefault("absent", {})[name] = {"absent": len(absent), "false_reports": sum(r["reported"] for r in absent)}
        present = group_figures([r for r in crop_rows if r["annotated"]], COMPACT)
        summary[crop]["present_compact"] = {k: v for k, v in present.items() if k not in ("false_reports", "absent")}
    with open(os.path.join(args.work, "landmarks_fov.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
