"""Fitting score calibration and thresholds on NORMAL validation slices, then validating.

The level calibration and both thresholds see only slices labelled normal; the
tumour labels of the validation patients enter only the reported metrics.
"""

from __future__ import annotations

import sys
from typing import Dict, Sequence, Tuple, Union

import numpy as np
from AnomalyDetectLib.manifest import ANOMALY, Scoring, Thresholds
from AnomalyDetectLib.pipeline import Detector
from AnomalyDetectLib.scoring import LevelCalibration, normal_quantile_threshold

from .data import Case, discover_cases
from .evaluate import apply_calibration, compute_metrics, run_cases
from .masked import fit_masked_profile, profile_settings

MAX_THRESHOLD_PIXELS = 2_000_000


def calibrate_and_validate(manifest: Dict, networks, device: str, cases: Sequence[Case], slice_quantile: float,
                           pixel_quantile: float, quiet: bool = False) -> Tuple[Dict, Dict, Dict]:
    """(calibration config or None, thresholds, validation metrics) of the default profile."""
    detector = Detector(dict(manifest, calibration=None, thresholds={}), networks, device)
    return fit_on_results(run_cases(detector, cases), detector.scoring.level_calibration, slice_quantile, pixel_quantile)


def fit_on_results(case_results, level_calibration: bool, slice_quantile: float, pixel_quantile: float) -> Tuple[Dict, Dict, Dict]:
    """Level calibration (when ``level_calibration``) and thresholds from the NORMAL slices of uncalibrated results, and the metrics under them."""
    normal_levels, normal_scores, normal_pixels = [], [], []
    for item in case_results:
        normal = item.result.scored & (item.labels == 0)
        normal_levels.append(item.result.levels[normal])
        normal_scores.append(item.result.raw_slice_scores[normal])
        normal_pixels.append(item.result.anomaly_map[normal][item.region[normal]])
    levels, scores = np.concatenate(normal_levels), np.concatenate(normal_scores)
    calibration = LevelCalibration.fit(levels, scores) if level_calibration else None
    calibrated = calibration.apply(levels, scores) if calibration is not None else scores
    pixels = np.concatenate(normal_pixels)
    if pixels.size > MAX_THRESHOLD_PIXELS:
        pixels = np.random.default_rng(0).choice(pixels, MAX_THRESHOLD_PIXELS, replace=False)
    thresholds = Thresholds(slice=normal_quantile_threshold(calibrated, slice_quantile), map=normal_quantile_threshold(pixels, pixel_quantile),
                            slice_quantile=slice_quantile, map_quantile=pixel_quantile)
    apply_calibration(case_results, calibration, thresholds.slice)
    metrics = compute_metrics(case_results, thresholds.map, thresholds.slice)
    metrics.pop("images", None)  # one row per image belongs in an evaluation report, not in every bundle
    return (calibration.to_config() if calibration is not None else None), thresholds.to_json(), metrics


def recalibrate(model: str, data: str, out: str, scoring: Dict, slice_quantile: float, pixel_quantile: float, device: str = "auto",
                masked_profile: Union[Dict, None, bool] = None) -> Dict:
    """Refit a bundle's scoring settings, calibration and thresholds on its own validation patients.

    The weights are copied unchanged; only the manifest's scoring, calibration, thresholds
    and validation metrics change, and its masked profile (:mod:`trainer.masked`) is refitted:
    with ``masked_profile``'s settings when given (a dict; ``{}`` = the defaults), else with the
    bundle's own when it has one; ``False`` removes it. The result is written to ``out`` (atomically).
    """
    from AnomalyDetectLib.bundle import load_bundle, save_bundle
    from AnomalyDetectLib.device import resolve_device
    from AnomalyDetectLib.errors import AnomalyDetectError

    bundle = load_bundle(model)
    spec = bundle.spec.require_kind(ANOMALY, model)
    new_scoring = Scoring.from_json(dict(spec.scoring.to_json(), **scoring), "scoring")
    if new_scoring.map not in bundle.method.MAPS:
        raise AnomalyDetectError(f"Method {bundle.method.NAME} offers maps {bundle.method.MAPS}, not '{new_scoring.map}'.")
    manifest = dict(bundle.manifest, scoring=new_scoring.to_json())
    held_out = set(spec.training.patients("validation") if spec.training is not None else ())
    cases = [case for case in discover_cases(data) if case.patient in held_out]
    if not cases:
        raise AnomalyDetectError(f"None of the validation patients of '{model}' is in '{data}'.")
    settings = None if masked_profile is False else profile_settings(bundle.manifest.get("masked_profile"), masked_profile)
    resolved = resolve_device(device)
    networks = bundle.build_networks(resolved)
    calibration, thresholds, metrics = calibrate_and_validate(manifest, networks, resolved, cases, slice_quantile, pixel_quantile)
    manifest.update(calibration=calibration, thresholds=thresholds, validation_metrics=metrics)
    manifest.pop("masked_profile", None)
    if settings is not None:
        manifest["masked_profile"] = fit_masked_profile(manifest, networks, resolved, cases, settings, slice_quantile, pixel_quantile)
    for key in ("weights_sha256", "format_version"):
        manifest.pop(key, None)
    half = any(array.dtype == np.float16 for array in bundle.tensors.values())
    tensors = dict(bundle.tensors)
    stale = spec.onnx is not None and spec.onnx.map != new_scoring.map
    if stale:  # the stored ONNX graph computes the old map: drop it, then export the new one
        manifest.pop("onnx")
        tensors = {name: array for name, array in tensors.items() if not name.startswith("onnx/")}
    save_bundle(out, manifest, tensors, half_precision=half)
    if stale:
        from .export import export_bundle

        try:
            export_bundle(out, log=lambda message: None)
            manifest = load_bundle(out).manifest
        except AnomalyDetectError as error:
            print(f"warning: '{out}' has no ONNX graph now (its map changed) and could not be exported again: {error}", file=sys.stderr)
    return manifest
