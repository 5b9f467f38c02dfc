"""A synthetic head-and-neck CT for tests: the voxel-wise median of the training patients, aligned on their landmarks.

    python docs/benchmarks/openkbp_template.py --work WORK --out Testing/data/head_neck_template.nii.gz [--step 2]

No single patient's image: every voxel is the median over the ``WORK/train.csv`` patients (resampled to the
most common grid) after each was translated so that its annotated landmarks best match the
population's mean positions. Bone, air and soft tissue stay where most patients have them, with
edges softened by anatomical variation. Written at every ``--step``-th voxel in-plane (a smaller file),
cropped to the body, with ``<out stem>_landmarks.csv`` (the mean landmark positions, LPS mm).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
from AnomalyDetectLib.annotations import Landmark, write_landmarks_csv
from AnomalyDetectLib.volume import Volume, write_volume
from scipy import ndimage

from trainer.landmarks import discover_landmark_cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True, help="folder holding train.csv (openkbp_split.py)")
    parser.add_argument("--out", required=True, help="template volume (.nii.gz)")
    parser.add_argument("--step", type=int, default=1, help="keep every step-th voxel along i and j")
    args = parser.parse_args()
    loaded = [case.read() for case in discover_landmark_cases(os.path.join(args.work, "train.csv"))]
    spacing = Counter(tuple(round(s, 2) for s in volume.spacing) for volume, _ in loaded).most_common(1)[0][0]
    names = sorted({name for _, points in loaded for name in points})
    reference = {name: np.mean([p[name] for _, p in loaded if name in p], axis=0) for name in names}
    for _ in range(3):  # translations towards the mean, then the mean of the translated points
        shifts = [np.mean([reference[n] - p[n] for n in p], axis=0) for _, p in loaded]
        reference = {name: np.mean([p[name] + s for (_, p), s in zip(loaded, shifts) if name in p], axis=0) for name in names}
    grid = next(volume for volume, _ in loaded if tuple(round(s, 2) for s in volume.spacing) == spacing)
    k, j, i = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in grid.shape], indexing="ij")
    ras = np.stack([i.ravel(), j.ravel(), k.ravel(), np.ones(i.size, np.float32)]) .T @ grid.ijk_to_ras.T
    stack = np.empty((len(loaded),) + grid.shape, dtype=np.int16)
    for index, ((volume, _), shift) in enumerate(zip(loaded, shifts)):
        source = (ras - np.r_[shift, 0.0]) @ np.linalg.inv(volume.ijk_to_ras).T  # ijk in this patient
        stack[index] = ndimage.map_coordinates(volume.voxels.astype(np.float32), source[:, [2, 1, 0]].T, order=1,
                                               cval=-1000.0).reshape(grid.shape).round().astype(np.int16)
    median = np.median(stack, axis=0).astype(np.int16)
    body = np.argwhere(median > -500)
    low, high = body.min(axis=0), body.max(axis=0) + 1
    step = np.array([1, args.step, args.step])
    crop = median[low[0]:high[0], low[1]:high[1]:args.step, low[2]:high[2]:args.step]
    matrix = grid.ijk_to_ras.copy()
    matrix[:3, 3] = grid.ijk_to_ras[:3, :3] @ low[::-1] + grid.ijk_to_ras[:3, 3]
    matrix[:3, :3] = grid.ijk_to_ras[:3, :3] * step[::-1]
    write_volume(Volume(crop, matrix, "head_neck_template", "CT"), args.out)
    stem = args.out[: -len(".nii.gz")] if args.out.endswith(".nii.gz") else os.path.splitext(args.out)[0]
    write_landmarks_csv([Landmark(n, tuple(reference[n])) for n in names], stem + "_landmarks.csv", "LPS")
    print(f"{len(loaded)} patients at {spacing} mm; template {crop.shape} (k, j, i), {os.path.getsize(args.out) / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
