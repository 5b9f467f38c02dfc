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
