"""Finding anatomical landmarks in a volume with a trained 2.5D patch classifier.

A landmark model (bundle method ``landmarks``, trained by ``python -m trainer fit --method
landmarks``) classifies a 2.5D patch — the axial, coronal and sagittal planes through a point,
``extent_mm`` on a side, sampled in patient space so spacing and direction do not matter — as
centred on one of K landmarks or on none. Detection:

1. candidate centres on a coarse grid (``grid_mm``) inside the body (the normaliser's foreground);
2. every candidate classified, in batches (progress reported, cancel polled between batches);
3. per landmark, the ``candidates_per_class`` most probable candidates refined three times on
   finer local 3×3×3 grids (steps of grid/2, grid/4, grid/8 around the best point so far); a point that
   several landmarks or candidates share is classified once;
4. the landmark is reported when its best probability reaches ``min_confidence``, at the centre of
   its probability plateau (``centre_iterations`` mean-shift steps over a 3×3×3 window of
   ±``centre_window``·grid); otherwise it is reported absent, not invented.

On one CPU thread a 512×512×129 abdominal CT takes about 29 s with a 27-landmark model (see
docs/BENCHMARKS.md); the coarse grid is most of it.

Example::

    from AnomalyDetectLib.bundle import load_bundle
    from AnomalyDetectLib.landmark_detection import LandmarkDetector
    result = LandmarkDetector.from_bundle(load_bundle("landmarks.safetensors")).detect(volume)
    [(f.name, f.ras, f.confidence) for f in result.found]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .backends import as_runner, method_traits, open_runner
from .bundle import ModelBundle
from .defaults import ROI_MARGIN_MM
from .errors import AnomalyDetectError, BundleError, Cancelled
from .manifest import LANDMARKS, Manifest, as_manifest
from .patches import centres_ras_to_ijk, extract_planes_25d
from .preprocess import CTWindow, MRPercentile, normaliser_from_config
from .roi import RegionOfInterest
from .volume import Volume, check_volume

ProgressCallback = Callable[[float, str], None]


def landmark_normaliser(modality: str):
    """Intensity mapping for landmark patches: CT −1000…1000 HU (bone and soft tissue both visible); MR percentiles."""
    return CTWindow(low_hu=-1000.0, high_hu=1000.0, body_hu=-500.0) if modality.upper() == "CT" else MRPercentile()


def sample_patches(volume: Volume, scale, centres_ras, size: int, extent_mm: float, rotation: Optional[np.ndarray] = None) -> np.ndarray:
    """Normalised 2.5D patches ``(N, 3, size, size)`` in [0, 1] centred on RAS points ``(N, 3)``; outside the volume reads as 0."""
    ijk = centres_ras_to_ijk(volume, centres_ras)
    raw = extract_planes_25d(volume, ijk, size=size, extent_mm=extent_mm, pad_value=scale.low, rotation=rotation)
    return scale.apply(raw)


def body_grid(volume: Volume, normaliser, scale, grid_mm: float) -> np.ndarray:
    """RAS centres ``(N, 3)`` of a grid of voxels about ``grid_mm`` apart that lie in the body (normaliser's foreground)."""
    spacing = np.asarray(volume.spacing)
    steps = np.maximum(1, np.round(grid_mm / spacing).astype(int))  # along i, j, k
    k, j, i = (np.arange(step // 2 if step < length else length // 2, length, step) for length, step in zip(volume.shape, steps[::-1]))
    body = normaliser.foreground(volume.voxels[np.ix_(k, j, i)], scale)
    kk, jj, ii = np.nonzero(body)
    ijk = np.stack([i[ii], j[jj], k[kk]], axis=1).astype(float)
    matrix = volume.ijk_to_ras
    return ijk @ matrix[:3, :3].T + matrix[:3, 3]


@dataclass(frozen=True)
class FoundLandmark:
    name: str
    ras: Tuple[float, float, float]
    confidence: float


@dataclass
class LandmarkResult:
    found: List[FoundLandmark]
    absent: List[str]  # landmarks whose best probability stayed below min_confidence
    best_confidence: Dict[str, float]
    patches_evaluated: int
    timings: Dict[str, float] = field(default_factory=dict)

    def position(self, name: str) -> Optional[np.ndarray]:
        for landmark in self.found:
            if landmark.name == name:
                return np.asarray(landmark.ras)
        return None


class LandmarkDetector:
    def __init__(self, manifest: Union[Manifest, Dict], networks, device: str = "cpu"):
        self.manifest = manifest
        self.spec = spec = as_manifest(manifest).require_kind(LANDMARKS)
        self.runner = as_runner(spec, networks, device)  # torch networks or a runner (AnomalyDetectLib.backends)
        self.device = self.runner.device
        self.classes: List[str] = spec.classes
        self.normaliser = normaliser_from_config(spec.normalisation)
        self.settings = spec.scoring.settings(method_traits(spec).default_detection)
        self.size = spec.input_size

    @classmethod
    def from_bundle(cls, bundle: ModelBundle, device: str = "auto", backend: str = "auto") -> LandmarkDetector:
        """``backend``: "auto" (torch when installed, else onnxruntime), "torch" or "onnx"."""
        bundle.spec.require_kind(LANDMARKS, bundle.path)
        runner = open_runner(bundle, backend, device)
        return cls(bundle.manifest, runner, runner.device)

    def probabilities(self, volume: Volume, scale, centres_ras: np.ndarray, batch_size: int = 512,
                      report: Optional[Callable[[int], None]] = None, cancel: Optional[Callable[[], bool]] = None) -> np.ndarray:
        """Class probabilities ``(N, K + 1)`` (column 0 = none) of patches centred on ``centres_ras``."""
        centres_ras = np.asarray(centres_ras, dtype=float)
        # Refinement windows of neighbouring candidates overlap; classify each distinct point once.
        unique, inverse = np.unique(np.round(centres_ras, 3), axis=0, return_inverse=True)
        if len(unique) < len(centres_ras):
            return self.probabilities(volume, scale, unique, batch_size, report, cancel)[inverse.reshape(-1)]
        out = np.empty((len(centres_ras), len(self.classes) + 1), dtype=np.float32)
        extent = float(self.settings["extent_mm"])
        for start in range(0, len(centres_ras), batch_size):
            if cancel is not None and cancel():
                raise Cancelled(f"Landmark detection on '{volume.name}' was cancelled.")
            patches = sample_patches(volume, scale, centres_ras[start : start + batch_size], self.size, extent)
            out[start : start + len(patches)] = self.runner(patches)[0]
            if report is not None:
                report(start + len(patches))
        return out

    def detect(self, volume: Volume, progress: Optional[ProgressCallback] = None, should_cancel: Optional[Callable[[], bool]] = None,
               min_confidence: Optional[float] = None, names: Optional[Sequence[str]] = None) -> LandmarkResult:
        """Landmarks found in ``volume`` (RAS mm) with their confidence; ``names`` restricts the search."""
        started = time.perf_counter()
        check_volume(volume)
        report = progress or (lambda fraction, message: None)
        threshold = float(self.settings["min_confidence"] if min_confidence is None else min_confidence)
        wanted = list(self.classes if names is None else names)
        unknown = [name for name in wanted if name not in self.classes]
        if unknown:
            raise BundleError(f"The landmark model does not know {unknown}; it finds {self.classes}.")
        if not wanted:
            raise AnomalyDetectError("No landmark to look for: give at least one name.")
        if not 0.0 < threshold <= 1.0 or int(self.settings["candidates_per_class"]) < 1:
            raise AnomalyDetectError(f"min_confidence must be in (0, 1] and candidates_per_class ≥ 1; got {threshold}, "
                                     f"{self.settings['candidates_per_class']}.")
        if not 0.0 < float(self.settings["centre_window"]) <= 2.0 or int(self.settings["centre_iterations"]) < 0:
            raise AnomalyDetectError(f"centre_window must be in (0, 2] and centre_iterations ≥ 0; got "
                                     f"{self.settings['centre_window']}, {self.settings['centre_iterations']}.")
        columns = [self.classes.index(name) + 1 for name in wanted]
        scale = self.normaliser.fit(volume.voxels)
        grid = body_grid(volume, self.normaliser, scale, float(self.settings["grid_mm"]))
        if len(grid) == 0:
            return LandmarkResult([], wanted, {name: 0.0 for name in wanted}, 0, {"total": time.perf_counter() - started})
        report(0.0, f"Classifying {len(grid)} candidate points")
        def classified(done: int) -> None:
            report(0.8 * done / len(grid), f"Classified {done} of {len(grid)} points")

        coarse = self.probabilities(volume, scale, grid, report=classified, cancel=should_cancel)
        count = min(int(self.settings["candidates_per_class"]), len(grid))
        best_points = np.stack([grid[np.argsort(-coarse[:, c])[:count]] for c in columns])  # (L, count, 3)
        best_values = np.stack([np.sort(-coarse[:, c])[:count] * -1 for c in columns])
        evaluated = len(grid)
        for level, step in enumerate(float(self.settings["grid_mm"]) / np.array([2.0, 4.0, 8.0])):
            report(0.8 + 0.05 * level, f"Refining {len(columns)} landmarks")
            offsets = _cube(1, step)
            points = (best_points[:, :, None, :] + offsets[None, None]).reshape(-1, 3)
            probabilities = self.probabilities(volume, scale, points, cancel=should_cancel)
            evaluated += len(points)
            per = probabilities.reshape(len(columns), count, len(offsets), -1)
            for index, c in enumerate(columns):
                values = per[index, :, :, c]
                better = values.max(axis=1) >= best_values[index]
                choice = values.argmax(axis=1)
                best_points[index][better] = points.reshape(len(columns), count, len(offsets), 3)[index, better, choice[better]]
                best_values[index][better] = values.max(axis=1)[better]
        top = best_values.argmax(axis=1)
        confidence = best_values[np.arange(len(columns)), top]
        positions = best_points[np.arange(len(columns)), top]
        present = np.flatnonzero(confidence >= threshold)
        if len(present):
            report(0.95, f"Centring {len(present)} landmarks")
            positions[present], extra = self._centre(volume, scale, positions[present], [columns[i] for i in present], should_cancel)
            evaluated += extra
        found, absent, best = [], [], {}
        for index, name in enumerate(wanted):
            best[name] = float(confidence[index])
            if confidence[index] >= threshold:
                found.append(FoundLandmark(name, tuple(float(v) for v in positions[index]), float(confidence[index])))
            else:
                absent.append(name)
        report(1.0, f"Found {len(found)} of {len(wanted)} landmarks")
        return LandmarkResult(found, absent, best, evaluated, {"total": time.perf_counter() - started})

    def _centre(self, volume: Volume, scale, points: np.ndarray, columns: List[int], cancel):
        """Move each point to the probability-weighted centre of its landmark's plateau (mean shift).

        Inside the training radius a landmark's probability is flat near 1, so its single most
        probable sample lies anywhere on that plateau; the weighted mean of a window (3×3×3
        samples, ±``centre_window``·grid) where the probability is at least half its window
        maximum moves towards the plateau's centre. Bundles saved before these two settings
        existed carry neither and get the method's defaults (±grid/2, 3 steps); their earlier
        behaviour was ±grid/4 and 2 steps.
        """
        offsets = _cube(1, float(self.settings["grid_mm"]) * float(self.settings["centre_window"]))
        iterations = int(self.settings["centre_iterations"])
        points = points.copy()
        for _ in range(iterations):
            samples = (points[:, None, :] + offsets[None]).reshape(-1, 3)
            probabilities = self.probabilities(volume, scale, samples, cancel=cancel).reshape(len(points), len(offsets), -1)
            for index, column in enumerate(columns):
                p = probabilities[index, :, column].astype(float)
                weights = np.where(p >= 0.5 * p.max(), p, 0.0)
                if weights.sum() > 0:
                    points[index] = (weights[:, None] * (points[index] + offsets)).sum(0) / weights.sum()
        return points, iterations * len(points) * len(offsets)


def _cube(half: int, step: float) -> np.ndarray:
    """Offsets ``((2·half + 1)³, 3)`` of a cubic grid of ``step`` mm centred on 0."""
    return np.stack(np.meshgrid(*[np.arange(-half, half + 1) * step] * 3, indexing="ij"), -1).reshape(-1, 3)


def landmarks_and_roi(volume: Volume, landmark_bundle: ModelBundle, between: Optional[Sequence[str]] = None, margin_mm: float = ROI_MARGIN_MM,
                      device: str = "auto", progress: Optional[ProgressCallback] = None, should_cancel: Optional[Callable[[], bool]] = None,
                      only_between: bool = False, backend: str = "auto") -> Tuple[LandmarkResult, Optional[RegionOfInterest]]:
    """Landmarks of ``volume`` and, when ``between`` names two of them, the region spanning them (z-range plus margin).

    ``only_between`` looks for those two landmarks alone (faster); otherwise every landmark the
    model knows is looked for and reported. Raises :class:`AnomalyDetectError` when a landmark of
    ``between`` is unknown to the model or not found in the volume.
    """
    if between is not None and len(between) != 2:
        raise AnomalyDetectError(f"A region between landmarks needs exactly two names; got {list(between)}.")
    detector = LandmarkDetector.from_bundle(landmark_bundle, device, backend)
    unknown = [name for name in between or () if name not in detector.classes]
    if unknown:
        raise BundleError(f"The landmark model does not know {unknown}; it finds {detector.classes}.")
    names = list(between) if between and only_between else None
    found = detector.detect(volume, progress=progress, should_cancel=should_cancel, names=names)
    if not between:
        return found, None
    points = {landmark.name: landmark.ras for landmark in found.found}
    return found, RegionOfInterest.between(points, between[0], between[1], margin_mm)
