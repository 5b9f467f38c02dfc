"""The bundle manifest, typed: what a model bundle says about its model.

On disk (:mod:`AnomalyDetectLib.bundle`) the manifest is a JSON object; code reads it through
:class:`Manifest` instead of string keys. ``Manifest.from_json(document)`` checks every entry
code reads and raises :class:`BundleError` naming the missing or invalid key;
``to_json()`` gives the document back as it was: keys that were absent stay absent, keys this
version does not read are kept verbatim (``extra``), so loading and saving loses nothing.

* ``kind`` tells anomaly and landmark bundles apart, in this one place (by the method registry).
* The map threshold is ``thresholds.map`` in code; on disk it stays ``"pixel"`` (``MAP_THRESHOLD_KEY``).
* ``scoring`` is :class:`Scoring` for anomaly models (the defaults of
  :data:`AnomalyDetectLib.scoring.DEFAULT_SCORING` filled in, as detection has always applied
  them) and :class:`LandmarkScoring` (the detection settings) for landmark models.

Example::

    from AnomalyDetectLib.bundle import load_bundle, default_bundle_path
    spec = load_bundle(default_bundle_path()).spec      # a Manifest
    spec.kind, spec.input_size, spec.scoring.map, spec.thresholds.slice, spec.thresholds.map
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Dict, FrozenSet, List, Optional, Tuple, Union

from .errors import BundleError
from .manifest_schema import _data_description, _flag, _integer, _list, _names, _number, _object, _or_null, _positive_integer, _Section, _text
from .models import LANDMARK_METHODS, METHODS
from .scoring import DEFAULT_SCORING

ANOMALY = "anomaly"
LANDMARKS = "landmarks"
REQUIRED_KEYS = ("method", "architecture", "input_size", "channels", "modality", "normalisation", "thresholds", "scoring")
# Bundles have stored the map (per-pixel) threshold as "pixel" since the first release, and every earlier
# reader (detection, the Slicer panel) looks it up there: a bundle written with another name would silently
# lose its map threshold in an older installation. So the file keeps "pixel"; code says "map".
MAP_THRESHOLD_KEY = "pixel"
SLICE_SCORES = ("map", "image")


@dataclass(frozen=True)
class Thresholds(_Section):
    """Calibrated thresholds (``trainer fit`` / ``trainer calibrate``); None = not calibrated."""

    slice: Optional[float] = None
    map: Optional[float] = None  # on disk "pixel" (MAP_THRESHOLD_KEY)
    confidence: Optional[float] = None  # landmark models: below it a landmark is reported absent
    slice_quantile: Optional[float] = None  # the quantiles of normal validation data they were taken at
    map_quantile: Optional[float] = None
    extra: Dict = field(default_factory=dict)
    given: FrozenSet[str] = frozenset()

    SCHEMA = {
        "slice": ("slice", _number), "map": (MAP_THRESHOLD_KEY, _number), "confidence": ("confidence", _number),
        "slice_quantile": ("slice_quantile_of_normal_validation", _number),
        "map_quantile": (f"{MAP_THRESHOLD_KEY}_quantile_of_normal_validation", _number),
    }


@dataclass(frozen=True)
class Scoring(_Section):
    """How an anomaly model's maps become slice scores (:mod:`AnomalyDetectLib.scoring`); absent keys take the defaults."""

    map: str = DEFAULT_SCORING["map"]
    top_fraction: float = DEFAULT_SCORING["top_fraction"]
    min_foreground_fraction: float = DEFAULT_SCORING["min_foreground_fraction"]
    level_calibration: bool = DEFAULT_SCORING["level_calibration"]
    interior_erosion_mm: float = DEFAULT_SCORING["interior_erosion_mm"]
    rim_on_masked_background: bool = DEFAULT_SCORING["rim_on_masked_background"]
    intensity_weighting: Optional[Dict] = DEFAULT_SCORING["intensity_weighting"]
    slice_score: str = DEFAULT_SCORING["slice_score"]
    map_dilation_mm: float = DEFAULT_SCORING["map_dilation_mm"]
    extra: Dict = field(default_factory=dict)
    given: FrozenSet[str] = frozenset()

    SCHEMA = {name: (name, check) for name, check in (
        ("map", _text), ("top_fraction", _number), ("min_foreground_fraction", _number), ("level_calibration", _flag),
        ("interior_erosion_mm", _number), ("rim_on_masked_background", _flag), ("intensity_weighting", _or_null(_object)),
        ("slice_score", _text), ("map_dilation_mm", _number),
    )}

    def __post_init__(self):
        if self.slice_score not in SLICE_SCORES:
            raise BundleError(f"manifest entry 'scoring.slice_score' must be one of {SLICE_SCORES}, not {self.slice_score!r}.")
        if not 0.0 < self.top_fraction <= 1.0:
            raise BundleError(f"manifest entry 'scoring.top_fraction' must be in (0, 1], not {self.top_fraction!r}.")
        if self.map_dilation_mm < 0:
            raise BundleError(f"manifest entry 'scoring.map_dilation_mm' must not be negative, not {self.map_dilation_mm!r}.")
        if self.interior_erosion_mm < 0:
            raise BundleError(f"manifest entry 'scoring.interior_erosion_mm' must not be negative, not {self.interior_erosion_mm!r}.")

    @property
    def weighting(self):
        """The :class:`~AnomalyDetectLib.intensity.IntensityWeighting` of the maps, or None."""
        from .intensity import IntensityWeighting

        return IntensityWeighting.from_config(self.intensity_weighting)


@dataclass(frozen=True)
class LandmarkScoring(_Section):
    """A landmark model's detection settings; absent ones come from the method (:meth:`settings`)."""

    extent_mm: Optional[float] = None
    grid_mm: Optional[float] = None
    candidates_per_class: Optional[int] = None
    min_confidence: Optional[float] = None
    centre_window: Optional[float] = None
    centre_iterations: Optional[int] = None
    extra: Dict = field(default_factory=dict)
    given: FrozenSet[str] = frozenset()

    SCHEMA = {"extent_mm": ("extent_mm", _number), "grid_mm": ("grid_mm", _number),
              "candidates_per_class": ("candidates_per_class", _integer), "min_confidence": ("min_confidence", _number),
              "centre_window": ("centre_window", _number), "centre_iterations": ("centre_iterations", _integer)}

    def settings(self, defaults: Optional[Dict] = None) -> Dict:
        """The detection settings: ``defaults`` (the method's) overridden by this manifest's."""
        return dict(defaults or {}, **self.to_json())


@dataclass(frozen=True)
class Training(_Section):
    """The training summary; every entry is optional (None = absent), the rest stay in ``extra``."""

    data: Union[Dict, str, None] = None  # a data description; older bundles held the data folder's path
    description: Optional[str] = None  # landmark models: what they were trained on
    epochs: Optional[int] = None
    steps: Optional[int] = None
    batch_size: Optional[int] = None
    max_minutes: Optional[float] = None
    stopped_by_time_limit: Optional[bool] = None
    training_seconds: Optional[float] = None
    selected_step: Optional[int] = None
    hyperparameters: Optional[Dict] = None
    training_patients: Optional[Tuple[str, ...]] = None
    validation_patients: Optional[Tuple[str, ...]] = None
    test_patients: Optional[Tuple[str, ...]] = None
    volumes: Optional[Tuple[str, ...]] = None  # landmark models: the training volumes' names
    extra: Dict = field(default_factory=dict)
    given: FrozenSet[str] = frozenset()

    SCHEMA = {name: (name, check) for name, check in (
        ("data", _data_description), ("description", _or_null(_text)), ("epochs", _or_null(_integer)), ("steps", _or_null(_integer)),
        ("batch_size", _or_null(_integer)), ("max_minutes", _or_null(_number)), ("stopped_by_time_limit", _or_null(_flag)),
        ("training_seconds", _or_null(_number)), ("selected_step", _or_null(_integer)), ("hyperparameters", _or_null(_object)),
        ("training_patients", _or_null(_names)), ("validation_patients", _or_null(_names)), ("test_patients", _or_null(_names)),
        ("volumes", _or_null(_names)),
    )}

    @property
    def data_name(self) -> str:
        """What the model was trained on, for people: the data description's name (older bundles: the data folder's name)."""
        if isinstance(self.data, dict):
            return str(self.data.get("name", "?"))
        return os.path.basename(str(self.data).rstrip("/")) if self.data else "?"

    def patients(self, split: str) -> Tuple[str, ...]:
        """The ``"training"``, ``"validation"`` or ``"test"`` patients (empty when not recorded)."""
        if split not in ("training", "validation", "test"):
            raise ValueError(f"unknown split {split!r}")
        return getattr(self, f"{split}_patients") or ()


@dataclass(frozen=True)
class OnnxEntry(_Section):
    """The ONNX graph stored in the bundle (``python -m trainer export``)."""

    input: Optional[str] = None
    input_shape: Optional[List] = None
    outputs: Optional[Tuple[str, ...]] = None
    opset: Optional[int] = None
    map: Optional[str] = None  # anomaly models: the map the graph computes
    method_traits: Optional[Dict] = None  # backends.MethodTraits.to_json(), for running without torch
    exported_with: Optional[Dict] = None
    max_relative_difference: Optional[float] = None
    extra: Dict = field(default_factory=dict)
    given: FrozenSet[str] = frozenset()

    SCHEMA = {name: (name, check) for name, check in (
        ("input", _text), ("input_shape", _list), ("outputs", _names), ("opset", _integer), ("map", _or_null(_text)),
        ("method_traits", _or_null(_object)), ("exported_with", _or_null(_object)), ("max_relative_difference", _or_null(_number)),
    )}

    @property
    def latent_search(self) -> bool:
        return bool((self.method_traits or {}).get("latent_search"))


def _calibration(value, where):
    """Level calibration (:class:`~AnomalyDetectLib.scoring.LevelCalibration`): equally long lists of numbers, or null."""
    if value is None:
        return None
    _object(value, where)
    lists = [_list(value.get(key), f"{where}.{key}") for key in ("centres", "medians", "spreads")]
    if set(value) != {"centres", "medians", "spreads"} or len({len(v) for v in lists}) != 1 or not lists[0]:
        raise BundleError(f"manifest entry '{where}' must hold 'centres', 'medians' and 'spreads' of one length, not {sorted(value)}.")
    for key, values in zip(("centres", "medians", "spreads"), lists):
        for item in values:
            _number(item, f"{where}.{key}")
    return value


def _context(value, where):
    """The 2.5D context (:class:`~AnomalyDetectLib.context.SliceContext`), or null / absent for a 2D model."""
    from .context import SliceContext

    if value is not None:
        SliceContext.from_config(_object(value, where))  # raises BundleError naming the context
    return value


def _weighting(value, where):
    """An intensity weighting (:class:`~AnomalyDetectLib.intensity.IntensityWeighting`), or null."""
    from .intensity import IntensityWeighting

    if value is not None:
        IntensityWeighting.from_config(_object(value, where))  # raises BundleError naming the bad setting
    return value


@dataclass(frozen=True)
class MaskedProfile(_Section):
    """Scoring for volumes whose background is masked (skull-stripped brains); absent = the default scoring for every volume.

    Detection switches to it when it finds a masked background (:func:`~AnomalyDetectLib.preprocess.has_masked_background`):
    without scalp fat, intensity is a more reliable cue, so the profile may weight it differently,
    and it carries the level calibration and thresholds fitted for that map (``trainer calibrate
    --masked-profile``: the validation patients' volumes with the outer ``simulated_rim_mm`` masked
    away, normal slices only).
    """

    intensity_weighting: Optional[Dict] = None
    calibration: Optional[Dict] = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    simulated_rim_mm: Optional[float] = None
    validation_metrics: Optional[Dict] = None
    extra: Dict = field(default_factory=dict)
    given: FrozenSet[str] = frozenset()

    SCHEMA = {name: (name, check) for name, check in (
        ("intensity_weighting", _weighting), ("calibration", _calibration), ("thresholds", Thresholds.from_json),
        ("simulated_rim_mm", _or_null(_number)), ("validation_metrics", _or_null(_object)),
    )}

    @property
    def weighting(self):
        from .intensity import IntensityWeighting

        return IntensityWeighting.from_config(self.intensity_weighting)

    @property
    def level_calibration(self):
        from .scoring import LevelCalibration

        return LevelCalibration.from_config(self.calibration)


@dataclass(frozen=True)
class Manifest(_Section):
    """A bundle's manifest. Build it with :meth:`from_json`; ``to_json()`` gives the document back unchanged."""

    method: str = ""
    architecture: Dict = field(default_factory=dict)  # the method's hyper-parameters (method-specific)
    input_size: int = 0
    channels: int = 1
    modality: str = ""
    normalisation: Dict = field(default_factory=dict)  # preprocess.normaliser_from_config's entry
    thresholds: Thresholds = field(default_factory=Thresholds)
    scoring: Union[Scoring, LandmarkScoring] = field(default_factory=Scoring)
    calibration: Optional[Dict] = None  # level calibration (anomaly models), null when off
    context: Optional[Dict] = None  # 2.5D input ({"slices", "spacing_mm"}); None = 2D
    training: Optional[Training] = None
    validation_metrics: Optional[Dict] = None
    test_figures: Optional[Dict] = None  # landmark models: figures on unseen test patients
    onnx: Optional[OnnxEntry] = None
    masked_profile: Optional[MaskedProfile] = None  # anomaly models: scoring for masked (skull-stripped) volumes
    weights_sha256: Optional[str] = None
    format_version: Optional[int] = None
    extra: Dict = field(default_factory=dict)
    given: FrozenSet[str] = frozenset()

    SCHEMA = {name: (name, check) for name, check in (
        ("method", _text), ("architecture", _object), ("input_size", _positive_integer), ("channels", _positive_integer),
        ("modality", _text), ("normalisation", _object), ("thresholds", Thresholds.from_json),
        ("scoring", _object),  # parsed by kind in from_json
        ("calibration", _calibration), ("context", _context), ("training", _or_null(Training.from_json)),
        ("validation_metrics", _or_null(_object)), ("test_figures", _or_null(_object)),
        ("onnx", _or_null(OnnxEntry.from_json)), ("masked_profile", _or_null(MaskedProfile.from_json)), ("weights_sha256", _or_null(_text)),
        ("format_version", _or_null(_integer)),
    )}

    @classmethod
    def from_json(cls, data) -> Manifest:
        """Check and type a manifest document; raises :class:`BundleError` naming the missing or invalid key."""
        if not isinstance(data, dict):
            raise BundleError(f"The manifest must be a JSON object, not {type(data).__name__}.")
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise BundleError(f"The manifest lacks the required {'keys' if len(missing) > 1 else 'key'} {', '.join(repr(key) for key in missing)}.")
        method = _text(data["method"], "method")
        if method not in METHODS and method not in LANDMARK_METHODS:
            known = ", ".join(sorted(list(METHODS) + list(LANDMARK_METHODS)))
            raise BundleError(f"The manifest is for method '{method}', which this version does not know ({known}).")
        parsed = super().from_json(data, "")
        if parsed.kind == LANDMARKS:
            _names(parsed.architecture.get("classes"), "architecture.classes")
            return replace(parsed, scoring=LandmarkScoring.from_json(parsed.scoring, "scoring"))
        return replace(parsed, scoring=Scoring.from_json(parsed.scoring, "scoring"))

    @property
    def kind(self) -> str:
        """``"anomaly"`` or ``"landmarks"``: how bundles of the two kinds are told apart (:func:`method_kind`)."""
        return method_kind(self.method)

    @property
    def is_landmarks(self) -> bool:
        return self.kind == LANDMARKS

    @property
    def classes(self) -> List[str]:
        """A landmark model's landmark names (``architecture.classes``); empty for anomaly models."""
        return list(self.architecture.get("classes", [])) if self.is_landmarks else []

    @property
    def slice_context(self):
        """The :class:`~AnomalyDetectLib.context.SliceContext` the model was trained with (2D when absent)."""
        from .context import SliceContext

        return SliceContext.from_config(self.context)

    @property
    def level_calibration(self):
        """The :class:`~AnomalyDetectLib.scoring.LevelCalibration` detection applies, or None (off, or not fitted)."""
        from .scoring import LevelCalibration

        return LevelCalibration.from_config(self.calibration) if self.kind == ANOMALY and self.scoring.level_calibration else None

    def require_kind(self, kind: str, path: str = "") -> Manifest:
        """This manifest, or a :class:`BundleError` when it is of the other kind."""
        if self.kind == kind:
            return self
        name = f"'{path}'" if path else "This model"
        if kind == LANDMARKS:
            raise BundleError(f"{name} is an anomaly model ({self.method}), not a landmark detector.")
        raise BundleError(f"{name} is a {self.kind} model, not an anomaly model; load it as the landmark detector.")


def method_kind(method: str) -> str:
    """The kind of the models method ``method`` makes: the one place it is decided, from the registry (no torch needed)."""
    return LANDMARKS if method in LANDMARK_METHODS else ANOMALY


def as_manifest(manifest: Union[Manifest, Dict]) -> Manifest:
    """``manifest`` typed: a :class:`Manifest` as it is, a JSON document through :meth:`Manifest.from_json`."""
    return manifest if isinstance(manifest, Manifest) else Manifest.from_json(manifest)
