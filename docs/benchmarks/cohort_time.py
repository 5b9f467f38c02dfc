"""Seconds per volume: 30 LGG-size volumes in one cohort run vs 30 single runs of ``python -m AnomalyDetectLib detect``.

Each single run is a new process (Python, torch and the model loaded each time), as a shell loop
over a study would do; the cohort run is one process over a CSV manifest of the same volumes.
Both use the bundled model on the CPU with one torch thread and write every output file.

    OMP_NUM_THREADS=1 python docs/benchmarks/cohort_time.py --data ../shared/data/lgg_flair
    OMP_NUM_THREADS=1 python docs/benchmarks/cohort_time.py        # no data: 30 phantoms of 256×256×36

Prints both figures and writes nothing outside a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import subprocess
import sys
import tempfile
import time

import lgg_common  # puts the project on sys.path


def volumes(data, folder, count):
    if data:
        paths = sorted(glob.glob(os.path.join(data, "*_flair.nii.gz")))[:count]
        if len(paths) < count:
            raise SystemExit(f"{data} holds {len(paths)} *_flair.nii.gz volumes; {count} are needed.")
        return paths
    from AnomalyDetectLib.phantom import make_head_phantom
    from AnomalyDetectLib.volume import write_volume

    paths = []
    for seed in range(count):
        volume, _ = make_head_phantom(seed=seed, shape=(36, 256, 256), lesion=seed % 2 == 1)
        paths.append(os.path.join(folder, f"phantom{seed:02d}_flair.nii.gz"))
        write_volume(volume, paths[-1])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder of *_flair.nii.gz volumes (the first --count are used); default: phantoms")
    parser.add_argument("--count", type=int, default=30, help="volumes (default 30)")
    args = parser.parse_args()
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                       PYTHONPATH=os.pathsep.join([os.path.join(lgg_common.ROOT, "AnomalyDetect"), lgg_common.ROOT]))
    command = [sys.executable, "-m", "AnomalyDetectLib", "detect", "--device", "cpu", "--quiet"]
    with tempfile.TemporaryDirectory() as work:
        paths = volumes(args.data, work, args.count)
        started = time.perf_counter()
        for index, path in enumerate(paths):
            subprocess.run(command + [path, "--out", os.path.join(work, "single", str(index))], env=environment, check=True,
                           stdout=subprocess.DEVNULL)
        single = (time.perf_counter() - started) / len(paths)

        manifest = os.path.join(work, "cohort.csv")
        with open(manifest, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "image"])
            writer.writerows([f"v{index:02d}", path] for index, path in enumerate(paths))
        started = time.perf_counter()
        subprocess.run(command + [manifest, "--out", os.path.join(work, "cohort")], env=environment, check=True, stdout=subprocess.DEVNULL)
        cohort = (time.perf_counter() - started) / len(paths)
        with open(os.path.join(work, "cohort", "cohort.csv"), newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [row["status"] for row in rows] == ["done"] * len(paths), "every volume of the cohort run succeeded"
        analysis = sum(float(row["seconds"]) for row in rows) / len(rows)

    shape = "LGG FLAIR, 256×256×20–88" if args.data else "phantoms, 256×256×36"
    print(f"{len(paths)} volumes ({shape}), bundled model, CPU, 1 torch thread:")
    print(f"  {len(paths)} single runs (a new process each): {single:.2f} s per volume")
    print(f"  one cohort run:                      {cohort:.2f} s per volume (of which {analysis:.2f} s reading, analysing, writing)")
    print(f"  speed-up: {single / cohort:.1f}×")


if __name__ == "__main__":
    main()
