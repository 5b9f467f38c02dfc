"""Landmark detector on the real CT volumes of ../shared/data/ct_mr_volumes: leave-one-volume-out, then a final model.

    python docs/benchmarks/landmarks_ct.py --data ../shared/data --work WORK [--epochs 15] [--min-volumes 2]

Turns ``landmarks_centroids.json`` (centroids of TotalSegmentator masks, LPS mm — model outputs,
not manual annotations) into one Slicer markups file per CT volume, as a user's annotations would
be, and a CSV manifest; then runs ``python -m trainer fit --method landmarks --leave-one-out`` on
the landmarks annotated in at least ``--min-volumes`` volumes (only those can be tested on a volume
the model has not seen). Points are the centroids' LPS millimetres (the voxel indices of the DICOM
series' entry refer to its label map, stored with the row axis reversed). The organ labels of ``example_ct`` come from its top-30-slice crop
``example_ct_sm`` (array slices 82–111 of the full CT; the crop's header origin is stale, so its
voxel centroids are shifted by 82 slices and mapped with the full CT's geometry).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
from AnomalyDetectLib.annotations import Landmark, write_markups_json
from AnomalyDetectLib.volume import read_volume

VOLUMES = {  # case name -> (image relative to ct_mr_volumes, centroid entries to merge with their slice offset)
    "example_ct": ("totalseg_example_ct/example_ct.nii.gz",
                   [("totalseg_example_ct/example_ct.nii.gz", 0), ("totalseg_example_ct/example_ct_sm.nii.gz", 82)]),
    "example_ct_dicom": ("totalseg_example_ct_dicom/dicom", [("totalseg_example_ct_dicom/dicom", 0)]),
    "aorta_crop": ("totalseg_aorta_crop/ct_cropped.nii.gz", [("totalseg_aorta_crop/ct_cropped.nii.gz", 0)]),
    "pulmonary_crop": ("totalseg_pulmonary_crop/ct_cropped.nii.gz", [("totalseg_pulmonary_crop/ct_cropped.nii.gz", 0)]),
}
# The two chest crops are cut from one CT (same grid, voxels identical where they overlap): one patient.
PATIENTS = {"aorta_crop": "chest_cta", "pulmonary_crop": "chest_cta"}


def write_annotations(data: str, work: str) -> dict:
    """One .mrk.json per volume (RAS mm); returns case -> landmark names."""
    root = os.path.join(data, "ct_mr_volumes")
    centroids = json.load(open(os.path.join(root, "landmarks_centroids.json")))
    rows, found = [], {}
    for case, (image, sources) in VOLUMES.items():
        volume = read_volume(os.path.join(root, image))
        points = {}
        for entry, offset in sources:
            for name, item in centroids[entry].items():
                if name in points:  # the full CT's own vertebra centroids win over the crop's partial ones
                    continue
                if offset:  # the crop's stale origin: its voxel index, shifted, on the full CT's grid
                    i, j, k = item["voxel_ijk"]
                    points[name] = (volume.ijk_to_ras @ np.array([i, j, k + offset, 1.0]))[:3]
                else:  # the physical point (the voxel index may refer to a label map stored with other axes)
                    points[name] = np.asarray(item["lps_mm"], dtype=float) * [-1.0, -1.0, 1.0]
        landmarks = [Landmark(name, tuple(point)) for name, point in sorted(points.items())]
        path = os.path.join(work, f"{case}.mrk.json")
        write_markups_json(landmarks, path)
        rows.append(f"{os.path.abspath(os.path.join(root, image))},{path},{PATIENTS.get(case, case)}")
        found[case] = sorted(points)
    with open(os.path.join(work, "landmarks.csv"), "w") as handle:
        handle.write("image,landmarks,patient\n" + "\n".join(rows) + "\n")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the shared data folder (holding ct_mr_volumes/)")
    parser.add_argument("--work", required=True)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--min-volumes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    found = write_annotations(args.data, args.work)
    counts = {}
    for names in found.values():
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    classes = sorted(name for name, count in counts.items() if count >= args.min_volumes)
    print(f"{sum(len(v) for v in found.values())} annotated points in {len(found)} volumes; "
          f"{len(classes)} landmarks in ≥ {args.min_volumes} volumes: {', '.join(classes)}", flush=True)
    command = [sys.executable, "-m", "trainer", "fit", "--method", "landmarks", "--data", os.path.join(args.work, "landmarks.csv"),
               "--out", os.path.join(args.work, "landmarks_ct.safetensors"), "--modality", "CT", "--epochs", str(args.epochs),
               "--threads", str(args.threads), "--leave-one-out", "--quiet", "--architecture", json.dumps({"classes": classes})]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
