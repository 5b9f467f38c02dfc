"""Detection: a volume and a model bundle in, an anomaly map and slice scores out.

Example (plain Python, the Slicer console or the trainer)::

    from AnomalyDetectLib.volume import read_volume
    from AnomalyDetectLib.bundle import load_bundle, default_bundle_path
    from AnomalyDetectLib.pipeline import detect
    result = detect(read_volume("flair.nii.gz"), load_bundle(default_bundle_path()),
                    progress=lambda f, msg: print(f"{f:.0%} {msg}"))
    result.anomaly_map      # float32, the input's (k, j, i) grid
    result.slice_scores     # one per k slice; 0 for slices not scored
    result.flagged          # slice score above the bundle's calibrated threshold

Axial (k) slices are processed in batches: each batch is normalised with statistics
of the whole volume, resampled to the model's input size, mapped, and its map
resampled back into the output array, so memory beyond the input is the float32
output map plus one batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from .backends import as_runner, method_traits, open_runner
from .bundle import ModelBundle
from .context import SliceContext
from .errors import AnomalyDetectError, BundleError, Cancelled
from .intensity import IntensityWeighting, tissue_statistics
from .manifest import ANOMALY, Manifest, Thresholds, as_manifest
from .orientation import InPlaneOrientation
from .preprocess import has_masked_background, interior_mask, normaliser_from_config, resize_slices, restore_slices
from .roi import RegionOfInterest
from .scoring import LevelCalibration, dilate_maps, relative_levels, scored_slices, slice_scores
from .volume import Volume, check_volume

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]


@dataclass
class DetectionResult:
    """Outputs of :func:`detect`; arrays are indexed by the input's k (slice) index."""

    anomaly_map: np.ndarray
    slice_scores: np.ndarray
    raw_slice_scores: np.ndarray
    scored: np.ndarray
    levels: np.ndarray
    flagged: np.ndarray
    volume_score: float
    slice_threshold: float
    map_threshold: float
    device: str
    timings: Dict[str, float] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)
    skipped: Optional[np.ndarray] = None  # (slices,) bool: outside the region of interest, score 0
    roi: Optional[Dict] = None  # the region of interest used (RegionOfInterest.describe()), None = whole volume
    rim_mm: float = 0.0  # outer rim removed from the scoring region (0 for a masked, e.g. skull-stripped, volume)
    masked_background: bool = False  # the volume's background is one constant value (skull-stripped or masked)
    profile: str = "default"  # the scoring profile used: "default", or "masked" (the bundle's masked_profile, for such volumes)

    @property
    def flagged_slices(self) -> List[int]:
        return [int(k) for k in np.flatnonzero(self.flagged)]

    def with_slice_threshold(self, threshold: float) -> DetectionResult:
        """The same result with slices flagged against ``threshold`` instead of the model's calibrated one.

        Scores, map and volume score are unchanged; only scored slices (not skipped, enough
        foreground) can be flagged. Raises :class:`AnomalyDetectError` for a non-finite threshold.
        """
        threshold = float(threshold)
        if not np.isfinite(threshold):
            raise AnomalyDetectError(f"The slice threshold must be a finite number; got {threshold}.")
        return replace(self, slice_threshold=threshold, flagged=self.scored & (self.slice_scores > threshold))

    def summary(self) -> Dict:
        return {
            "volume_score": self.volume_score,
            "slice_threshold": self.slice_threshold,
            "map_threshold": self.map_threshold,
            "flagged_slices": self.flagged_slices,
            "scored_slices": int(self.scored.sum()),
            "skipped_slices": [] if self.skipped is None else [int(k) for k in np.flatnonzero(self.skipped)],
            "roi": self.roi,
            "rim_mm": self.rim_mm,
            "masked_background": self.masked_background,
            "profile": self.profile,
            "slices": int(len(self.slice_scores)),
            "device": self.device,
            "timings_s": self.timings,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class ScoringProfile:
    """What turns a volume's maps into its result: intensity weighting, level calibration and thresholds."""

    name: str
    weighting: Optional[IntensityWeighting]
    calibration: Optional[LevelCalibration]
    thresholds: Thresholds

    @classmethod
    def of(cls, spec: Manifest) -> Dict[str, ScoringProfile]:
        """The bundle's profiles: ``"default"``, and ``"masked"`` when the manifest has a masked profile."""
        profiles = {"default": cls("default", spec.scoring.weighting, spec.level_calibration, spec.thresholds)}
        masked = spec.masked_profile
        if masked is not None:
            calibration = masked.level_calibration if spec.scoring.level_calibration else None
            profiles["masked"] = cls("masked", masked.weighting, calibration, masked.thresholds)
        return profiles


class Detector:
    """A model ready to analyse volumes (networks built once, reused across volumes)."""

    def __init__(self, manifest: Union[Manifest, Dict], networks, device: str = "cpu"):
        """``manifest``: the JSON document or a :class:`~AnomalyDetectLib.manifest.Manifest`; ``networks``: the method's
        torch networks, or a runner of :mod:`AnomalyDetectLib.backends` (torch or onnxruntime)."""
        self.manifest = manifest
        self.spec = spec = as_manifest(manifest).require_kind(ANOMALY)
        self.traits = method_traits(spec)
        self.method = self.traits.method  # None without torch (the bundle's ONNX graph runs the model)
        self.networks = networks
        self.runner = as_runner(spec, networks, device)
        self.device = self.runner.device
        self.normaliser = normaliser_from_config(spec.normalisation)
        self.scoring = spec.scoring
        self.input_size = spec.input_size
        self.context: SliceContext = spec.slice_context
        if self.context.channels != spec.channels:
            raise BundleError(f"The model takes {spec.channels} input channel(s) but its context has {self.context.slices} slices; "
                              "the bundle is inconsistent.")
        self.profiles = ScoringProfile.of(spec)

    @property
    def intensity_weighting(self) -> Optional[IntensityWeighting]:
        """The default profile's intensity weighting (None = maps not weighted)."""
        return self.profiles["default"].weighting

    @classmethod
    def from_bundle(cls, bundle: ModelBundle, device: str = "auto", backend: str = "auto") -> Detector:
        """``backend``: "auto" (torch when installed, else onnxruntime), "torch" or "onnx" (see :mod:`AnomalyDetectLib.backends`)."""
        bundle.spec.require_kind(ANOMALY, bundle.path)
        runner = open_runner(bundle, backend, device)
        return cls(bundle.manifest, runner, runner.device)

    def run(
        self,
        volume: Volume,
        progress: Optional[ProgressCallback] = None,
        should_cancel: Optional[Callable[[], bool]] = None,
        batch_size: Optional[int] = None,
        roi: Optional[RegionOfInterest] = None,
    ) -> DetectionResult:
        """``batch_size``: slices per forward pass; None = the method's ``DETECT_BATCH_SIZE`` (16 if it has none).

        ``roi``: only slices meeting it are analysed, and only their pixels inside it; the others
        are scored 0 and marked ``skipped``. A region that meets no slice is an error. (Methods that
        score whole images, ``slice_score: "image"``, see the whole slice of an analysed slice.)
        """
        batch_size = int(batch_size or self.traits.detect_batch_size or 16)

        started = time.perf_counter()
        check_volume(volume)
        warnings = self._modality_warnings(volume)
        report = progress or (lambda fraction, message: None)
        cancel = should_cancel or (lambda: False)
        orientation = InPlaneOrientation.of(volume.ijk_to_ras)
        voxels = orientation.apply(volume.voxels)  # a view: slices as the model was trained to see them
        spacing_rc = orientation.spacing_rows_columns(volume.spacing)
        slices, rows, columns = voxels.shape
        scale = self.normaliser.fit(voxels)

        foreground_fraction = np.empty(slices)
        for start in range(0, slices, 64):
            raw = voxels[start : start + 64]
            foreground_fraction[start : start + 64] = self.normaliser.foreground(raw, scale).mean(axis=(1, 2))
        scored = scored_slices(foreground_fraction, self.scoring.min_foreground_fraction)
        levels = relative_levels(scored)
        sample = _evenly_spaced(np.flatnonzero(scored), SAMPLE_SLICES)
        masked, rim_mm = self.rim_for(voxels[sample], scale)
        if masked and rim_mm == 0.0 and float(self.scoring.interior_erosion_mm) > 0:
            logger.info("'%s' has a masked (e.g. skull-stripped) background: no outer rim removed from the scoring region.", volume.name)
        profile = self.profile_for(masked)
        tissue = (0.5, 1.0)
        if profile.weighting is not None and len(sample):
            regions = self.scoring_region(voxels[sample], scale, spacing_rc, rim_mm)
            tissue = tissue_statistics(scale.apply(voxels[sample])[regions])
        inside = np.ones(slices, dtype=bool) if roi is None else roi.slice_mask(volume)
        if not inside.any():
            raise AnomalyDetectError(f"The region of interest ({roi.source}: {roi.describe()['lower_ras_mm']} to "
                                     f"{roi.describe()['upper_ras_mm']} mm RAS) does not meet '{volume.name}'; nothing would be analysed.")
        scored &= inside
        prepared = time.perf_counter()

        anomaly_map = np.zeros(voxels.shape, dtype=np.float32)
        raw_scores = np.zeros(slices, dtype=np.float64)
        for start in range(0, slices, batch_size):
            if cancel():
                raise Cancelled(f"Detection on '{volume.name}' was cancelled at slice {start} of {slices}.")
            report(start / slices, f"Analysing slices {start + 1}–{min(start + batch_size, slices)} of {slices}")
            if not inside[start : start + batch_size].any():
                continue
            raw = voxels[start : start + batch_size]
            indices = np.arange(start, start + len(raw))
            normalised = scale.apply(self.context.gather(voxels, indices, volume.ijk_to_ras))  # (n, channels, rows, cols)
            region = self.scoring_region(raw, scale, spacing_rc, rim_mm)
            if roi is not None and not roi.open_in_plane:
                region &= orientation.apply(roi.pixel_masks(volume, range(start, start + len(raw))))
            channels = normalised.shape[1]
            model_input = resize_slices(normalised.reshape((-1, rows, columns)), self.input_size)
            model_input = model_input.reshape((len(raw), channels, self.input_size, self.input_size))
            maps, *image_scores = self.runner(model_input)  # image_scores: [] or [(B,) scores]
            image_scores = image_scores[0] if image_scores else None
            # Slice scores come from the structural map as the model made it; the dilation (scoring.map_dilation_mm) is for the
            # output map, whose lesion interiors it fills (scoring the dilated map lowered the flagged column's sensitivity).
            structure = restore_slices(maps, (rows, columns))
            dilated = dilate_maps(structure, spacing_rc, float(self.scoring.map_dilation_mm))  # `structure` itself when off
            weigh = self._weigher(profile, normalised[:, channels // 2], tissue)
            full_maps = weigh(dilated)
            scoring_maps = full_maps if dilated is structure else weigh(structure)
            full_maps *= region
            full_maps[~inside[start : start + len(raw)]] = 0.0  # slices outside the region of interest
            if scoring_maps is not full_maps:
                scoring_maps = scoring_maps * region
            if self.scoring.slice_score == "image" and image_scores is not None:
                batch_scores = image_scores.astype(np.float64)
            else:
                batch_scores = slice_scores(scoring_maps, region, self.scoring.top_fraction)
            raw_scores[start : start + len(raw)] = np.where(scored[start : start + len(raw)], batch_scores, 0.0)
            anomaly_map[start : start + len(raw)] = full_maps
        report(1.0, "Scoring slices")
        anomaly_map = np.ascontiguousarray(orientation.undo(anomaly_map))

        if profile.calibration is not None:
            calibrated = np.where(scored, profile.calibration.apply(levels, raw_scores), 0.0)
        else:
            calibrated = raw_scores.copy()
        thresholds = profile.thresholds  # None: not calibrated, nothing flagged
        slice_threshold = float(np.inf if thresholds.slice is None else thresholds.slice)
        map_threshold = float(np.inf if thresholds.map is None else thresholds.map)
        flagged = scored & (calibrated > slice_threshold)
        volume_score = float(calibrated[scored].max()) if scored.any() else 0.0
        finished = time.perf_counter()
        timings = {"prepare": prepared - started, "inference": finished - prepared, "total": finished - started}
        return DetectionResult(
            anomaly_map, calibrated, raw_scores, scored, levels, flagged, volume_score, slice_threshold, map_threshold,
            str(self.device), timings, warnings, ~inside, None if roi is None else roi.describe(), rim_mm, masked, profile.name,
        )

    @staticmethod
    def _weigher(profile: ScoringProfile, centre_slices: np.ndarray, tissue: Tuple[float, float]) -> Callable[[np.ndarray], np.ndarray]:
        """Structural maps → the maps the profile makes of them (intensity-weighted by ``centre_slices``' intensities, or as they are)."""
        if profile.weighting is None:
            return lambda maps: maps
        return lambda maps: profile.weighting.apply(maps, centre_slices, *tissue)

    def profile_for(self, masked: bool) -> ScoringProfile:
        """The scoring profile of a volume: the bundle's masked profile for a masked (e.g. skull-stripped) one when it has one."""
        return self.profiles["masked"] if masked and "masked" in self.profiles else self.profiles["default"]

    def rim_for(self, raw_sample: np.ndarray, scale) -> Tuple[bool, float]:
        """``(masked background?, rim in mm)`` for a volume, from a sample of its scored slices ``(n, rows, cols)``.

        The configured ``interior_erosion_mm`` removes scalp and skull; a masked (e.g. skull-stripped)
        volume has neither, so its rim is 0 unless the manifest's ``rim_on_masked_background`` says otherwise.
        """
        erosion = float(self.scoring.interior_erosion_mm)
        if len(raw_sample) == 0 or (erosion <= 0 and "masked" not in self.profiles):
            return False, erosion
        masked = has_masked_background(raw_sample, self.normaliser.foreground(raw_sample, scale))
        return masked, (erosion if not masked or self.scoring.rim_on_masked_background else 0.0)

    def scoring_region(self, raw: np.ndarray, scale, spacing_rc, rim_mm: Optional[float] = None) -> np.ndarray:
        """Where maps count, for raw slices ``(n, rows, cols)`` of pixel size ``spacing_rc`` (mm): filled foreground less the outer rim.

        ``rim_mm``: the rim to remove (:meth:`rim_for` decides it per volume); None = the manifest's ``interior_erosion_mm``.
        """
        foreground = self.normaliser.foreground(raw, scale)
        rim = float(self.scoring.interior_erosion_mm) if rim_mm is None else float(rim_mm)
        return interior_mask(foreground, spacing_rc, rim)

    def _modality_warnings(self, volume: Volume) -> List[str]:
        expected = self.spec.modality.upper()
        found = volume.modality.upper()
        if expected and found and found != expected:
            message = f"'{volume.name}' is {found} but the model was trained on {expected}; results may be meaningless."
            logger.warning(message)
            return [message]
        return []


SAMPLE_SLICES = 24  # slices sampled per volume for its masked-background test and tissue statistics


def _evenly_spaced(indices: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` of ``indices``, evenly spread (all of them when there are fewer)."""
    if len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]


def detect(
    volume: Volume,
    bundle: ModelBundle,
    device: str = "auto",
    progress: Optional[ProgressCallback] = None,
    should_cancel: Optional[Callable[[], bool]] = None,
    batch_size: Optional[int] = None,
    roi: Optional[RegionOfInterest] = None,
    backend: str = "auto",
) -> DetectionResult:
    """Anomaly map, slice scores and flagged slices of ``volume`` under ``bundle``.

    ``device``: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    ``backend``: "auto" (torch when installed, else onnxruntime on the bundle's ONNX graph), "torch" or "onnx".
    ``progress(fraction, message)`` is called before each batch; ``should_cancel()``
    is polled between batches and raises :class:`Cancelled` when it returns True.
    The input volume is never modified.
    """
    return Detector.from_bundle(bundle, device, backend).run(volume, progress, should_cancel, batch_size, roi)
