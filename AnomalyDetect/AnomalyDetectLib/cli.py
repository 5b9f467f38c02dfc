"""Headless detection: ``python -m AnomalyDetectLib detect [INPUT] [--model M] --out DIR``.

Writes, for an input named ``<name>``:

* ``<name>_anomaly.nii.gz``: the anomaly map on the input's exact grid (float32);
* ``<name>_slices.csv``: ``slice,position_mm,score,flagged,skipped`` with one row per k slice (0-based;
  position along the slice normal; skipped = outside the region of interest);
* ``<name>_overview.png``: the most suspicious slices with the map overlaid;
* ``<name>_summary.json``: volume score, thresholds, flagged slices, timings, model.

All four appear together or not at all. With no INPUT the bundled sample volume is
analysed with the bundled default model. Several INPUTs, a folder of volumes or a CSV manifest
make a cohort run (:mod:`AnomalyDetectLib.cohort`: one model load, one sub-folder per volume and
``cohort.csv``). ``info --model M`` prints a bundle's manifest; ``landmarks INPUT`` finds anatomical
landmarks only (``landmarks_command.py``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
from typing import List, Optional

import numpy as np

from .defaults import ROI_MARGIN_MM
from .errors import AnomalyDetectError, OutputError
from .files import json_value

SAMPLE_FILE = "TCGA_DU_7304_19930325_flair.nii.gz"
OVERVIEW_SLICES = 6


def sample_volume_path() -> str:
    from .bundle import resources_dir

    path = os.path.join(resources_dir(), "Samples", SAMPLE_FILE)
    if not os.path.isfile(path):
        raise AnomalyDetectError(f"The bundled sample volume is missing ('{path}'); give an INPUT explicitly.")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m AnomalyDetectLib", description="Find anomalies in CT and MR volumes.")
    commands = parser.add_subparsers(dest="command", required=True)
    detect = commands.add_parser("detect", help="anomaly map and slice scores of one volume or a cohort")
    detect.add_argument("input", nargs="*", help="volume file, DICOM folder or 2D image (default: the bundled sample); several, "
                        "a folder of volumes or DICOM series, or a CSV manifest (columns image, optional id) make a cohort run")
    detect.add_argument("--model", help="model bundle (.safetensors; default: the bundled model)")
    detect.add_argument("--out", default="anomalydetect-output", help="output folder (created if missing)")
    detect.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    detect.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"],
                        help="auto: PyTorch when installed, else onnxruntime on the model's exported ONNX graph")
    detect.add_argument("--batch-size", type=int, help="slices per batch (memory vs speed; default: the method's own, 16 for most)")
    detect.add_argument("--series-uid", help="which DICOM series to read when a folder holds several")
    detect.add_argument("--quiet", action="store_true", help="no progress output")
    detect.add_argument("--resume", action="store_true", help="cohort run: keep the volumes whose outputs an earlier run completed")
    roi = detect.add_argument_group("region of interest (slices outside are scored 0 and marked skipped)")
    roi.add_argument("--roi-z", nargs=2, type=float, metavar=("LOW", "HIGH"),
                     help="RAS z range in mm (superior positive; the slice table's position_mm runs along the slice normal instead)")
    roi.add_argument("--roi-box", nargs=6, type=float, metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"), help="RAS box corners in mm")
    roi.add_argument("--landmark-model", help="landmark bundle: detect landmarks (written to <name>_landmarks.mrk.json)")
    roi.add_argument("--roi-between", nargs=2, metavar=("FIRST", "SECOND"), help="ROI spanning two detected landmarks (needs --landmark-model)")
    roi.add_argument("--roi-margin", type=float, default=ROI_MARGIN_MM, help=f"mm added beyond the two landmarks (default {ROI_MARGIN_MM:g})")
    info = commands.add_parser("info", help="print a model bundle's manifest")
    info.add_argument("--model", help="model bundle (default: the bundled model)")
    from .landmarks_command import add_parser as add_landmarks_parser

    add_landmarks_parser(commands)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "info":
            from .bundle import default_bundle_path, read_manifest

            print(json.dumps(read_manifest(args.model or default_bundle_path()), indent=2, sort_keys=True))
            return 0
        if args.command == "landmarks":
            from .landmarks_command import print_summary, run_landmarks

            print_summary(run_landmarks(args))
            return 0
        from .cohort import plan_cohort, run_cohort

        cohort = plan_cohort(args.input, args.series_uid, args.out) if args.input else None
        if cohort is not None:
            return run_cohort(args, cohort)
        summary = run_detect(args, input_path=args.input[0] if args.input else None, series_uid=args.series_uid)
    except AnomalyDetectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("volume_score", "slice_threshold", "profile", "flagged_slices", "outputs")}, indent=2))
    return 0


def run_detect(args, input_path=None, series_uid=None, out_dir=None, bundle=None, detector=None, landmark_bundle=None,
               progress=None) -> dict:
    """Analyse one volume and write its outputs; returns the summary written.

    A cohort run passes what it loaded once (``bundle``, ``detector``, ``landmark_bundle``), the
    volume's own ``out_dir`` and its ``progress`` callback; otherwise they come from ``args``.
    """
    from .bundle import default_bundle_path, describe, load_bundle
    from .pipeline import Detector
    from .volume import read_volume

    input_path = input_path or sample_volume_path()
    out_dir = os.path.abspath(out_dir or args.out)
    prepare_output_folder(out_dir)
    volume = read_volume(input_path, series_uid=series_uid)
    model_path = args.model or default_bundle_path()
    bundle = bundle or load_bundle(model_path)
    own_line = progress is None

    if own_line:
        def progress(fraction: float, message: str) -> None:
            if not args.quiet:
                print(f"\r[{fraction:5.0%}] {message}".ljust(60), end="", file=sys.stderr, flush=True)

    landmarks, region = _landmarks_and_roi(args, volume, progress, landmark_bundle)
    detector = detector or Detector.from_bundle(bundle, args.device, backend=args.backend)
    result = detector.run(volume, progress=progress, batch_size=args.batch_size, roi=region)
    if own_line and not args.quiet:
        print(file=sys.stderr)
    candidates = np.flatnonzero(result.scored)
    best = int(candidates[np.argmax(result.slice_scores[candidates])]) if len(candidates) else None
    summary = {
        "input": os.path.abspath(input_path),
        "series_uid": series_uid,
        "name": volume.name,
        "shape_kji": list(volume.shape),
        "spacing_ijk_mm": list(volume.spacing),
        "model": os.path.abspath(model_path),
        "model_description": describe(bundle.manifest),
        **result.summary(),
        "max_slice": best,
        "max_slice_score": None if best is None else float(result.slice_scores[best]),
        "slice_scores_are": "level-calibrated" if bundle.spec.calibration else "raw",
    }
    if landmarks is not None:
        summary["landmarks"] = [{"name": f.name, "ras_mm": list(f.ras), "confidence": f.confidence} for f in landmarks.found]
        summary["landmarks_absent"] = landmarks.absent
    summary["outputs"] = write_outputs(volume, result, out_dir, summary, landmarks)
    return summary


def _landmarks_and_roi(args, volume, progress, landmark_bundle=None):
    """(landmark result or None, RegionOfInterest or None) from the ROI options."""
    from .roi import RegionOfInterest

    chosen = [name for name in ("roi_z", "roi_box", "roi_between") if getattr(args, name, None)]
    if len(chosen) > 1:
        raise AnomalyDetectError(f"Give one region of interest, not {', '.join('--' + c.replace('_', '-') for c in chosen)}.")
    if args.roi_between and not args.landmark_model:
        raise AnomalyDetectError("--roi-between needs --landmark-model to find the landmarks.")
    landmarks = region = None
    if args.landmark_model:
        from .bundle import load_bundle
        from .landmark_detection import landmarks_and_roi

        landmark_bundle = landmark_bundle or load_bundle(args.landmark_model)
        landmarks, region = landmarks_and_roi(volume, landmark_bundle, args.roi_between, args.roi_margin, args.device,
                                              progress, only_between=bool(args.roi_between), backend=getattr(args, "backend", "auto"))
    if args.roi_z:
        return landmarks, RegionOfInterest.z_range(*args.roi_z)
    if args.roi_box:
        return landmarks, RegionOfInterest.box(args.roi_box[:3], args.roi_box[3:])
    return landmarks, region


def prepare_output_folder(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        raise OutputError(f"Cannot create output folder '{out_dir}': {error.strerror}.") from None
    if not os.access(out_dir, os.W_OK):
        raise OutputError(f"Output folder '{out_dir}' is not writable.")


def write_outputs(volume, result, out_dir: str, summary: dict, landmarks=None) -> List[str]:
    """Write the result files into ``out_dir`` all together (staged in a temporary folder)."""
    from .orientation import InPlaneOrientation
    from .overview import render_overview, write_png
    from .volume import write_volume

    names = {
        "map": f"{volume.name}_anomaly.nii.gz",
        "slices": f"{volume.name}_slices.csv",
        "overview": f"{volume.name}_overview.png",
        "summary": f"{volume.name}_summary.json",
    }
    staging = tempfile.mkdtemp(prefix=".anomalydetect-partial-", dir=out_dir)
    try:
        write_volume(volume.with_voxels(result.anomaly_map, name=volume.name + "_anomaly"), os.path.join(staging, names["map"]))
        with open(os.path.join(staging, names["slices"]), "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["slice", "position_mm", "score", "flagged", "skipped"])
            skipped = result.skipped if result.skipped is not None else np.zeros(len(result.slice_scores), dtype=bool)
            rows = zip(volume.slice_positions_mm(), result.slice_scores, result.flagged, skipped)
            for k, (position, score, flagged, outside) in enumerate(rows):
                writer.writerow([k, f"{position:.3f}", f"{score:.6g}", int(flagged), int(outside)])
        if landmarks is not None:
            from .annotations import Landmark, write_markups_json

            names["landmarks"] = f"{volume.name}_landmarks.mrk.json"
            points = [Landmark(f.name, f.ras) for f in landmarks.found]
            if points:
                write_markups_json(points, os.path.join(staging, names["landmarks"]))
            else:
                del names["landmarks"]
        chosen = _overview_slices(result)
        shown = InPlaneOrientation.of(volume.ijk_to_ras)  # slices as a radiologist views them
        picture = render_overview(
            [shown.apply(volume.voxels[k]) for k in chosen], [shown.apply(result.anomaly_map[k]) for k in chosen], chosen,
            [float(result.slice_scores[k]) for k in chosen], result.slice_threshold, result.map_threshold,
        )
        write_png(picture, os.path.join(staging, names["overview"]))
        outputs = [os.path.join(out_dir, name) for name in names.values()]
        with open(os.path.join(staging, names["summary"]), "w") as handle:
            json.dump(dict(summary, outputs=outputs), handle, indent=2, default=json_value)
        for name in names.values():
            os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
    except OSError as error:
        raise OutputError(f"Cannot write results to '{out_dir}': {error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return outputs


def _overview_slices(result) -> List[int]:
    """The highest-scoring scored slices (at most six), in slice order."""
    candidates = np.flatnonzero(result.scored) if result.scored.any() else np.arange(len(result.slice_scores))
    ranked = candidates[np.argsort(-result.slice_scores[candidates], kind="stable")]
    return sorted(int(k) for k in ranked[:OVERVIEW_SLICES])
