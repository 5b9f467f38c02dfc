"""``python -m trainer fit``: train a method on normal slices and write a model bundle.

Reproducibility: every random choice is derived from ``(seed, epoch)`` (slice order)
or ``(seed, step)`` (augmentation), so a run resumed from a checkpoint follows
exactly the path of an uninterrupted one on the CPU.

Multi-process training: the same command runs under ``torchrun`` (see
:mod:`trainer.distributed`); ranks share each epoch's slice order, gradients are
all-reduced, and only rank 0 writes the log, checkpoints and the bundle.

Time budget: ``max_minutes`` stops training cleanly after the step that spends it
(validated and checkpointed like a final step); resumed runs count the time before the
checkpoint too. The manifest records the budget and whether it stopped training.

Selection without anomalous labels: the kept weights are those with the lowest
validation loss on NORMAL validation slices; thresholds and the level calibration
are fitted on normal validation slices only. Tumour labels of the validation
patients are used for one thing: the validation metrics reported in the manifest.
Weakly supervised methods (``method.uses_abnormal_slices(training)``) also get the
abnormal slices of the TRAINING patients (slice label = mask.any(); the images only,
never the pixel masks) through ``trainer.set_abnormal_pool`` before training.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from AnomalyDetectLib.bundle import save_bundle
from AnomalyDetectLib.context import SliceContext
from AnomalyDetectLib.defaults import PIXEL_QUANTILE, SLICE_QUANTILE
from AnomalyDetectLib.device import resolve_device
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.files import atomic_output
from AnomalyDetectLib.manifest import Scoring
from AnomalyDetectLib.models import get_method
from AnomalyDetectLib.scoring import DEFAULT_SCORING

from . import distributed
from .augmentation import augment, check_crop, check_gamma_range, random_crops
from .calibrate import calibrate_and_validate
from .data import describe_data, discover_data, load_slices, split_by_patient, split_class_counts
from .normalisation import choose_normaliser, fit_on_training, normaliser_for

__all__ = ["FitConfig", "fit", "normaliser_for", "augment", "random_crops", "checkpoint_path", "log_path"]

logger = logging.getLogger(__name__)


@dataclass
class FitConfig:
    method: str
    data: str
    out: str
    modality: str = "MR"
    input_size: int = 64
    epochs: int = 30
    batch_size: int = 32
    validation_fraction: float = 0.2
    test_fraction: float = 0.0
    seed: int = 0
    split_seed: Optional[int] = None  # the patient split's seed; None = seed
    device: str = "auto"
    checkpoint_every: int = 200
    resume: bool = False
    max_steps: Optional[int] = None
    max_minutes: Optional[float] = None
    architecture: Dict = field(default_factory=dict)
    training: Dict = field(default_factory=dict)
    scoring: Dict = field(default_factory=dict)
    crop_size: Optional[int] = None  # train on random crops of this size (fully convolutional methods); detect on whole slices
    gamma_augmentation: Optional[Tuple[float, float]] = None  # contrast augmentation: per-image power drawn from (low, high)
    context_slices: int = 1  # 2.5D context: slices per model input (odd); 1 = 2D
    context_spacing_mm: float = 0.0  # distance between context slices along the slice normal
    normalisation: Dict = field(default_factory=dict)
    slice_quantile: float = SLICE_QUANTILE
    pixel_quantile: float = PIXEL_QUANTILE
    threads: Optional[int] = None
    quiet: bool = False


def checkpoint_path(out: str) -> str:
    return out + ".checkpoint.pt"


def log_path(out: str) -> str:
    return out + ".log.csv"


def fit(config: FitConfig) -> Dict:
    """Train, select, calibrate, validate and save; returns the manifest written.

    Under torchrun every rank calls this; ranks other than 0 write nothing and return the
    manifest without calibration, thresholds or metrics.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    context = distributed.setup(resolve_device(config.device))
    try:
        return _fit(config, context)
    finally:
        context.close()


def _fit(config: FitConfig, context: distributed.DistributedContext) -> Dict:
    out_folder = os.path.dirname(os.path.abspath(config.out))
    writable = os.path.isdir(out_folder) and os.access(out_folder, os.W_OK)
    if not context.agree(writable):  # rank 0's verdict: only rank 0 writes there
        raise AnomalyDetectError(f"Output folder '{out_folder}' does not exist or is not writable.")
    method = get_method(config.method)
    device = context.device
    normaliser_for(config.modality)  # an unknown modality fails before the data is read
    scoring = Scoring.from_json({**DEFAULT_SCORING, "map": method.DEFAULT_MAP, **config.scoring}, "scoring")  # checked before the data is read
    if scoring.map not in method.MAPS:
        raise AnomalyDetectError(f"Method {method.NAME} offers maps {method.MAPS}, not '{scoring.map}'.")
    slice_context = SliceContext(int(config.context_slices), float(config.context_spacing_mm))
    architecture = dict(method.DEFAULT_ARCHITECTURE, input_size=config.input_size, **config.architecture)
    if not slice_context.is_2d:
        architecture["channels"] = slice_context.channels
    training = dict(method.DEFAULT_TRAINING, **config.training)
    config = replace(config, gamma_augmentation=check_gamma_range(config.gamma_augmentation))  # the loop and the manifest see the checked pair
    if config.crop_size is not None:
        check_crop(method, config.crop_size, config.input_size)
        if "pseudo_lesion" in training:  # lesion sizes stay fractions of the whole slice, not of the crop
            training["pseudo_lesion"] = {"size_reference": config.input_size, **training["pseudo_lesion"]}

    log = logger.info if config.quiet or not context.is_main else print
    inventory = discover_data(config.data)
    for line in inventory.summary():
        log(line)
    cases = inventory.cases
    normaliser, normalisation_note = choose_normaliser(config.modality, cases, config.normalisation)
    if normalisation_note:
        log(normalisation_note[0].upper() + normalisation_note[1:])
    train_cases, validation_cases, test_cases = split_by_patient(
        cases, config.validation_fraction, config.seed if config.split_seed is None else config.split_seed, config.test_fraction
    )
    normaliser = fit_on_training(normaliser, train_cases)
    class_counts = split_class_counts({"training": train_cases, "validation": validation_cases, "test": test_cases})
    started = time.perf_counter()
    train_set = load_slices(train_cases, normaliser, config.input_size, scoring.min_foreground_fraction, context=slice_context)
    validation_set = load_slices(validation_cases, normaliser, config.input_size, scoring.min_foreground_fraction, context=slice_context)
    train_normal = train_set.subset(train_set.labels == 0)
    validation_normal = validation_set.subset(validation_set.labels == 0)
    slices_per_rank = context.shard_size(len(train_normal.images))
    if slices_per_rank < config.batch_size or len(validation_normal.images) == 0:
        share = f" ({slices_per_rank} per rank of {context.world_size})" if context.enabled else ""
        raise AnomalyDetectError(
            f"Too few normal slices: {len(train_normal.images)}{share} for training, {len(validation_normal.images)} for validation."
        )
    log(f"{len(train_cases)} training, {len(validation_cases)} validation and {len(test_cases)} untouched test patients; "
        f"{len(train_normal.images)} normal training slices, {len(validation_normal.images)} normal validation slices")
    log("Images/volumes per class: " + "; ".join(f"{side} " + ", ".join(f"{n} {name}" for name, n in counts.items())
                                                 for side, counts in class_counts.items() if counts))
    held_back = int((train_set.labels == 1).sum())
    if held_back and not _uses_abnormal_slices(method, training):
        log(f"{held_back} abnormal training slices are not trained on ({method.NAME} learns from normal slices only)")
    if context.enabled:
        log(f"{context.world_size} processes ({context.backend}), batch {config.batch_size} per process")

    torch.manual_seed(config.seed)
    networks = method.build_networks(architecture).to(device)
    total_steps = _planned_steps(config, slices_per_rank)
    trainer = method.make_trainer(context.training_view(networks), training, device, total_steps=total_steps)
    context.guard_optimisers(trainer)
    abnormal_slices = _hand_over_abnormal_slices(method, training, trainer, train_set, log)
    images = _as_batch(train_normal.images)
    # Each rank validates its share of the slices; the losses are averaged over all of them.
    validation_images = _as_batch(validation_normal.images[context.rank :: context.world_size]).to(device)

    state = {"step": 0, "best_loss": float("inf"), "best_step": -1, "best_weights": None, "history": [], "training_seconds": 0.0}
    if config.resume:
        state = _load_checkpoint(config.out, networks, trainer, state, context.world_size)
        log(f"Resumed from step {state['step']} of {total_steps}")
    if context.is_main:
        _truncate_log(log_path(config.out), state["step"])

    training_started = time.perf_counter()
    out_of_time = _train(config, context, networks, trainer, images, validation_images, state, total_steps, log)
    step = state["step"]
    context.average_buffers(networks)
    distributed.write_debug_state(context, networks, state["best_weights"], {
        "step": step, "best_step": state["best_step"], "best_loss": state["best_loss"],
        "wrote_outputs": context.is_main,
    })
    context.close()  # the other ranks are done; rank 0 calibrates and saves alone

    if state["best_weights"] is not None:
        networks.load_state_dict(state["best_weights"])
    networks.eval()
    manifest = {
        "method": method.NAME,
        "architecture": architecture,
        "input_size": config.input_size,
        "channels": architecture.get("channels", 1),
        "context": slice_context.to_config(),
        "modality": config.modality.upper(),
        "normalisation": normaliser.to_config(),
        "scoring": scoring.to_json(),
        "thresholds": {},
        "training": {
            # What the data was, not where it sat: no local path travels with a shared bundle. The patient
            # lists stay: evaluate's default (held-out patients only) and the benchmarks' test split need them.
            "data": describe_data(config.data, train_cases + validation_cases + test_cases),
            "training_patients": sorted({c.patient for c in train_cases}),
            "validation_patients": sorted({c.patient for c in validation_cases}),
            "test_patients": sorted({c.patient for c in test_cases}),
            "data_layout": inventory.layout,
            "class_counts": class_counts,
            "normal_training_slices": int(len(train_normal.images)),
            "normal_validation_slices": int(len(validation_normal.images)),
            **({"abnormal_training_slices": abnormal_slices} if abnormal_slices is not None else {}),
            "epochs": config.epochs,
            "steps": step,
            "batch_size": config.batch_size,
            "crop_size": config.crop_size,  # None: whole slices
            **({"gamma_augmentation": list(config.gamma_augmentation)} if config.gamma_augmentation else {}),
            "max_minutes": config.max_minutes,
            "stopped_by_time_limit": out_of_time,
            "distributed": context.describe(),
            "seed": config.seed,
            "split_seed": config.seed if config.split_seed is None else config.split_seed,
            "device": device,
            "hyperparameters": training,
            "selected_step": state["best_step"],
            "selected_validation_loss": state["best_loss"],
            "selection": "lowest reconstruction loss on normal validation slices",
            "training_seconds": round(state["training_seconds"], 1),  # resumed runs: the time before the checkpoint too
            "data_seconds": round(training_started - started, 1),
            "torch": torch.__version__,
        },
    }
    if not context.is_main:
        return manifest
    calibration, thresholds, metrics = calibrate_and_validate(
        manifest, networks, device, validation_cases, config.slice_quantile, config.pixel_quantile, quiet=config.quiet
    )
    manifest.update(calibration=calibration, thresholds=thresholds, validation_metrics=metrics)
    tensors = {name: value.detach().cpu().numpy() for name, value in networks.state_dict().items()}
    save_bundle(config.out, manifest, tensors, half_precision=True)
    log(f"Saved {config.out}; validation: " + json.dumps(_headline(metrics)))
    return manifest


def _headline(metrics: Dict) -> Dict:
    """The validation figures worth printing: image metrics for image-labelled data, slice and pixel metrics with masks."""
    keys = ["image_auroc", "image_ap"] if metrics.get("image_auroc") is not None else []
    if metrics.get("image_auroc") is None or metrics.get("pixel_auroc") is not None:
        keys += ["slice_auroc", "position_matched_auroc", "pixel_auroc"]
    return {k: (round(metrics[k], 4) if isinstance(metrics.get(k), float) else metrics.get(k)) for k in keys}


def _uses_abnormal_slices(method, training: Dict) -> bool:
    return bool(method.uses_abnormal_slices(training))


def _hand_over_abnormal_slices(method, training: Dict, trainer, train_set, log) -> Optional[int]:
    """Weakly supervised methods: the training patients' abnormal slices (images only, no masks) go to the trainer; their count."""
    if not _uses_abnormal_slices(method, training):
        return None
    abnormal = train_set.images[train_set.labels == 1]
    if len(abnormal) == 0:
        raise AnomalyDetectError(f"{method.NAME} with these settings trains on abnormal slices, but the training patients have none.")
    trainer.set_abnormal_pool(_as_batch(abnormal))
    log(f"{len(abnormal)} abnormal training slices (image-level labels only) handed to the trainer")
    return int(len(abnormal))


def _train(config: FitConfig, context: distributed.DistributedContext, networks, trainer, images: torch.Tensor,
           validation_images: torch.Tensor, state: Dict, total_steps: int, log) -> bool:
    """Steps from ``state["step"]`` to ``total_steps`` (or the time budget), updating ``state``; True when the budget ended it."""
    steps_per_epoch = context.shard_size(len(images)) // config.batch_size
    progress = _progress_bar(total_steps, state["step"], config.quiet or not context.is_main)
    started, seconds_before = time.perf_counter(), state["training_seconds"]
    step = state["step"]
    out_of_time = False
    while step < total_steps:
        epoch, position = divmod(step, steps_per_epoch)
        order = context.shard(np.random.default_rng([config.seed, epoch]).permutation(len(images)))
        batch_indices = order[position * config.batch_size : (position + 1) * config.batch_size]
        step_seed = config.seed * 1_000_003 + step + context.seed_offset
        generator = torch.Generator().manual_seed(step_seed)
        torch.manual_seed(step_seed)
        batch = augment(images[batch_indices], generator, config.gamma_augmentation)
        if config.crop_size is not None:
            batch = random_crops(batch, config.crop_size, generator)
        batch = batch.to(context.device)
        losses = trainer.step(batch)
        step += 1
        state["training_seconds"] = seconds_before + time.perf_counter() - started
        if config.max_minutes is not None:
            out_of_time = context.agree(state["training_seconds"] >= 60.0 * config.max_minutes)
        last = step == total_steps or out_of_time
        row = {"step": step, "epoch": epoch, **losses}
        if step % steps_per_epoch == 0 or last:
            _synchronise(context, networks)
            row["validation_loss"] = _validation_loss(trainer, validation_images, config.batch_size, context)
            if row["validation_loss"] < state["best_loss"]:
                state.update(best_loss=row["validation_loss"], best_step=step, best_weights=copy.deepcopy(networks.state_dict()))
        if context.is_main:
            _append_log(log_path(config.out), row)
        progress.update(1)
        progress.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k in ("loss_con", "loss_d", "validation_loss")})
        state["step"] = step
        if step % config.checkpoint_every == 0 or last:
            context.average_buffers(networks)
            if context.is_main:
                _save_checkpoint(config.out, networks, trainer, state, context.world_size)
        if out_of_time:
            log(f"Stopped after step {step} of {total_steps}: the {config.max_minutes} min training budget is spent")
            break
    progress.close()
    return out_of_time


def _as_batch(images: np.ndarray) -> torch.Tensor:
    """``(N, C, H, W)`` tensor from a SliceSet's images (``(N, H, W)`` for 2D models, already 4D with a context)."""
    tensor = torch.from_numpy(images)
    return tensor[:, None] if tensor.ndim == 3 else tensor


def _synchronise(context: distributed.DistributedContext, networks) -> None:
    """Before validating: the same batch-norm statistics and (safety net) the same parameters on every rank."""
    context.average_buffers(networks)
    differed = context.align_parameters(networks)
    if differed and context.is_main:
        logger.warning("%d rank(s) had drifted from rank 0's parameters and were reset to them (see trainer/distributed.py)", differed)


def _planned_steps(config: FitConfig, slices: int) -> int:
    total = config.epochs * (slices // config.batch_size)
    return min(total, config.max_steps) if config.max_steps is not None else total


def _validation_loss(trainer, images: torch.Tensor, batch_size: int, context: distributed.DistributedContext) -> float:
    losses = [trainer.validation_loss(images[s : s + batch_size]) * len(images[s : s + batch_size]) for s in range(0, len(images), batch_size)]
    return context.weighted_mean(sum(losses), len(images))


def _progress_bar(total: int, initial: int, quiet: bool):
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is None or quiet:
        return _NoProgress()
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


class _NoProgress:
    def update(self, n):
        pass

    def set_postfix(self, values):
        pass

    def close(self):
        pass


def _save_checkpoint(out: str, networks, trainer, state: Dict, world_size: int = 1) -> None:
    path = checkpoint_path(out)
    payload = {"networks": networks.state_dict(), "trainer": trainer.state_dict(), "step": state["step"],
               "best_loss": state["best_loss"], "best_step": state["best_step"], "best_weights": state["best_weights"] or {},
               "training_seconds": state["training_seconds"], "world_size": world_size}
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)


def _load_checkpoint(out: str, networks, trainer, state: Dict, world_size: int = 1) -> Dict:
    path = checkpoint_path(out)
    if not os.path.isfile(path):
        raise AnomalyDetectError(f"--resume: no checkpoint at '{path}'.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        saved_world = int(payload.get("world_size", 1))
        if saved_world != world_size:  # the step → (epoch, slices) mapping depends on the number of processes
            raise AnomalyDetectError(f"Checkpoint '{path}' was written by {saved_world} process(es); resume it with {saved_world}, not {world_size}.")
        networks.load_state_dict(payload["networks"])
        trainer.load_state_dict(payload["trainer"])
    except (RuntimeError, KeyError, EOFError) as error:
        raise AnomalyDetectError(f"Checkpoint '{path}' is corrupt or from another configuration: {str(error).splitlines()[0]}") from None
    return dict(state, step=int(payload["step"]), best_loss=float(payload["best_loss"]), best_step=int(payload["best_step"]),
                best_weights=payload["best_weights"] or None, training_seconds=float(payload.get("training_seconds", 0.0)))


def _append_log(path: str, row: Dict) -> None:
    columns = ["step", "epoch", "loss_g", "loss_adv", "loss_con", "loss_lat", "loss_d", "validation_loss"]
    extra = [k for k in row if k not in columns]
    new_file = not os.path.exists(path)
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns + extra, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        writer.writerow(row)


def _truncate_log(path: str, step: int) -> None:
    """On resume, drop log rows written after the checkpoint (they will be redone)."""
    if not os.path.exists(path):
        return
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if step == 0:
        os.remove(path)
        return
    kept: List = [rows[0]] + [row for row in rows[1:] if row and int(row[0]) <= step]
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(kept)
