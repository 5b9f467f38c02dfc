"""Time landmark detection on one volume (default: the 512×512×129 ircadb CT) and list what was found.

    python docs/benchmarks/landmark_detect_time.py --model LANDMARK_BUNDLE [--volume PATH] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time

import lgg_common  # noqa: F401  (puts the project on sys.path)
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.landmark_detection import LandmarkDetector
from AnomalyDetectLib.volume import read_volume


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--volume", default="../shared/data/ct_mr_volumes/ircadb_3Dircadb1.1/3Dircadb1.1_ct.nii.gz")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    volume = read_volume(args.volume)
    detector = LandmarkDetector.from_bundle(load_bundle(args.model), "cpu")
    started = time.perf_counter()
    result = detector.detect(volume)
    seconds = time.perf_counter() - started
    print(f"{volume.name} {volume.shape} (k, j, i), spacing {tuple(round(s, 2) for s in volume.spacing)} mm: "
          f"{seconds:.1f} s, {result.patches_evaluated} patches, {args.threads} thread(s)")
    for found in result.found:
        print(f"  {found.name}: RAS {tuple(round(v, 1) for v in found.ras)}, confidence {found.confidence:.2f}")
    print(f"  absent: {', '.join(result.absent) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
