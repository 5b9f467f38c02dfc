"""Choosing the intensity normalisation a model trains with (it is stored in the bundle).

* MR: each volume scaled by robust percentiles of its own foreground
  (:class:`AnomalyDetectLib.preprocess.MRPercentile`).
* CT in Hounsfield units: a fixed window, -160 to 240 HU, body above -500 HU
  (:class:`AnomalyDetectLib.preprocess.CTWindow` defaults).
* CT exported as 8-bit images (PNG, JPEG, ...): the pixels are not HU but grey values
  0–255 of a display window someone already chose, so an HU window would squash them
  into its top half and call every pixel "body". The window becomes the full 8-bit range
  0–255 (the export's own window is kept as it is, intensities stay comparable between
  images as they are on a viewer) and foreground is grey value above 20, above the noise
  floor of black background in compressed exports (the same cut DATA.md's LGG protocol
  uses for 8-bit FLAIR). Burned-in letters outside the head stay foreground; they are
  small and on normal and abnormal images alike.

``overrides`` (``fit --normalisation '{"low_hu": 0, "high_hu": 255, "body_hu": 20}'``)
replace fields of the chosen normaliser. For MR, ``{"kind": "mr_histogram"}`` selects the
histogram-landmark standardisation instead; :func:`fit_on_training` then fits its standard
scale on the training patients' volumes (never on validation or test patients).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.preprocess import CTWindow, MRHistogram, MRPercentile, fit_histogram_standard
from AnomalyDetectLib.volume import read_volume

from .cases import Case, is_2d_image_file

#: CT exported as 8-bit grey values: the whole 0–255 range, foreground above 20.
EIGHT_BIT_CT = CTWindow(low_hu=0.0, high_hu=255.0, body_hu=20.0)
_PROBED_IMAGES = 5


def normaliser_for(modality: str):
    """The default normaliser of a modality (MR or CT in HU)."""
    modality = modality.upper()
    if modality == "CT":
        return CTWindow()
    if modality == "MR":
        return MRPercentile()
    raise AnomalyDetectError(f"Unknown modality '{modality}'; use MR or CT.")


def choose_normaliser(modality: str, cases: Sequence[Case], overrides: Optional[Dict] = None) -> Tuple[object, Optional[str]]:
    """(normaliser, a note saying why when it is not the modality's default, else None)."""
    normaliser, note = normaliser_for(modality), None
    if modality.upper() == "CT" and cases and all(is_2d_image_file(case.image) for case in cases) and _eight_bit(cases):
        normaliser = EIGHT_BIT_CT
        note = ("CT given as 8-bit 2D images (grey values 0-255, not Hounsfield units): normalising by the full 8-bit range "
                f"and counting grey values above {EIGHT_BIT_CT.body_hu:g} as foreground")
    overrides = dict(overrides or {})
    kind = overrides.pop("kind", None)
    if kind not in (None, normaliser.kind):
        if not (kind == "mr_histogram" and normaliser.kind == "mr_percentile"):
            raise AnomalyDetectError(f"Normalisation kind {kind!r} is not available for {modality.upper()} data "
                                     f"(this data's default is {normaliser.kind!r}; MR may use 'mr_histogram').")
        normaliser = MRHistogram()
        note = "histogram-landmark standardisation (mr_histogram), fitted on the training patients"
    if overrides:
        known = {f.name for f in dataclasses.fields(normaliser)} - {"kind", "standard"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise AnomalyDetectError(f"Unknown normalisation settings {unknown} for {normaliser.kind}; known: {sorted(known)}.")
        normaliser = dataclasses.replace(normaliser, **{k: (tuple(map(float, v)) if isinstance(v, (list, tuple)) else float(v))
                                                        for k, v in overrides.items()})
        note = f"normalisation {normaliser.to_config()} (given by --normalisation)"
    return normaliser, note


def _eight_bit(cases: Sequence[Case]) -> bool:
    """Whether a few images spread over the cases hold grey values within 0–255 only."""
    picks = np.unique(np.linspace(0, len(cases) - 1, min(_PROBED_IMAGES, len(cases))).round().astype(int))
    for index in picks:
        voxels = read_volume(cases[index].image).voxels
        if float(voxels.min()) < 0 or float(voxels.max()) > 255:
            return False
    return True


def fit_on_training(normaliser, training_cases: Sequence[Case]):
    """The normaliser with whatever it learns from data fitted on ``training_cases`` (the histogram standard scale)."""
    if isinstance(normaliser, MRHistogram) and not normaliser.standard:
        return fit_histogram_standard(normaliser, (read_volume(case.image).voxels for case in training_cases))
    return normaliser
