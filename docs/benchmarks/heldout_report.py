"""Held-out figures with patient-bootstrap intervals: LGG FLAIR (validation or test patients) and skull-stripped BraTS FLAIR.

    python docs/benchmarks/heldout_report.py --model M --lgg ../shared/data/lgg_flair --split test \
        [--brats ../shared/data/brats2013_flair] [--bootstrap 1000] [--out-json F]

LGG protocol (../shared/DATA.md): a slice counts when ≥ 10 % of its pixels exceed 20, label
``mask.any()``, pixel metrics over FLAIR > 20. BraTS protocol (issue 12): brain = voxels above the
background constant, a slice counts at ≥ 5 % brain. Every figure comes from the same
:class:`Detector` that ``detect`` and Slicer run; thresholds are the bundle's own (calibrated on
normal LGG validation slices). Intervals: 95 % percentile bootstrap over PATIENTS (slices and pixels
of a patient are resampled together), ``--bootstrap`` draws. Pixel AUROC uses a fixed uniform
subsample of ≤ 40,000 counted pixels per patient (seed 0); Dice is global (sums over patients).
The trivial baseline is ../shared/DATA.md's: map = FLAIR / the patient's 99th brain percentile,
slice score = the map's 99th brain percentile, Dice threshold = the 99th percentile of its map over
the same patients' normal counted slices (slice labels only, no pixel labels); on BraTS the bundle's
map gets that label-free threshold too, as a second Dice column.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from collections import defaultdict

import lgg_common
import numpy as np
from AnomalyDetectLib.bundle import default_bundle_path, load_bundle
from AnomalyDetectLib.pipeline import Detector
from sklearn.metrics import roc_auc_score

from trainer import metrics
from trainer.data import Case, read_case
from trainer.masked import simulate_brain_extraction

PIXELS_PER_PATIENT = 40_000


def patient_record(patient, labels, scores, flagged, mask, anomaly_map, brain, counted, threshold, rng):
    """What the bootstrap needs from one patient: slice arrays, a pixel subsample and Dice sums."""
    pixels = np.flatnonzero(brain[counted])
    chosen = pixels if pixels.size <= PIXELS_PER_PATIENT else rng.choice(pixels, PIXELS_PER_PATIENT, replace=False)
    map_values = anomaly_map[counted].ravel()[chosen]
    pixel_labels = mask[counted].ravel()[chosen]
    inside = brain[counted]
    predicted = (anomaly_map[counted] > threshold) & inside
    truth = mask[counted] & inside
    return {
        "patient": patient, "labels": labels[counted].astype(int), "scores": scores[counted], "flagged": flagged[counted],
        "pixel_scores": map_values, "pixel_labels": pixel_labels.astype(int),
        "dice_parts": (float((predicted & truth).sum()), float(predicted.sum() + truth.sum())),
        "normal_slice_pixels": anomaly_map[counted][~labels[counted].astype(bool)][inside[~labels[counted].astype(bool)]],
        "case": (mask, anomaly_map, brain, counted),
    }


def position_matched_auroc(records):
    return metrics.position_matched([r["labels"] for r in records], [r["scores"] for r in records])["auroc"]


def figures(records):
    labels = np.concatenate([r["labels"] for r in records])
    scores = np.concatenate([r["scores"] for r in records])
    flagged = np.concatenate([r["flagged"] for r in records])
    pixel_labels = np.concatenate([r["pixel_labels"] for r in records])
    pixel_scores = np.concatenate([r["pixel_scores"] for r in records])
    both = 0 < labels.sum() < labels.size
    overlap = sum(r["dice_parts"][0] for r in records)
    total = sum(r["dice_parts"][1] for r in records)
    return {
        "slice_auroc": float(roc_auc_score(labels, scores)) if both else None,
        "position_matched_auroc": position_matched_auroc(records),
        "pixel_auroc": float(roc_auc_score(pixel_labels, pixel_scores)) if 0 < pixel_labels.sum() < pixel_labels.size else None,
        "dice": 2 * overlap / total if total else None,
        "sensitivity": float(flagged[labels == 1].mean()) if (labels == 1).any() else None,
        "specificity": float((~flagged[labels == 0]).mean()) if (labels == 0).any() else None,
    }


def bootstrap(records, draws, seed=0):
    rng = np.random.default_rng(seed)
    samples = defaultdict(list)
    for _ in range(draws):
        chosen = [records[i] for i in rng.integers(0, len(records), len(records))]
        try:
            for key, value in figures(chosen).items():
                if value is not None:
                    samples[key].append(value)
        except ValueError:
            continue
    return {key: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for key, v in samples.items()}


def report(title, records, draws):
    point = figures(records)
    intervals = bootstrap(records, draws) if draws else {}
    slices = sum(len(r["labels"]) for r in records)
    tumour = sum(int(r["labels"].sum()) for r in records)
    print(f"\n{title}: {len(records)} patients, {slices} counted slices ({tumour} with tumour)")
    for key, value in point.items():
        low_high = intervals.get(key)
        interval = f" [{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else ""
        print(f"  {key:24s} {'–' if value is None else f'{value:.3f}'}{interval}")
    return {"patients": len(records), "slices": slices, "tumour_slices": tumour, "point": point, "interval_95": intervals}


def baseline_map(voxels, brain):
    anomaly = voxels.astype(np.float32) / np.float32(np.percentile(voxels[brain], 99))
    scores = np.array([np.percentile(anomaly[k][brain[k]], 99) if brain[k].any() else 0.0 for k in range(len(voxels))])
    return anomaly, scores


def run(detector, cases, protocol, draws, rng_seed=0, transform=None):
    """``transform(volume)``: applied before detection (``--simulate-skull-strip``); such volumes are scored with the BraTS protocol."""
    rng = np.random.default_rng(rng_seed)
    model_records, base_records, seconds = [], [], []
    for case in cases:
        volume, mask, labels = read_case(case)
        if transform is not None:
            volume = transform(volume)
        result = detector.run(volume)
        seconds.append(result.timings["total"])
        voxels = volume.voxels
        if protocol == "lgg":
            brain = voxels > lgg_common.BRAIN_RAW
            counted = brain.mean(axis=(1, 2)) >= lgg_common.MIN_BRAIN_FRACTION
        else:
            brain = voxels > voxels.min()
            counted = brain.mean(axis=(1, 2)) >= 0.05
        model_records.append(patient_record(case.patient, labels, result.slice_scores, result.flagged, mask, result.anomaly_map,
                                            brain, counted, result.map_threshold, rng))
        model_records[-1]["profile"] = result.profile
        anomaly, base_scores = baseline_map(voxels, brain)
        base_records.append(patient_record(case.patient, labels, base_scores, np.zeros(len(labels), bool), mask, anomaly, brain, counted,
                                           np.inf, rng))
    # The baseline's (and, as a second column, the model's) label-free Dice threshold: p99 over the normal counted slices' pixels.
    extra = {}
    for name, records in (("baseline", base_records), ("model", model_records)):
        threshold = float(np.percentile(np.concatenate([r["normal_slice_pixels"] for r in records]), 99))
        for r in records:
            mask, anomaly, brain, counted = r["case"]
            predicted = (anomaly[counted] > threshold) & brain[counted]
            truth = mask[counted] & brain[counted]
            r["dice_parts_p99"] = (float((predicted & truth).sum()), float(predicted.sum() + truth.sum()))
        extra[name] = 2 * sum(r["dice_parts_p99"][0] for r in records) / max(sum(r["dice_parts_p99"][1] for r in records), 1.0)
        if name == "baseline":
            for r in records:
                r["dice_parts"] = r["dice_parts_p99"]
    return model_records, base_records, float(np.mean(seconds)), extra


def per_site(records):
    sites = defaultdict(list)
    for r in records:
        sites["_".join(r["patient"].split("_")[:2])].append(r)
    rows = {}
    for site, group in sorted(sites.items()):
        f = figures(group)
        rows[site] = {"patients": len(group), "slice_auroc": f["slice_auroc"], "pixel_auroc": f["pixel_auroc"], "dice": f["dice"]}
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"  {site}: {len(group)} patients, slice AUROC {fmt(f['slice_auroc'])}, pixel AUROC {fmt(f['pixel_auroc'])}, Dice {fmt(f['dice'])}")
    return rows


def brats_cases(folder):
    cases = []
    for image in sorted(glob.glob(os.path.join(folder, "*_flair.nii.gz"))):
        stem = os.path.basename(image)[: -len("_flair.nii.gz")]
        cases.append(Case(image=image, mask=os.path.join(folder, f"{stem}_mask.nii.gz"), patient=stem))
    if not cases:
        raise SystemExit(f"No *_flair.nii.gz volumes in {folder}.")
    return cases


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="bundle (default: the bundled default model)")
    parser.add_argument("--lgg", default=None, help="../shared/data/lgg_flair")
    parser.add_argument("--split", choices=["validation", "test"], default="test")
    parser.add_argument("--brats", default=None, help="../shared/data/brats2013_flair")
    parser.add_argument("--simulate-skull-strip", type=float, default=None, metavar="RIM_MM",
                        help="LGG volumes made skull-stripped first (trainer.masked.simulate_brain_extraction, this rim), "
                             "scored with the BraTS protocol")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out-json", default=None)
    args = parser.parse_args()
    bundle = load_bundle(args.model or default_bundle_path())
    detector = Detector.from_bundle(bundle, args.device)
    print(f"model {os.path.basename(bundle.path)}; slice threshold {detector.spec.thresholds.slice:.4g}, "
          f"pixel threshold {detector.spec.thresholds.map:.4g}")
    out = {"model": os.path.basename(bundle.path)}
    if args.lgg:
        cases = lgg_common.held_out_cases(args.lgg, bundle, args.split)
        transform, protocol, title = None, "lgg", f"LGG {args.split}"
        if args.simulate_skull_strip is not None:
            rim = args.simulate_skull_strip
            transform = lambda volume: simulate_brain_extraction(volume, bundle.manifest["normalisation"], rim)  # noqa: E731
            protocol, title = "brats", f"LGG {args.split}, simulated skull-stripped ({rim:g} mm rim)"
        model, base, seconds, extra = run(detector, cases, protocol, args.bootstrap, transform=transform)
        print(f"scoring profiles used: {sorted({r['profile'] for r in model})}")
        out["lgg"] = {"model": report(f"{title}, model", model, args.bootstrap),
                      "baseline": report(f"{title}, trivial baseline", base, args.bootstrap),
                      "seconds_per_volume": seconds, "dice_label_free_p99": extra}
        print(f"  model Dice at the p99 of normal-slice pixels (label-free): {extra['model']:.3f}; detect {seconds:.2f} s/volume")
        print("per site (model):")
        out["lgg"]["per_site"] = per_site(model)
    if args.brats:
        model, base, seconds, extra = run(detector, brats_cases(args.brats), "brats", args.bootstrap)
        print(f"scoring profiles used: {sorted({r['profile'] for r in model})}")
        out["brats"] = {"model": report("BraTS (skull-stripped), model", model, args.bootstrap),
                        "baseline": report("BraTS (skull-stripped), trivial baseline", base, args.bootstrap),
                        "seconds_per_volume": seconds, "dice_label_free_p99": extra}
        print(f"  model Dice at the p99 of normal-slice pixels (label-free): {extra['model']:.3f}; detect {seconds:.2f} s/volume")
    if args.out_json:
        with open(args.out_json, "w") as handle:
            json.dump(out, handle, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
