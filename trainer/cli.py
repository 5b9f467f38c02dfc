"""Command line of the trainer: ``fit``, ``calibrate``, ``evaluate``, ``benchmark`` and ``export``.

    python -m trainer fit --method skipganomaly --data DIR --out model.safetensors
    torchrun --nproc_per_node 4 -m trainer fit ...          # the same, data-parallel (trainer/distributed.py)
    python -m trainer evaluate --model model.safetensors --data DIR --out-json metrics.json
    python -m trainer fit --method landmarks --data DIR --out landmarks.safetensors --modality CT [--leave-one-out]
    python -m trainer evaluate --model landmarks.safetensors --data DIR          # localisation error, identification rates
    python -m trainer benchmark --methods skipganomaly,ganomaly --data DIR --budget-minutes 20 --out-json F --out-markdown F
    python -m trainer export --model model.safetensors      # adds the ONNX graph (detection without torch)
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from AnomalyDetectLib.defaults import PIXEL_QUANTILE, SLICE_QUANTILE
from AnomalyDetectLib.errors import AnomalyDetectError


def _json_dict(text: str):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"base_channels\": 16}'")
    return value


def build_parser() -> argparse.ArgumentParser:
    from AnomalyDetectLib.models import LANDMARK_METHODS, METHODS

    parser = argparse.ArgumentParser(prog="python -m trainer", description="Train and evaluate AnomalyDetect models.")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="train a model on normal slices and write a bundle")
    fit.add_argument("--method", required=True, choices=sorted(METHODS) + sorted(LANDMARK_METHODS),
                     help="an anomaly method, or 'landmarks' (volumes + landmark files; see trainer/landmarks.py)")
    fit.add_argument("--data", required=True,
                     help="folder of volumes (+ *_mask companions), class sub-folders (normal/ + e.g. hemorrhage/), or a CSV manifest")
    fit.add_argument("--out", required=True, help="bundle file to write (.safetensors); checkpoint and loss log go beside it")
    fit.add_argument("--modality", default="MR", choices=["MR", "CT"])
    fit.add_argument("--input-size", type=int, default=64)
    fit.add_argument("--epochs", type=int, default=30)
    fit.add_argument("--crop-size", type=int, default=None,
                     help="train on random crops of this size of the --input-size slices (fully convolutional methods: "
                          "translation); detection runs on whole slices")
    fit.add_argument("--gamma-augmentation", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                     help="contrast augmentation: each training slice raised to a power drawn log-uniformly from [LOW, HIGH] "
                          "(0 < LOW <= 1 <= HIGH <= 4; e.g. 0.7 1.4)")
    fit.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (for smoke runs)")
    fit.add_argument("--max-minutes", type=float, default=None, help="stop training cleanly once this much training time is spent")
    fit.add_argument("--batch-size", type=int, default=32, help="slices per step (per process under torchrun)")
    fit.add_argument("--validation-fraction", type=float, default=0.2, help="fraction of PATIENTS held out for selection and calibration")
    fit.add_argument("--test-fraction", type=float, default=0.0, help="fraction of PATIENTS set aside untouched (evaluate --split test)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the weights, slice order and augmentation (and of the split unless --split-seed)")
    fit.add_argument("--split-seed", type=int, default=None,
                     help="seed of the patient split only (default: --seed); keep it fixed to compare training seeds on the same patients")
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    fit.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    fit.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    fit.add_argument("--architecture", type=_json_dict, default={}, help="JSON overrides of the method's architecture")
    fit.add_argument("--training", type=_json_dict, default={}, help="JSON overrides of loss weights / learning rate")
    fit.add_argument("--scoring", type=_json_dict, default={}, help='JSON overrides of scoring, e.g. \'{"map": "residual"}\'')
    fit.add_argument("--normalisation", type=_json_dict, default={},
                     help='JSON overrides of the intensity normalisation, e.g. \'{"low_hu": -40, "high_hu": 120}\' (CT) '
                          "(8-bit CT images get the 0-255 range by default)")
    fit.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    fit.add_argument("--context-slices", type=int, default=1, help="2.5D: slices per model input (odd; 1 = 2D)")
    fit.add_argument("--context-spacing-mm", type=float, default=0.0, help="2.5D: distance between those slices along the slice normal (mm)")
    fit.add_argument("--quiet", action="store_true")
    fit.add_argument("--leave-one-out", action="store_true",
                     help="landmarks only: first train/test once per held-out volume; the pooled metrics go into the bundle")

    calibrate = commands.add_parser("calibrate", help="refit scoring, level calibration and thresholds of a bundle without retraining")
    calibrate.add_argument("--model", required=True)
    calibrate.add_argument("--data", required=True, help="the data the bundle was trained on (its validation patients are used)")
    calibrate.add_argument("--out", required=True, help="bundle file to write (may equal --model)")
    calibrate.add_argument("--scoring", type=_json_dict, default={}, help='JSON overrides of scoring, e.g. \'{"map": "mgmsd"}\'')
    calibrate.add_argument("--slice-quantile", type=float, default=SLICE_QUANTILE,
                           help=f"slice threshold: this quantile of normal validation slices (default {SLICE_QUANTILE})")
    calibrate.add_argument("--pixel-quantile", type=float, default=PIXEL_QUANTILE,
                           help=f"pixel threshold: this quantile of normal validation pixels (default {PIXEL_QUANTILE})")
    calibrate.add_argument("--masked-profile", type=_json_dict, default=None,
                           help="fit a scoring profile for masked (skull-stripped) volumes on the validation patients with their outer rim "
                                'masked away, e.g. \'{"intensity_weighting": {"direction": "brighter", "offset_sd": 1.0, "share": 0.75}, '
                                '"simulated_rim_mm": 10}\' ({} = the defaults; without this option a bundle\'s existing profile is refitted)')
    calibrate.add_argument("--no-masked-profile", action="store_true", help="remove the bundle's masked profile")
    calibrate.add_argument("--device", default="auto")

    evaluate = commands.add_parser("evaluate", help="slice and pixel metrics of a bundle on labelled data")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split", choices=["validation", "test", "all"], default="validation",
                          help="validation / test: only the patients the bundle held out for that purpose; all: every case")
    evaluate.add_argument("--foreground-raw", type=float, default=None,
                          help="count slices/pixels by raw intensity > this value (LGG protocol: 20) instead of the model's foreground")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out-json", default=None)
    evaluate.add_argument("--roc-png", default=None)

    benchmark = commands.add_parser("benchmark", help="train several methods under one budget and compare them on test patients")
    benchmark.add_argument("--methods", required=True, help="comma-separated, e.g. skipganomaly,ganomaly")
    benchmark.add_argument("--data", required=True)
    benchmark.add_argument("--out-json", required=True)
    benchmark.add_argument("--out-markdown", required=True)
    benchmark.add_argument("--epochs", type=int, default=None, help="epochs per method (default 30, or unlimited with --budget-minutes)")
    benchmark.add_argument("--budget-minutes", type=float, default=None, help="wall-clock cap on each method's training")
    benchmark.add_argument("--max-steps", type=int, default=None, help="cap on each method's steps (smoke runs)")
    benchmark.add_argument("--foreground-raw", type=float, default=None, help="count slices/pixels by raw intensity > this (LGG: 20)")
    benchmark.add_argument("--overrides", default=None,
                           help="JSON file (or inline object) mapping method → {architecture, training, scoring, input_size, batch_size}")
    benchmark.add_argument("--validation-fraction", type=float, default=0.2)
    benchmark.add_argument("--test-fraction", type=float, default=0.2)
    benchmark.add_argument("--seed", type=int, default=0)
    benchmark.add_argument("--input-size", type=int, default=64)
    benchmark.add_argument("--batch-size", type=int, default=32)
    benchmark.add_argument("--device", default="auto")
    benchmark.add_argument("--threads", type=int, default=None)
    benchmark.add_argument("--work-dir", default=None, help="where the bundles go (default: beside --out-json)")
    benchmark.add_argument("--quiet", action="store_true")

    export = commands.add_parser("export", help="add the ONNX graph of detection's forward pass to a bundle (runs with onnxruntime, no torch)")
    export.add_argument("--model", required=True, help="bundle of a one-pass method or the landmark classifier")
    export.add_argument("--out", default=None, help="bundle file to write (default: --model itself, replaced atomically)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from AnomalyDetectLib.manifest import LANDMARKS, method_kind

    args = build_parser().parse_args(argv)
    try:
        if args.command == "fit" and method_kind(args.method) == LANDMARKS:
            _fit_landmarks(args)
        elif args.command == "fit":
            from .fit import FitConfig, fit

            fit(FitConfig(
                method=args.method, data=args.data, out=args.out, modality=args.modality, input_size=args.input_size,
                epochs=args.epochs, batch_size=args.batch_size, validation_fraction=args.validation_fraction,
                test_fraction=args.test_fraction, seed=args.seed, split_seed=args.split_seed, device=args.device,
                checkpoint_every=args.checkpoint_every, crop_size=args.crop_size, gamma_augmentation=args.gamma_augmentation,
                resume=args.resume, max_steps=args.max_steps, max_minutes=args.max_minutes,
                architecture=args.architecture, training=args.training, scoring=args.scoring, normalisation=args.normalisation,
                threads=args.threads, quiet=args.quiet, context_slices=args.context_slices, context_spacing_mm=args.context_spacing_mm,
            ))
        elif args.command == "calibrate":
            _calibrate(args)
        elif args.command == "benchmark":
            return _benchmark(args, argv)
        elif args.command == "export":
            from .export import export_bundle

            export_bundle(args.model, args.out)
        else:
            _evaluate(args)
    except AnomalyDetectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _benchmark(args, argv: Optional[List[str]]) -> int:
    import shlex

    from .benchmark import BenchmarkConfig, failed_methods, load_overrides, run_benchmark

    command = "python -m trainer " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    result = run_benchmark(BenchmarkConfig(
        methods=[name.strip() for name in args.methods.split(",") if name.strip()], data=args.data, out_json=args.out_json,
        out_markdown=args.out_markdown, epochs=args.epochs, budget_minutes=args.budget_minutes, max_steps=args.max_steps,
        foreground_raw=args.foreground_raw, overrides=load_overrides(args.overrides), validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction, seed=args.seed, input_size=args.input_size, batch_size=args.batch_size,
        device=args.device, threads=args.threads, work_dir=args.work_dir, quiet=args.quiet, command=command,
    ))
    failed = failed_methods(result)
    print(f"Wrote {args.out_markdown} and {args.out_json}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _calibrate(args) -> None:
    from AnomalyDetectLib.manifest import Manifest

    from .calibrate import recalibrate

    masked = False if args.no_masked_profile else args.masked_profile
    spec = Manifest.from_json(recalibrate(args.model, args.data, args.out, args.scoring, args.slice_quantile, args.pixel_quantile, args.device,
                                          masked))
    metrics = spec.validation_metrics or {}
    keys = ["image_auroc", "image_ap"] if "image_auroc" in metrics else []
    keys += ["slice_auroc", "position_matched_auroc", "pixel_auroc", "pixel_dice"] if "pixel_auroc" in metrics or not keys else []
    summary = {"scoring": spec.scoring.to_json(), **{k: metrics.get(k) for k in keys}}
    if spec.masked_profile is not None:
        masked_metrics = spec.masked_profile.validation_metrics or {}
        summary["masked_profile"] = {"intensity_weighting": spec.masked_profile.intensity_weighting, **{k: masked_metrics.get(k) for k in keys}}
    print(json.dumps(summary, indent=2))


def _fit_landmarks(args) -> None:
    import dataclasses
    import tempfile

    from .landmark_eval import leave_one_out, report_lines
    from .landmarks import LandmarkFitConfig, discover_landmark_cases, fit_landmarks

    tunable = {f.name for f in dataclasses.fields(LandmarkFitConfig)} - {"data", "out", "modality", "architecture", "detection", "seed",
                                                                         "device", "threads", "max_minutes", "quiet", "epochs", "batch_size",
                                                                         "classes", "resume"}
    unknown = sorted(set(args.training) - tunable)
    if unknown:
        raise AnomalyDetectError(f"Unknown landmark training settings {unknown}; known: {sorted(tunable)}.")
    settings = dict(args.training)
    architecture = dict(args.architecture)
    if "classes" in architecture:  # the landmarks to learn, e.g. '{"classes": ["vertebrae_T12", "vertebrae_L1"]}'
        settings["classes"] = list(architecture.pop("classes"))
    config = LandmarkFitConfig(
        data=args.data, out=args.out, modality=args.modality, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        device=args.device, threads=args.threads, max_minutes=args.max_minutes, quiet=args.quiet, architecture=architecture,
        detection=args.scoring, resume=args.resume, **settings,
    )
    cases = discover_landmark_cases(args.data)
    extra = {}
    if args.leave_one_out:
        if len(cases) < 2:
            raise AnomalyDetectError("--leave-one-out needs at least two annotated volumes.")
        with tempfile.TemporaryDirectory() as work:
            metrics = leave_one_out(config, cases, work, log=(lambda m: None) if args.quiet else print)
        print("\n".join(["Leave-one-volume-out:"] + report_lines(metrics)))
        extra["validation_metrics"] = {k: v for k, v in metrics.items() if k != "records"}
        extra["validation_metrics"]["protocol"] = "leave-one-volume-out"
    fit_landmarks(config, cases, extra)


def _evaluate(args) -> None:
    from AnomalyDetectLib.bundle import load_bundle
    from AnomalyDetectLib.manifest import LANDMARKS, Training

    from .data import discover_data
    from .evaluate import evaluate

    bundle = load_bundle(args.model)
    if bundle.spec.kind == LANDMARKS:
        _evaluate_landmarks(bundle, args)
        return
    inventory = discover_data(args.data)
    for line in inventory.summary():
        print(line)
    cases = inventory.cases
    training = bundle.spec.training or Training()
    if args.split != "all":
        held_out = set(training.patients(args.split))
        cases = [c for c in cases if c.patient in held_out]
        if not cases:
            raise AnomalyDetectError(f"None of the bundle's {args.split} patients is in '{args.data}'; use --split all.")
        print(f"Evaluating the {len(cases)} images/volumes of the bundle's {args.split} patients")
    else:
        print(f"Evaluating all {len(cases)} images/volumes")
        trained_on = set(training.patients("training")) & {c.patient for c in cases}
        if trained_on:
            print(f"warning: --split all includes {len(trained_on)} patients the model was trained on (and its validation patients, "
                  "used for selection and thresholds); these figures are optimistic. Use --split validation or test for an estimate "
                  "on new images.", file=sys.stderr)
    result = evaluate(bundle, cases, args.out_json, args.roc_png, args.device, args.foreground_raw)
    print(json.dumps(_evaluation_headline(result), indent=2))
    for note in result.get("notes", []):
        print(f"note: {note}")


def _evaluation_headline(result) -> dict:
    """Image metrics where the data has image labels, slice metrics where it has slices, pixel metrics where it has masks."""
    keys = []
    if "image_auroc" in result:
        keys += ["image_auroc", "image_auroc_ci95", "image_ap", "image_ap_ci95", "image_sensitivity_at_calibrated_threshold",
                 "image_specificity_at_calibrated_threshold", "image_n_pos", "image_n_neg"]
    if "image_auroc" not in result or any(key.startswith("pixel_auroc") for key in result) or result.get("counted_slices", 0) > result["cases"]:
        keys += ["slice_auroc", "slice_ap", "position_matched_auroc"]
    if "pixel_auroc" in result:
        keys += ["pixel_auroc", "pixel_ap", "pixel_dice", "pixel_best_dice_oracle"]
    headline = {k: result.get(k) for k in keys}
    if result.get("image_per_class") and len(result["image_per_class"]) > 1:
        headline["image_auroc_per_class"] = {name: part["auroc"] for name, part in result["image_per_class"].items()}
    headline["seconds_per_volume"] = result.get("seconds_per_volume")
    return headline


def _evaluate_landmarks(bundle, args) -> None:
    from AnomalyDetectLib.landmark_detection import LandmarkDetector

    from .landmark_eval import evaluate_landmarks, report_lines
    from .landmarks import discover_landmark_cases

    cases = discover_landmark_cases(args.data)
    training = bundle.spec.training
    seen = set(training.volumes or ()) if training is not None else set()
    overlap = sorted(seen & {c.patient for c in cases})
    if overlap:
        print(f"warning: {len(overlap)} of these volumes were used to train the model ({', '.join(overlap)}); "
              "their figures are training figures, not an estimate for new volumes.")
    metrics = evaluate_landmarks(LandmarkDetector.from_bundle(bundle, args.device), cases)
    print("\n".join(report_lines(metrics)))
    if args.out_json:
        with open(args.out_json, "w") as handle:
            json.dump(metrics, handle, indent=2, default=float)
