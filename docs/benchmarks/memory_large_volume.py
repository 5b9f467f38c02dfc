"""Peak memory of detect() on a CT-sized volume (512 × 512 × 600 int16) beyond the input itself.

    python docs/benchmarks/memory_large_volume.py [--slices 600] [--model M]

Builds the volume in memory (stacked phantom slices, 300 MiB as int16), records the
process's resident memory, runs detect, and prints the peak resident memory above
that level (Linux /proc/self/status VmHWM, reset before the run). The float32 anomaly
map itself is 600 MiB of that; the rest is one batch of slices and the model.
"""

from __future__ import annotations

import argparse
import time

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
from AnomalyDetectLib.bundle import default_bundle_path, load_bundle
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.pipeline import detect
from AnomalyDetectLib.volume import Volume


def resident_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    bundle = load_bundle(args.model or default_bundle_path())
    phantom, _ = make_head_phantom(seed=1, shape=(24, 512, 512))
    voxels = np.empty((args.slices, 512, 512), dtype=np.int16)
    for k in range(args.slices):
        voxels[k] = phantom.voxels[k % 24].astype(np.int16) * 10 - 1000
    volume = Volume(voxels, np.diag([-0.7, -0.7, 1.0, 1.0]), "large", "")
    detect(Volume(voxels[:4].copy(), volume.ijk_to_ras, "warm"), bundle, device="cpu")
    before = resident_mb("VmRSS")
    reset_peak()
    started = time.perf_counter()
    result = detect(volume, bundle, device="cpu")
    seconds = time.perf_counter() - started
    peak = resident_mb("VmHWM")
    input_mb = voxels.nbytes / 2**20
    map_mb = result.anomaly_map.nbytes / 2**20
    print(f"volume 512×512×{args.slices} int16 ({input_mb:.0f} MiB): detect {seconds:.1f} s on CPU; "
          f"peak resident memory above the input {peak - before:.0f} MiB (of which the float32 map {map_mb:.0f} MiB)")


if __name__ == "__main__":
    main()
