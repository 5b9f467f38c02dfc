"""Training the 2.5D landmark classifier (``python -m trainer fit --method landmarks``).

Data: volumes with landmark annotations, either

* a folder where each volume has a companion ``<stem>.mrk.json`` (Slicer markups), ``<stem>.fcsv``
  or ``<stem>_landmarks.csv`` (name, x, y, z with a ``coordinate_system`` column), or
* a CSV manifest with columns ``image`` and ``landmarks`` (paths relative to the CSV) and
  optionally ``patient`` and ``coordinate_system`` (for plain CSV annotations).

Each epoch draws fresh patches from every volume:

* positives: for each annotated landmark, ``positives`` centres uniformly within
  ``positive_radius_mm`` of it (class = the landmark);
* near negatives: the same number in a shell ``negative_min_mm``–``shell_mm`` around each
  landmark (class "none"), so the classifier learns to peak on the landmark, not near it;
* body negatives: random points of the body farther than ``negative_min_mm`` from every landmark;
* hard negatives (after the first epoch): of a pool of body points and of points in the shells and
  rings around the landmarks, those the current network most believes are a(nother) landmark.

Points between ``positive_radius_mm`` and ``negative_min_mm`` of a landmark are ambiguous for that
landmark only: they are drawn too (as many as the positives), labelled "none" with that
landmark's class left out of their loss, so that they teach "not any OTHER landmark" (without
them a hollow landmark seen off-centre could pass for a different one).
Augmentation: patches are drawn in groups sharing a random rotation (up to ``rotation_deg``
about a random axis) and a random plane size (``extent_mm`` × 1 ± ``scale_jitter``); each patch
gets a random contrast and brightness change and Gaussian noise.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from AnomalyDetectLib.annotations import read_landmarks
from AnomalyDetectLib.bundle import save_bundle
from AnomalyDetectLib.device import resolve_device
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.landmark_detection import LandmarkDetector, body_grid, landmark_normaliser, sample_patches
from AnomalyDetectLib.models import get_method
from AnomalyDetectLib.volume import read_volume, volume_name

from .data import describe_data

logger = logging.getLogger(__name__)
ANNOTATION_SUFFIXES = (".mrk.json", ".fcsv", "_landmarks.csv")


@dataclass(frozen=True)
class LandmarkCase:
    image: str
    annotations: str
    patient: str
    coordinate_system: Optional[str] = None

    def read(self):
        """(volume, {name: RAS point}) of this case."""
        volume = read_volume(self.image)
        points = {p.name: np.asarray(p.ras, dtype=float) for p in read_landmarks(self.annotations, self.coordinate_system)}
        return volume, points


@dataclass
class LandmarkFitConfig:
    data: str
    out: str
    modality: str = "CT"
    classes: Optional[List[str]] = None  # default: every landmark name in the data
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    positives: int = 32
    positive_radius_mm: float = 3.0
    negative_min_mm: float = 8.0
    shell_mm: float = 30.0
    body_negatives: int = 64
    hard_negatives: int = 64
    hard_pool: int = 1500
    rotation_deg: float = 15.0
    scale_jitter: float = 0.1
    intensity_jitter: float = 0.1
    noise: float = 0.02
    architecture: Dict = field(default_factory=dict)
    detection: Dict = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    threads: Optional[int] = None
    max_minutes: Optional[float] = None
    quiet: bool = False
    resume: bool = False  # continue from the checkpoint beside ``out`` (written after every epoch)


def discover_landmark_cases(source: str) -> List[LandmarkCase]:
    """Volumes with their annotation files, from a folder or a CSV manifest (see the module docstring)."""
    if os.path.isfile(source) and source.lower().endswith(".csv"):
        folder = os.path.dirname(os.path.abspath(source))
        with open(source, newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or "image" not in rows[0] or "landmarks" not in rows[0]:
            raise AnomalyDetectError(f"Landmark manifest '{source}' needs a header with 'image' and 'landmarks' columns.")
        return [LandmarkCase(os.path.join(folder, row["image"]), os.path.join(folder, row["landmarks"]),
                             row.get("patient") or volume_name(row["image"]), (row.get("coordinate_system") or None))
                for row in rows]
    if not os.path.isdir(source):
        raise AnomalyDetectError(f"Landmark data '{source}' is neither a folder nor a CSV manifest.")
    names = sorted(os.listdir(source))
    cases = []
    for name in names:
        if name.endswith(ANNOTATION_SUFFIXES):
            continue
        stem = volume_name(name)
        for suffix in ANNOTATION_SUFFIXES:
            if stem + suffix in names:
                cases.append(LandmarkCase(os.path.join(source, name), os.path.join(source, stem + suffix), stem))
                break
    if not cases:
        raise AnomalyDetectError(f"No volume with a landmark file ({', '.join('<name>' + s for s in ANNOTATION_SUFFIXES)}) in '{source}'.")
    return cases


def _in_ball(rng: np.random.Generator, count: int, low: float, high: float) -> np.ndarray:
    """``count`` offsets uniformly distributed in the shell low ≤ r < high (a ball when low = 0)."""
    directions = rng.standard_normal((count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True) + 1e-12
    radii = (rng.uniform(low ** 3, high ** 3, count)) ** (1 / 3)
    return directions * radii[:, None]


def _random_rotation(rng: np.random.Generator, max_degrees: float) -> np.ndarray:
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


class PatchSampler:
    """Draws labelled, augmented training patches from one volume."""

    def __init__(self, volume, points: Dict[str, np.ndarray], classes: Sequence[str], config: LandmarkFitConfig, normaliser,
                 size: int, extent_mm: float):
        self.volume, self.config, self.size, self.extent = volume, config, size, extent_mm
        self.scale = normaliser.fit(volume.voxels)
        self.landmarks = [(classes.index(name) + 1, point) for name, point in points.items() if name in classes]
        body = body_grid(volume, normaliser, self.scale, 4.0)
        if self.landmarks:
            anchors = np.stack([p for _, p in self.landmarks])
            distance = np.linalg.norm(body[:, None, :] - anchors[None], axis=2).min(axis=1)
            body = body[distance >= config.negative_min_mm]
        self.body = body

    def near_points(self, rng: np.random.Generator, label: int, point: np.ndarray, shell: int, ring: int):
        """"None" samples around one landmark: ``shell`` in its negative shell, ``ring`` in its ambiguous ring
        (their loss leaves that landmark out); those too close to another landmark are dropped."""
        c = self.config
        near = np.concatenate([point + _in_ball(rng, shell, c.negative_min_mm, c.shell_mm),
                               point + _in_ball(rng, ring, c.positive_radius_mm, c.negative_min_mm)])
        left_out = np.concatenate([np.zeros(shell, dtype=np.int64), np.full(ring, label, dtype=np.int64)])
        others = [p for other, p in self.landmarks if other != label]
        if others:  # a "none" sample must not lie where another landmark's label applies
            clear = np.linalg.norm(near[:, None] - np.stack(others)[None], axis=2).min(axis=1) >= c.negative_min_mm
            near, left_out = near[clear], left_out[clear]
        return near, left_out

    def centres(self, rng: np.random.Generator, hard: Optional[Tuple[np.ndarray, np.ndarray]]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centres (N, 3), labels (N,) and the class each sample's loss leaves out (N,; 0 = none left out)."""
        c = self.config
        points, labels, ignored = [], [], []
        for label, point in self.landmarks:
            near, left_out = self.near_points(rng, label, point, c.positives, c.positives)
            points += [point + _in_ball(rng, c.positives, 0.0, c.positive_radius_mm), near]
            labels += [np.full(c.positives, label, dtype=np.int64), np.zeros(len(near), dtype=np.int64)]
            ignored += [np.zeros(c.positives, dtype=np.int64), left_out]
        blocks = []
        if len(self.body):
            blocks.append((self.body[rng.integers(0, len(self.body), c.body_negatives)], np.zeros(c.body_negatives, dtype=np.int64)))
        blocks += [hard] if hard is not None and len(hard[0]) else []
        for block, left_out in blocks:
            points.append(block)
            labels.append(np.zeros(len(block), dtype=np.int64))
            ignored.append(left_out)
        return np.concatenate(points), np.concatenate(labels), np.concatenate(ignored)

    def patches(self, rng: np.random.Generator, centres: np.ndarray, augment: bool = True) -> np.ndarray:
        c = self.config
        out = np.empty((len(centres), 3, self.size, self.size), dtype=np.float32)
        group = 32
        for start in range(0, len(centres), group):
            chunk = centres[start : start + group]
            rotation = _random_rotation(rng, c.rotation_deg) if augment and c.rotation_deg > 0 else None
            extent = self.extent * (1 + rng.uniform(-c.scale_jitter, c.scale_jitter)) if augment else self.extent
            out[start : start + len(chunk)] = sample_patches(self.volume, self.scale, chunk, self.size, extent, rotation)
        if augment:
            n = len(out)
            gain = 1 + rng.uniform(-c.intensity_jitter, c.intensity_jitter, (n, 1, 1, 1))
            shift = rng.uniform(-c.intensity_jitter, c.intensity_jitter, (n, 1, 1, 1)) / 2
            out = np.clip(out * gain + shift + rng.normal(0, c.noise, out.shape), 0, 1).astype(np.float32)
        return out

    def mine_hard(self, rng: np.random.Generator, detector: LandmarkDetector, count: int, pool: int) -> Tuple[np.ndarray, np.ndarray]:
        """The "none" points the current network most mistakes for a landmark: (points, class left out of their loss).

        Drawn from the body away from the landmarks and from the shells and ambiguous rings around
        them (where a landmark seen off-centre can pass for another one); in a ring, the ring's own
        landmark is left out of both the hardness and the loss.
        """
        if count == 0:
            return np.empty((0, 3)), np.empty(0, dtype=np.int64)
        candidates = [self.body[rng.choice(len(self.body), min(pool, len(self.body)), replace=False)]] if len(self.body) else []
        left_out = [np.zeros(len(candidates[0]), dtype=np.int64)] if candidates else []
        per = max(1, pool // max(1, 2 * len(self.landmarks)))
        for label, point in self.landmarks:
            near, near_left_out = self.near_points(rng, label, point, per, per)
            candidates.append(near)
            left_out.append(near_left_out)
        if not candidates:
            return np.empty((0, 3)), np.empty(0, dtype=np.int64)
        points, left_out = np.concatenate(candidates), np.concatenate(left_out)
        probabilities = detector.probabilities(self.volume, self.scale, points).astype(float)
        probabilities[np.arange(len(points)), left_out] = 0.0  # the ring's own landmark does not count
        probabilities[:, 0] = 0.0
        hardest = np.argsort(-probabilities.sum(axis=1))[:count]
        return points[hardest], left_out[hardest]


def fit_landmarks(config: LandmarkFitConfig, cases: Optional[Sequence[LandmarkCase]] = None, extra_manifest: Optional[Dict] = None) -> Dict:
    """Train on ``cases`` (default: all of ``config.data``), write the bundle, return its manifest.

    Every annotated volume trains the model (landmark data is scarce); estimate how it does on new
    volumes with :func:`trainer.landmark_eval.leave_one_out` (``fit --leave-one-out``).
    """
    started = time.perf_counter()
    log = (lambda message: None) if config.quiet else (lambda message: print(message, flush=True))
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)
    cases = list(cases) if cases is not None else discover_landmark_cases(config.data)
    loaded = [case.read() for case in cases]
    names = sorted({name for _, points in loaded for name in points})
    classes = list(config.classes) if config.classes else names
    missing = [name for name in classes if name not in names]
    if missing or not classes:
        raise AnomalyDetectError(f"No annotations of {missing or 'any landmark'} in the training data.")
    method = get_method("landmarks")
    architecture = dict(method.DEFAULT_ARCHITECTURE, **{k: v for k, v in config.architecture.items() if k != "classes"}, classes=classes)
    detection = dict(method.DEFAULT_DETECTION, **config.detection)
    normaliser = landmark_normaliser(config.modality)
    networks = method.build_networks(architecture).to(device)
    size = int(architecture["input_size"])
    samplers = [PatchSampler(volume, points, classes, config, normaliser, size, float(detection["extent_mm"])) for volume, points in loaded]
    manifest = {
        "method": "landmarks", "architecture": architecture, "input_size": size, "channels": 3, "modality": config.modality.upper(),
        "normalisation": normaliser.to_config(), "thresholds": {"confidence": detection["min_confidence"]}, "scoring": detection,
    }
    detector = LandmarkDetector(manifest, networks, device)
    optimiser = torch.optim.Adam(networks.parameters(), lr=config.learning_rate)
    log(f"{len(cases)} volumes, {len(classes)} landmark classes: {', '.join(classes)}")
    hard: List[Optional[Tuple[np.ndarray, np.ndarray]]] = [None] * len(samplers)
    history: List[Dict] = []
    first_epoch, seconds_before = 0, 0.0
    if config.resume:
        first_epoch, history, seconds_before = _load_checkpoint(config.out, networks, optimiser, rng, classes)
        log(f"resumed after epoch {first_epoch} ({seconds_before / 60:.1f} min of training before)")
    # Hard negatives are not checkpointed: the first epoch after a resume trains without them.
    for epoch in range(first_epoch, config.epochs):
        if config.max_minutes is not None and seconds_before + time.perf_counter() - started > 60 * config.max_minutes:
            log(f"time limit reached after {epoch} epochs")
            break
        batches = [sampler.centres(rng, hard[index]) for index, sampler in enumerate(samplers)]
        patches = np.concatenate([s.patches(rng, centres) for s, (centres, _, _) in zip(samplers, batches)])
        labels = np.concatenate([labels for _, labels, _ in batches])
        ignored = np.concatenate([ignored for _, _, ignored in batches])
        order = rng.permutation(len(labels))
        networks.train()
        total, correct = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            chosen = order[start : start + config.batch_size]
            inputs = torch.from_numpy(patches[chosen]).to(device)
            targets = torch.from_numpy(labels[chosen]).to(device)
            logits = networks["classifier"](inputs)
            left_out = torch.from_numpy(ignored[chosen]).to(device)
            mask = F.one_hot(left_out, logits.shape[1]).bool()
            mask[:, 0] = False
            loss = F.cross_entropy(logits.masked_fill(mask, float("-inf")), targets)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(chosen)
            correct += int((logits.argmax(1) == targets).sum())
        networks.eval()
        hard = [s.mine_hard(rng, detector, config.hard_negatives, config.hard_pool) for s in samplers]
        history.append({"epoch": epoch, "loss": total / len(order), "accuracy": correct / len(order), "patches": len(order)})
        log(f"epoch {epoch + 1}/{config.epochs}: loss {history[-1]['loss']:.4f}, training patch accuracy {history[-1]['accuracy']:.3f}")
        _save_checkpoint(config.out, networks, optimiser, rng, classes, epoch + 1, history, seconds_before + time.perf_counter() - started)
    manifest["training"] = {
        # "volumes" (names, no paths) lets evaluate warn about volumes the model was trained on.
        "data": describe_data(config.data, cases), "volumes": [c.patient for c in cases], "epochs": len(history),
        "history": history[-5:], "seed": config.seed, "device": device,
        "training_seconds": round(seconds_before + time.perf_counter() - started, 1),
        "sampling": {k: getattr(config, k) for k in ("positives", "positive_radius_mm", "negative_min_mm", "shell_mm", "body_negatives",
                                                      "hard_negatives", "rotation_deg", "scale_jitter", "intensity_jitter", "noise")},
        "torch": torch.__version__,
    }
    manifest.update(extra_manifest or {})
    tensors = {name: value.detach().cpu().numpy() for name, value in networks.state_dict().items()}
    save_bundle(config.out, manifest, tensors)
    log(f"wrote {config.out}")
    return manifest


def checkpoint_path(out: str) -> str:
    return out + ".checkpoint.pt"


def _save_checkpoint(out: str, networks, optimiser, rng: np.random.Generator, classes: Sequence[str], epochs_done: int,
                     history: List[Dict], seconds: float) -> None:
    """Weights, optimiser, random state and history after ``epochs_done`` epochs, written atomically beside ``out``."""
    import json

    path = checkpoint_path(out)
    payload = {"networks": networks.state_dict(), "optimiser": optimiser.state_dict(), "epochs_done": epochs_done,
               "classes": list(classes), "history": json.dumps(history), "rng": json.dumps(rng.bit_generator.state),
               "torch_rng": torch.get_rng_state(), "training_seconds": float(seconds)}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    temporary = path + ".partial"
    torch.save(payload, temporary)
    os.replace(temporary, path)


def _load_checkpoint(out: str, networks, optimiser, rng: np.random.Generator, classes: Sequence[str]) -> Tuple[int, List[Dict], float]:
    """Restore a checkpoint of :func:`_save_checkpoint` in place; returns (epochs done, history, training seconds)."""
    import json

    path = checkpoint_path(out)
    if not os.path.isfile(path):
        raise AnomalyDetectError(f"--resume: no checkpoint at '{path}'.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if list(payload["classes"]) != list(classes):
            raise AnomalyDetectError(f"Checkpoint '{path}' learnt the landmarks {payload['classes']}, not {list(classes)}.")
        networks.load_state_dict(payload["networks"])
        optimiser.load_state_dict(payload["optimiser"])
        rng.bit_generator.state = json.loads(payload["rng"])
        torch.set_rng_state(payload["torch_rng"])
    except (RuntimeError, KeyError, EOFError, ValueError) as error:
        raise AnomalyDetectError(f"Checkpoint '{path}' is corrupt or from another configuration: {str(error).splitlines()[0]}") from None
    return int(payload["epochs_done"]), list(json.loads(payload["history"])), float(payload["training_seconds"])
