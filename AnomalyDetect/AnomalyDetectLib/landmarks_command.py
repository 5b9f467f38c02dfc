"""``python -m AnomalyDetectLib landmarks INPUT [--model M] --out DIR``: anatomical landmarks only, no anomaly model.

Writes, for an input named ``<name>``, both or neither of:

* ``<name>_landmarks.mrk.json``: a Slicer markups point list, one control point per landmark found
  (label = landmark name, description = "confidence 0.93"), LPS as Slicer writes it;
* ``<name>_landmarks.csv``: ``name,x,y,z,coordinate_system,confidence`` (LPS millimetres).

Default model: the shipped head-and-neck CT landmark model (``Resources/Models``). A landmark whose
best confidence stays below the model's threshold is listed as absent on stdout, not written. When
no landmark at all is found nothing is written and the command fails with a message saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from typing import Dict, List

from .errors import AnomalyDetectError, OutputError

COORDINATE_SYSTEM = "LPS"  # what Slicer writes in markups files; the CSV says it in every row


def add_parser(commands) -> None:
    """Register the ``landmarks`` sub-command on an argparse sub-parser collection."""
    parser = commands.add_parser("landmarks", help="detect anatomical landmarks only (markups JSON + CSV)")
    parser.add_argument("input", help="volume file or DICOM folder")
    parser.add_argument("--model", help="landmark model bundle (default: the shipped head-and-neck CT landmark model)")
    parser.add_argument("--out", default="anomalydetect-output", help="output folder (created if missing)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--series-uid", help="which DICOM series to read when a folder holds several")
    parser.add_argument("--min-confidence", type=float, help="report a landmark from this confidence on (default: the model's)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run_landmarks(args) -> Dict:
    """Detect the landmarks of ``args.input`` and write both files; returns the stdout summary."""
    from .bundle import default_landmark_bundle_path, load_bundle
    from .cli import prepare_output_folder
    from .landmark_detection import LandmarkDetector
    from .volume import read_volume

    out_dir = os.path.abspath(args.out)
    prepare_output_folder(out_dir)
    volume = read_volume(args.input, series_uid=args.series_uid)
    model_path = args.model or default_landmark_bundle_path()
    detector = LandmarkDetector.from_bundle(load_bundle(model_path), args.device)

    def progress(fraction: float, message: str) -> None:
        if not args.quiet:
            print(f"\r[{fraction:5.0%}] {message}".ljust(60), end="", file=sys.stderr, flush=True)

    result = detector.detect(volume, progress=progress, min_confidence=args.min_confidence)
    if not args.quiet:
        print(file=sys.stderr)
    if not result.found:
        best = ", ".join(f"{name} {value:.2f}" for name, value in sorted(result.best_confidence.items()))
        raise AnomalyDetectError(f"No landmark of the model was found in '{args.input}' (best confidences: {best}); nothing written. "
                                 "Is it the kind of image the model was trained on (see 'info --model')?")
    outputs = write_landmark_files(result.found, volume.name, out_dir)
    return {
        "input": os.path.abspath(args.input), "model": os.path.abspath(model_path),
        "landmarks": [{"name": f.name, "ras_mm": [round(v, 2) for v in f.ras], "confidence": round(f.confidence, 3)} for f in result.found],
        "absent": result.absent, "seconds": round(result.timings["total"], 2), "outputs": outputs,
    }


def write_landmark_files(found, name: str, out_dir: str) -> List[str]:
    """``<name>_landmarks.mrk.json`` and ``<name>_landmarks.csv`` in ``out_dir``, staged so that both appear or neither."""
    from .annotations import Landmark, write_landmarks_csv, write_markups_json

    points = [Landmark(f.name, f.ras) for f in found]
    names = [f"{name}_landmarks.mrk.json", f"{name}_landmarks.csv"]
    staging = tempfile.mkdtemp(prefix=".anomalydetect-partial-", dir=out_dir)
    try:
        write_markups_json(points, os.path.join(staging, names[0]), COORDINATE_SYSTEM,
                           descriptions=[f"confidence {f.confidence:.2f}" for f in found])
        write_landmarks_csv(points, os.path.join(staging, names[1]), COORDINATE_SYSTEM, confidences=[f.confidence for f in found])
        for file_name in names:
            os.replace(os.path.join(staging, file_name), os.path.join(out_dir, file_name))
    except OSError as error:
        raise OutputError(f"Cannot write landmarks to '{out_dir}': {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [os.path.join(out_dir, file_name) for file_name in names]


def print_summary(summary: Dict) -> None:
    print(json.dumps(summary, indent=2))
