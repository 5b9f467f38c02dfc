"""The masked (skull-stripped) scoring profile: fitted on the validation patients with their scalp and skull masked away.

Research data often comes brain-extracted: no scalp, no skull, the background one constant.
Detection recognises such volumes (:func:`AnomalyDetectLib.preprocess.has_masked_background`)
and scores them with the bundle's ``masked_profile`` when it has one. Without scalp fat, a
bright pixel is far more likely to be lesion, so the profile can give intensity more say
(its ``intensity_weighting``), and it needs its own level calibration and thresholds, since
the map, the tissue statistics and the scoring region all change with the mask.

No skull-stripped training data is needed: :func:`simulate_brain_extraction` makes a
skull-stripped version of each validation volume, keeping what lies deeper than
``rim_mm`` inside the head (the same rim detection removes from unmasked volumes),
z-scoring it and setting the rest to a constant below it, as brain-extraction pipelines
(e.g. BraTS) deliver it. The calibration and thresholds then come from those volumes'
NORMAL slices only, as for the default profile.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.manifest import MaskedProfile
from AnomalyDetectLib.pipeline import Detector
from AnomalyDetectLib.preprocess import interior_mask, normaliser_from_config
from AnomalyDetectLib.volume import Volume

from .data import Case

DEFAULT_RIM_MM = 10.0
SETTINGS = ("intensity_weighting", "simulated_rim_mm")


def simulate_brain_extraction(volume: Volume, normalisation: Dict, rim_mm: float = DEFAULT_RIM_MM) -> Volume:
    """A skull-stripped copy of ``volume`` (float32): inside = z-scored tissue deeper than ``rim_mm``, outside = one constant below it.

    "Inside" is the normaliser's foreground with holes filled, eroded by ``rim_mm`` (mm, in-plane),
    per slice; the input is not changed. Raises :class:`AnomalyDetectError` when nothing is left.
    """
    if not rim_mm > 0:
        raise AnomalyDetectError(f"The simulated brain-extraction rim must be positive, not {rim_mm!r} mm.")
    normaliser = normaliser_from_config(normalisation)
    voxels = volume.voxels
    scale = normaliser.fit(voxels)
    spacing_rc = (volume.spacing[1], volume.spacing[0])
    inside = interior_mask(normaliser.foreground(voxels, scale), spacing_rc, rim_mm)
    if not inside.any():
        raise AnomalyDetectError(f"Masking the outer {rim_mm} mm of '{volume.name}' leaves no tissue.")
    tissue = voxels[inside].astype(np.float64)
    z = ((voxels.astype(np.float64) - tissue.mean()) / max(tissue.std(), 1e-6)).astype(np.float32)
    background = np.float32(z[inside].min() - 0.01)
    return volume.with_voxels(np.where(inside, z, background).astype(np.float32), name=f"{volume.name}_masked")


def fit_masked_profile(manifest: Dict, networks, device: str, cases: Sequence[Case], settings: Dict, slice_quantile: float,
                       pixel_quantile: float) -> Dict:
    """The ``masked_profile`` manifest entry: ``settings`` (``intensity_weighting``, ``simulated_rim_mm``) with the level
    calibration, thresholds and validation metrics fitted on the skull-stripped versions of ``cases``.

    Raises :class:`AnomalyDetectError` when a simulated volume is not recognised as masked (the
    profile would never be used on it) or a setting is unknown.
    """
    from .calibrate import fit_on_results  # calibrate imports this module
    from .evaluate import run_cases

    check_settings(settings)
    rim_mm = float(settings.get("simulated_rim_mm", DEFAULT_RIM_MM))
    weighting = settings.get("intensity_weighting", manifest["scoring"].get("intensity_weighting"))
    profile = MaskedProfile.from_json({"intensity_weighting": weighting, "simulated_rim_mm": rim_mm}, "masked_profile")
    uncalibrated = dict(manifest, calibration=None, thresholds={}, masked_profile=profile.to_json())
    detector = Detector(uncalibrated, networks, device)
    case_results = run_cases(detector, cases, transform=lambda volume: simulate_brain_extraction(volume, manifest["normalisation"], rim_mm))
    unrecognised = [item.case.patient for item in case_results if item.result.profile != "masked"]
    if unrecognised:
        raise AnomalyDetectError(f"The simulated skull-stripped volumes of {unrecognised} were not recognised as masked; "
                                 "the masked profile cannot be fitted on them.")
    calibration, thresholds, metrics = fit_on_results(case_results, detector.scoring.level_calibration, slice_quantile, pixel_quantile)
    return dict(profile.to_json(), calibration=calibration, thresholds=thresholds, validation_metrics=metrics)


def check_settings(settings: Dict) -> None:
    """Raises :class:`AnomalyDetectError` naming unknown masked-profile settings."""
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise AnomalyDetectError(f"Unknown masked-profile settings {unknown}; known: {list(SETTINGS)}.")


def profile_settings(existing: Optional[Dict], requested: Optional[Dict]) -> Optional[Dict]:
    """What to fit: ``requested`` (``{}`` = the defaults; checked), else the settings of the bundle's ``existing`` profile, else None."""
    if requested is not None:
        check_settings(requested)
        return requested
    if existing:
        return {key: existing[key] for key in SETTINGS if key in existing}
    return None
