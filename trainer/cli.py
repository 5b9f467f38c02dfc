"""Command line of the trainer: ``fit`` and ``evaluate``.

    python -m trainer fit --method skipganomaly --data DIR --out model.safetensors
    python -m trainer evaluate --model model.safetensors --data DIR --out-json metrics.json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

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
    from AnomalyDetectLib.models import METHODS

    parser = argparse.ArgumentParser(prog="python -m trainer", description="Train and evaluate AnomalyDetect models.")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="train a model on normal slices and write a bundle")
    fit.add_argument("--method", required=True, choices=sorted(METHODS))
    fit.add_argument("--data", required=True, help="folder of volumes (+ *_mask companions), normal/ + abnormal/ folders, or a CSV manifest")
    fit.add_argument("--out", required=True, help="bundle file to write (.safetensors); checkpoint and loss log go beside it")
    fit.add_argument("--modality", default="MR", choices=["MR", "CT"])
    fit.add_argument("--input-size", type=int, default=64)
    fit.add_argument("--epochs", type=int, default=30)
    fit.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (for smoke runs)")
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--validation-fraction", type=float, default=0.2, help="fraction of PATIENTS held out")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    fit.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    fit.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    fit.add_argument("--architecture", type=_json_dict, default={}, help="JSON overrides of the method's architecture")
    fit.add_argument("--training", type=_json_dict, default={}, help="JSON overrides of loss weights / learning rate")
    fit.add_argument("--scoring", type=_json_dict, default={}, help='JSON overrides of scoring, e.g. \'{"map": "residual"}\'')
    fit.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    fit.add_argument("--quiet", action="store_true")

    evaluate = commands.add_parser("evaluate", help="slice and pixel metrics of a bundle on labelled data")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--split", choices=["validation", "all"], default="validation",
                          help="validation: only the patients the bundle held out (default when they are present); all: every case")
    evaluate.add_argument("--foreground-raw", type=float, default=None,
                          help="count slices/pixels by raw intensity > this value (LGG protocol: 20) instead of the model's foreground")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out-json", default=None)
    evaluate.add_argument("--roc-png", default=None)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fit":
            from .fit import FitConfig, fit

            fit(FitConfig(
                method=args.method, data=args.data, out=args.out, modality=args.modality, input_size=args.input_size,
                epochs=args.epochs, batch_size=args.batch_size, validation_fraction=args.validation_fraction, seed=args.seed,
                device=args.device, checkpoint_every=args.checkpoint_every, resume=args.resume, max_steps=args.max_steps,
                architecture=args.architecture, training=args.training, scoring=args.scoring, threads=args.threads, quiet=args.quiet,
            ))
        else:
            _evaluate(args)
    except AnomalyDetectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _evaluate(args) -> None:
    from AnomalyDetectLib.bundle import load_bundle

    from .data import discover_cases
    from .evaluate import evaluate

    bundle = load_bundle(args.model)
    cases = discover_cases(args.data)
    held_out = set(bundle.manifest.get("training", {}).get("validation_patients", []))
    if args.split == "validation" and held_out and any(c.patient in held_out for c in cases):
        cases = [c for c in cases if c.patient in held_out]
        print(f"Evaluating the {len(cases)} cases of the bundle's validation patients")
    else:
        print(f"Evaluating all {len(cases)} cases")
    result = evaluate(bundle, cases, args.out_json, args.roc_png, args.device, args.foreground_raw)
    keys = ("slice_auroc", "slice_ap", "position_matched_auroc", "pixel_auroc", "pixel_ap", "pixel_dice", "pixel_best_dice_oracle",
            "seconds_per_volume")
    print(json.dumps({k: result.get(k) for k in keys}, indent=2))
