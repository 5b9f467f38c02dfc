"""Shared pieces of the LGG benchmark scripts: the protocol of ../shared/DATA.md.

A slice counts when at least 10 % of its pixels exceed 20 (raw FLAIR); its label is
``mask.any()``; pixel metrics run over brain pixels (FLAIR > 20).
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for path in (os.path.join(ROOT, "AnomalyDetect"), ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

BRAIN_RAW = 20.0
MIN_BRAIN_FRACTION = 0.10


def held_out_cases(data: str, bundle, split: str = "validation"):
    """The cases of the bundle's held-out ``validation`` or ``test`` patients found in ``data``."""
    from trainer.data import discover_cases

    held_out = set(bundle.spec.training.patients(split))
    cases = [case for case in discover_cases(data) if case.patient in held_out]
    if not cases:
        raise SystemExit(f"None of the bundle's {split} patients is in {data}.")
    return cases


def several_models_parser(description: str, model_help: str, bootstrap: int):
    """The command line of the scripts that score several bundles on one patient split."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help=model_help)
    parser.add_argument("--lgg", required=True)
    parser.add_argument("--split", choices=["validation", "test"], default="validation")
    parser.add_argument("--bootstrap", type=int, default=bootstrap)
    return parser


def bundles_on_one_split(paths):
    """The bundles at ``paths``; an error unless they were trained on one patient split."""
    from AnomalyDetectLib.bundle import load_bundle

    bundles = [load_bundle(path) for path in paths]
    if len({tuple(b.spec.training.validation_patients or ()) for b in bundles}) != 1:
        raise SystemExit("The models were trained on different patient splits; use one --split-seed.")
    return bundles
