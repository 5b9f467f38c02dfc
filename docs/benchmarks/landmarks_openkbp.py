"""Head-and-neck landmark figures on patients the model never saw (../shared/data/ct_landmarks_openkbp).

    python docs/benchmarks/openkbp_split.py --data DATA --work WORK          # the split (train / validation / test)
    python -m trainer fit --method landmarks --data WORK/train.csv ...         # the model (see docs/BENCHMARKS.md)
    python docs/benchmarks/landmarks_openkbp.py --data DATA --work WORK --model M [--timing] [--ship OUT]

Detects every landmark once per validation and test patient (records cached in WORK, so an
interrupted run continues), chooses the confidence threshold on the validation patients (most
identified landmarks minus false reports), and prints per-landmark tables for the test patients —
the model and the mean-position baseline fitted on the training patients — with patient-bootstrap
95 % intervals. ``--timing`` also times one test volume resampled to 512×512×130 voxels.
Writes ``WORK/figures_<model>.json``. One CPU thread unless ``--threads`` says otherwise. ``--ship OUT``
writes the bundle to ship: the same weights with the chosen threshold, a training description without
local paths or patient names, and the test figures in its manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import lgg_common  # noqa: F401  (puts the project on sys.path)
import numpy as np
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.landmark_detection import LandmarkDetector, landmark_normaliser

from trainer.landmark_benchmark import CaseRecord, MeanPositionBaseline, choose_threshold, detect_case, figures_table, table_lines
from trainer.landmarks import discover_landmark_cases

COMPACT = ["Brainstem", "Mandible", "LeftParotid", "RightParotid", "Larynx"]
LOOSE = ["SpinalCord", "Esophagus"]
THRESHOLDS = [round(v, 2) for v in np.arange(0.05, 0.96, 0.05)]


def cached_records(path: str, cases, compute, log) -> list:
    """Records of ``cases``, computing (and appending to the JSON-lines file ``path``) those not there yet."""
    done = {}
    if os.path.exists(path):
        with open(path) as handle:
            for line in handle:
                if line.strip():
                    record = CaseRecord.from_json(json.loads(line))
                    done[record.patient] = record
    for index, case in enumerate(cases):
        if case.patient in done:
            continue
        volume, points = case.read()
        record = compute(volume, points, case.patient)
        with open(path, "a") as handle:
            handle.write(json.dumps(record.to_json()) + "\n")
        done[case.patient] = record
        log(f"  {os.path.basename(path)} {index + 1}/{len(cases)} {case.patient}"
            + (f" {record.seconds:.1f} s" if record.seconds is not None else ""))
    return [done[case.patient] for case in cases]


def time_large(detector: LandmarkDetector, case, shape=(512, 512, 130)) -> dict:
    """Detection seconds on one volume resampled (linear) to ``shape`` (i, j, k) voxels over the same field of view."""
    import SimpleITK as sitk
    from AnomalyDetectLib.volume import read_volume

    image = sitk.ReadImage(case.image)
    spacing = [old * size / new for old, size, new in zip(image.GetSpacing(), image.GetSize(), shape)]
    large = sitk.Resample(image, list(shape), sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), spacing, image.GetDirection(),
                          -1000.0, image.GetPixelID())
    with tempfile.TemporaryDirectory() as folder:  # read back through the product's reader, as a user's file would be
        path = os.path.join(folder, "large.nii.gz")
        sitk.WriteImage(large, path)
        volume = read_volume(path)
    started = time.perf_counter()
    result = detector.detect(volume)
    return {"shape_ijk": list(shape), "spacing_mm": [round(s, 3) for s in spacing], "seconds": round(time.perf_counter() - started, 1),
            "patches": result.patches_evaluated, "found": [f.name for f in result.found]}


def ship(bundle, figures: dict, split: dict, out: str) -> None:
    """The shipped bundle: the chosen threshold, a description of the training data, the test figures."""
    from AnomalyDetectLib.bundle import save_bundle
    from AnomalyDetectLib.models.landmarks.method import LandmarkClassifier

    manifest = json.loads(json.dumps(bundle.manifest))
    for key in ("weights_sha256", "format_version"):
        manifest.pop(key, None)
    threshold = figures["threshold"]
    manifest["scoring"]["min_confidence"] = threshold
    for key in ("centre_window", "centre_iterations"):  # the detection settings the figures were measured with
        manifest["scoring"].setdefault(key, LandmarkClassifier.DEFAULT_DETECTION[key])
    manifest["thresholds"] = {"confidence": threshold}
    trained = manifest.pop("training")
    manifest["training"] = {
        "description": (f"OpenKBP head-and-neck radiotherapy CTs (Babier et al., Med. Phys. 48:5549, 2021; TCIA collections), "
                        f"128³ at about 3.9×3.9×2.5 mm, organ-centroid landmarks: {len(split['train'])} patients of the challenge's "
                        f"train list (those not drawn as test patients by docs/benchmarks/openkbp_split.py --test "
                        f"{len(split['test'])} --seed 0)"),
        "patients": len(split["train"]),
        **{key: trained[key] for key in ("epochs", "history", "seed", "device", "training_seconds", "sampling", "torch") if key in trained},
    }
    manifest["selection"] = {"confidence_threshold": threshold, "rule": figures["threshold_rule"],
                             "validation_patients": figures["patients"]["validation"]}

    def brief(table: dict) -> dict:
        return {name: {key: row[key] for key in ("annotated", "identification_rate_10mm", "median_error_mm", "false_reports", "absent")}
                | {"interval_95": row["interval_95"]} for name, row in table.items()}

    manifest["test_figures"] = {
        "patients": figures["patients"]["test"], "protocol": "patients held out from training and selection; identified = reported, "
        "nearest annotated landmark, within 10 mm; 95 % intervals by patient bootstrap", "model": brief(figures["test"]),
        "mean_position_baseline": brief(figures["test_baseline"]), "seconds_per_128_volume_one_thread": figures["seconds_per_128_volume"],
    }
    save_bundle(out, manifest, bundle.tensors)
    print(f"wrote {out} ({os.path.getsize(out) / 1e3:.0f} kB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the ct_landmarks_openkbp folder")
    parser.add_argument("--work", required=True, help="folder of the split manifests (openkbp_split.py); records and figures go here")
    parser.add_argument("--model", required=True, help="landmark bundle trained on WORK/train.csv")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--timing", action="store_true", help="also time a 512×512×130 volume")
    parser.add_argument("--ship", help="write the bundle to ship here (threshold, description and figures in its manifest)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log = lambda message: print(message, flush=True)  # noqa: E731
    split = {part: discover_landmark_cases(os.path.join(args.work, f"{part}.csv")) for part in ("train", "validation", "test")}
    bundle = load_bundle(args.model)
    trained_on = set(bundle.spec.training.volumes or ())
    leaked = trained_on & {c.patient for part in ("validation", "test") for c in split[part]}
    if leaked:
        raise SystemExit(f"The model was trained on {len(leaked)} validation/test patients ({sorted(leaked)[:3]} ...): wrong split.")
    detector = LandmarkDetector.from_bundle(bundle, "cpu")
    classes = detector.classes
    model_tag = os.path.splitext(os.path.basename(args.model))[0]

    baseline = MeanPositionBaseline(landmark_normaliser("CT"))
    baseline.fit(case.read() for case in split["train"])
    records, baseline_records = {}, {}
    for part in ("validation", "test"):
        log(f"{part}: {len(split[part])} patients")
        records[part] = cached_records(os.path.join(args.work, f"records_{model_tag}_{part}.jsonl"), split[part],
                                       lambda volume, points, patient: detect_case(detector, volume, points, patient), log)
        baseline_records[part] = [baseline.case(*case.read(), case.patient) for case in split[part]]

    threshold = choose_threshold(records["validation"], classes, THRESHOLDS)
    groups = {"compact (5)": COMPACT, "loose (2)": LOOSE, "all (7)": COMPACT + LOOSE}
    figures = {
        "threshold": threshold, "threshold_rule": "validation patients: most identified (≤ 10 mm) minus false reports",
        "patients": {part: len(cases) for part, cases in split.items()},
        "test": figures_table(records["test"], classes, threshold, groups, args.rounds),
        "test_baseline": figures_table(baseline_records["test"], classes, 0.0, groups, args.rounds),
        "validation": figures_table(records["validation"], classes, threshold, groups, args.rounds),
        "seconds_per_128_volume": float(np.mean([r.seconds for r in records["test"]])),
        "threads": args.threads,
    }
    if args.timing:
        figures["large_volume"] = time_large(detector, split["test"][0])
    with open(os.path.join(args.work, f"figures_{model_tag}.json"), "w") as handle:
        json.dump(figures, handle, indent=2)
    if args.ship:
        ship(bundle, figures, split, args.ship)
    print(f"\nconfidence threshold chosen on validation: {threshold}")
    for title, key in ((f"Test ({len(split['test'])} patients), model", "test"),
                       (f"Test ({len(split['test'])} patients), mean-position baseline", "test_baseline"),
                       (f"Validation ({len(split['validation'])} patients), model", "validation")):
        print("\n".join([""] + table_lines(title, figures[key])))
    print(f"\ndetection: {figures['seconds_per_128_volume']:.1f} s per 128³ volume ({args.threads} thread)")
    if args.timing:
        print(f"detection on {figures['large_volume']['shape_ijk']}: {figures['large_volume']['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
