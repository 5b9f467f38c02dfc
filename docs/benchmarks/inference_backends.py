"""Detect seconds and peak memory per 256×256×40 volume with each backend: PyTorch, and onnxruntime without torch.

    python docs/benchmarks/inference_backends.py [--model M] [--repeats 5] [--threads 1]

Each backend runs in a fresh child process (the onnxruntime one with ``import torch`` made
to fail, as in a Slicer without PyTorch): import time of the core and the engine, model
load, the first detect (kernel warm-up included), the median of ``--repeats`` further
detects, and the process's peak resident memory (VmHWM, Linux). The volume is the bundled
sample (256×256×36) with its first four slices repeated to 40 slices. Both backends run
with ``--threads`` CPU threads (OMP_NUM_THREADS; torch.set_num_threads for torch).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def child(backend: str, model: str, repeats: int, threads: int) -> dict:
    started = time.perf_counter()
    if backend == "onnx":
        sys.modules["torch"] = None  # torch absent: the core must run on numpy, SciPy and onnxruntime alone
    sys.path[:0] = [os.path.join(ROOT, "AnomalyDetect"), ROOT]
    import numpy as np
    from AnomalyDetectLib.bundle import default_bundle_path, load_bundle
    from AnomalyDetectLib.cli import sample_volume_path
    from AnomalyDetectLib.pipeline import Detector
    from AnomalyDetectLib.volume import Volume, read_volume

    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
    else:
        import onnxruntime  # noqa: F401
    imported = time.perf_counter()
    sample = read_volume(sample_volume_path())
    volume = Volume(np.concatenate([sample.voxels, sample.voxels[:4]]), sample.ijk_to_ras, sample.name, sample.modality)
    detector = Detector.from_bundle(load_bundle(model or default_bundle_path()), "cpu", backend)
    loaded = time.perf_counter()
    first = detector.run(volume)
    first_seconds = time.perf_counter() - loaded
    seconds = []
    for _ in range(repeats):
        begun = time.perf_counter()
        result = detector.run(volume)
        seconds.append(time.perf_counter() - begun)
    with open("/proc/self/status") as handle:
        peak = next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmHWM:"))
    return {
        "backend": backend, "device": result.device, "shape_kji": list(volume.shape), "import_s": imported - started,
        "load_model_s": loaded - imported, "first_detect_s": first_seconds, "detect_median_s": float(np.median(seconds)),
        "detect_min_s": min(seconds), "peak_rss_mib": peak, "flagged_slices": first.flagged_slices,
        "torch_loaded": sys.modules.get("torch") is not None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", choices=["torch", "onnx"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.repeats, args.threads)))
        return
    environment = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    rows = []
    for backend in ("torch", "onnx"):
        command = [sys.executable, os.path.abspath(__file__), "--child", backend, "--repeats", str(args.repeats),
                   "--threads", str(args.threads)] + (["--model", args.model] if args.model else [])
        rows.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout))
    print("| backend | imports s | load model s | first detect s | detect s (median) | peak RSS MiB | flagged slices |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['device']} | {row['import_s']:.2f} | {row['load_model_s']:.2f} | {row['first_detect_s']:.2f} | "
              f"{row['detect_median_s']:.2f} | {row['peak_rss_mib']:.0f} | {row['flagged_slices']} |")
    assert not rows[1]["torch_loaded"] and rows[0]["flagged_slices"] == rows[1]["flagged_slices"]
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
