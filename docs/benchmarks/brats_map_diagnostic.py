"""Which factor of the intensity-weighted map costs pixel AUROC on skull-stripped FLAIR (issue 12; a diagnostic, not a choice).

    python docs/benchmarks/brats_map_diagnostic.py --brats ../shared/data/brats2013_flair \
        [--model AnomalyDetect/Resources/Models/translation_lgg_flair.safetensors] --mode shipped|intensity_only|power0.75

``shipped``: the bundle's map, sqrt(structure · intensity weight). ``intensity_only``: the intensity weight
max(z + offset, 0) alone (z against the patient's own tissue median and robust SD). ``powerA``:
structure^(1 − A) · weight^A. Prints the point figures on the BraTS cases; thresholds stay the bundle's,
so only the AUROCs are meaningful for the variants.
"""

from __future__ import annotations

import argparse
import os
import sys

import heldout_report
import numpy as np
from AnomalyDetectLib import intensity
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.pipeline import Detector

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "..", "AnomalyDetect", "Resources", "Models", "translation_lgg_flair.safetensors")


def use_mode(mode: str) -> None:
    """Replace how the weighting combines structure and intensity (this process only)."""
    if mode == "intensity_only":
        intensity.IntensityWeighting.apply = lambda self, maps, normalised, median, spread: self.weight(normalised, median, spread)
    elif mode.startswith("power"):
        share = float(mode[len("power"):])
        intensity.IntensityWeighting.apply = lambda self, maps, normalised, median, spread: (
            np.maximum(maps, 0.0) ** (1.0 - share) * self.weight(normalised, median, spread) ** share).astype(np.float32)
    elif mode != "shipped":
        raise SystemExit(f"Unknown mode {mode!r}.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brats", required=True)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--mode", default="shipped")
    args = parser.parse_args()
    use_mode(args.mode)
    detector = Detector.from_bundle(load_bundle(args.model), "cpu")
    records, _, _, _ = heldout_report.run(detector, heldout_report.brats_cases(args.brats), "brats", 0)
    figures = heldout_report.figures(records)
    print(args.mode, {key: round(value, 3) for key, value in figures.items() if value is not None and "auroc" in key})
    return 0


if __name__ == "__main__":
    sys.exit(main())
