"""``python -m trainer benchmark``: train several methods under one budget and compare them on test patients.

    python -m trainer benchmark --methods skipganomaly,ganomaly,acae --data ../shared/data/lgg_flair \\
        --budget-minutes 20 --foreground-raw 20 --overrides docs/benchmarks/lgg_methods.json \\
        --out-json lgg_methods.json --out-markdown lgg_methods.md

Protocol. One seeded patient-level split (``--seed``, ``--validation-fraction``,
``--test-fraction``, default 0.2 each) into training, validation and test patients, the same
for every method. Each method is trained by :func:`trainer.fit.fit` on the normal slices of
the training patients under the same budget (``--epochs`` and/or ``--budget-minutes``, a
wall-clock cap on training that stops it cleanly; without ``--epochs`` a budget alone means
"as many epochs as fit in it" - a method whose learning-rate schedule follows the planned
steps then plans for that many, so give ``--epochs`` too for such methods); the kept weights, level calibration and thresholds come from
the normal validation slices. Then :func:`trainer.evaluate.evaluate` scores the TEST patients
(``--foreground-raw 20`` is the LGG protocol of ../shared/DATA.md). Per method the report
gives slice AUROC and AP, position-matched slice AUROC, pixel AUROC and AP, Dice at the
bundle's calibrated pixel threshold, the best Dice over thresholds (an oracle, marked as
such), training minutes, detect seconds per volume (mean over the test volumes, after one warm-up
volume) and the parameter count. Per-method
settings (``architecture``, ``training``, ``scoring``, ``input_size``, ``batch_size``) come
from ``--overrides``, a JSON file mapping method name to settings (keys starting with ``_``
are comments), e.g. docs/benchmarks/lgg_methods.json; they must have been chosen on
validation patients, never on these test figures.

Pitfalls this harness avoids, and how:

* Choosing checkpoints (or epochs, or settings) by test AUC: fit selects by the lowest loss on
  NORMAL validation slices and never reads the test patients; the harness checks that each
  bundle's training and validation patients are disjoint from the test patients.
* Normalising scores with the test set's min/max (or any statistic of the test scores):
  scores go to the metrics as the bundle produces them; the level calibration and both
  thresholds were fitted on normal validation slices; AUROC and AP are rank-based.
* BatchNorm (or dropout) left in training mode at test time: bundles are rebuilt in eval
  mode, and during evaluation a forward pre-hook on every module counts calls made in
  training mode; any such call fails the method instead of reporting its figures.
* Comparing methods on different patients: the split is computed once and each bundle's
  recorded test patients must equal it.

Each method's bundle (with its checkpoint and loss log) is kept in ``--work-dir`` (default:
beside ``--out-json``), so every row can be re-evaluated with ``python -m trainer evaluate
--split test``. A method that fails is reported with its error; the others still run.
"""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import torch
from AnomalyDetectLib.errors import AnomalyDetectError

METRIC_COLUMNS = [
    ("slice_auroc", "slice AUROC"),
    ("slice_ap", "slice AP"),
    ("position_matched_auroc", "position-matched AUROC"),
    ("pixel_auroc", "pixel AUROC"),
    ("pixel_ap", "pixel AP"),
    ("pixel_dice", "Dice @ calibrated thr."),
    ("pixel_best_dice_oracle", "best Dice (oracle)"),
]
COST_COLUMNS = ["training min", "detect s/volume", "parameters", "steps"]
DETAIL_KEYS = ("cases", "counted_slices", "tumour_slices", "slice_auroc_uncalibrated", "sensitivity_at_calibrated_threshold",
               "specificity_at_calibrated_threshold")
OVERRIDE_KEYS = ("architecture", "training", "scoring", "input_size", "batch_size")
# Epochs when only a time budget is given: the budget, not the epoch count, ends training.
EPOCHS_UNDER_TIME_BUDGET = 10_000
DEFAULT_EPOCHS = 30


@dataclass
class BenchmarkConfig:
    methods: List[str]
    data: str
    out_json: str
    out_markdown: str
    epochs: Optional[int] = None
    budget_minutes: Optional[float] = None
    max_steps: Optional[int] = None
    foreground_raw: Optional[float] = None
    overrides: Dict = field(default_factory=dict)
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    input_size: int = 64
    batch_size: int = 32
    device: str = "auto"
    threads: Optional[int] = None
    work_dir: Optional[str] = None
    quiet: bool = False
    command: str = ""

    @property
    def planned_epochs(self) -> int:
        if self.epochs is not None:
            return self.epochs
        return EPOCHS_UNDER_TIME_BUDGET if self.budget_minutes is not None else DEFAULT_EPOCHS


def load_overrides(source: Optional[str]) -> Dict[str, Dict]:
    """Method → settings from a JSON file (or an inline JSON object); keys starting with ``_`` are comments."""
    if not source:
        return {}
    try:
        if source.lstrip().startswith("{"):
            overrides = json.loads(source)
        else:
            with open(source) as handle:
                overrides = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise AnomalyDetectError(f"Cannot read the overrides '{source}': {error}") from None
    if not isinstance(overrides, dict):
        raise AnomalyDetectError(f"Overrides '{source}' must be a JSON object mapping method names to settings.")
    overrides = {name: value for name, value in overrides.items() if not name.startswith("_")}
    for name, settings in overrides.items():
        unknown = set(settings) - set(OVERRIDE_KEYS) if isinstance(settings, dict) else {"(not an object)"}
        if unknown:
            raise AnomalyDetectError(f"Overrides for '{name}' in '{source}': unknown keys {sorted(unknown)}; allowed: {list(OVERRIDE_KEYS)}.")
    return overrides


def run_benchmark(config: BenchmarkConfig) -> Dict:
    """Train and test every method; writes ``out_json`` and ``out_markdown`` and returns the JSON's content."""
    from AnomalyDetectLib.models import METHODS

    from .data import discover_cases, split_by_patient
    from .distributed import torchrun_environment

    if torchrun_environment() is not None:
        raise AnomalyDetectError("Run the benchmark as one process (not under torchrun); it trains the methods one after another.")
    unknown = [name for name in config.methods if name not in METHODS]
    if not config.methods or unknown:
        raise AnomalyDetectError(f"Unknown methods {unknown}; known: {', '.join(sorted(METHODS))}." if unknown else "No methods given.")
    if config.test_fraction <= 0:
        raise AnomalyDetectError("The benchmark reports figures on test patients: give a --test-fraction above 0.")
    for path in (config.out_json, config.out_markdown):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise AnomalyDetectError(f"Output folder '{folder}' does not exist.")
    if config.threads:
        torch.set_num_threads(config.threads)
    work_dir = config.work_dir or os.path.splitext(os.path.abspath(config.out_json))[0] + "_models"
    os.makedirs(work_dir, exist_ok=True)

    cases = discover_cases(config.data)
    train_cases, validation_cases, test_cases = split_by_patient(cases, config.validation_fraction, config.seed, config.test_fraction)
    split = {
        "training": sorted({c.patient for c in train_cases}),
        "validation": sorted({c.patient for c in validation_cases}),
        "test": sorted({c.patient for c in test_cases}),
    }
    result = {"protocol": _protocol(config, split, work_dir), "methods": {}}
    log = print if not config.quiet else (lambda *args: None)
    for name in config.methods:
        log(f"== {name}: training on {len(split['training'])} patients, testing on {len(split['test'])}")
        try:
            entry = _run_method(name, config, work_dir, test_cases, split)
        except Exception as error:  # one broken method must not cost the others' figures
            entry = {"status": "failed", "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
        result["methods"][name] = entry
        log(f"== {name}: " + (json.dumps(entry["metrics"]) if entry["status"] == "ok" else entry["error"]))
        _write(config, result)  # after each method, so a long run leaves partial results
    return result


def _run_method(name: str, config: BenchmarkConfig, work_dir: str, test_cases, split: Dict) -> Dict:
    from AnomalyDetectLib.bundle import load_bundle
    from AnomalyDetectLib.manifest import Manifest

    from .evaluate import evaluate
    from .fit import FitConfig, fit

    settings = config.overrides.get(name, {})
    architecture = dict(settings.get("architecture", {}))
    input_size = int(settings.get("input_size", architecture.pop("input_size", config.input_size)))
    out = os.path.join(work_dir, f"{name}.safetensors")
    manifest = fit(FitConfig(
        method=name, data=config.data, out=out, input_size=input_size, epochs=config.planned_epochs,
        batch_size=int(settings.get("batch_size", config.batch_size)), validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction, seed=config.seed, device=config.device, max_steps=config.max_steps,
        max_minutes=config.budget_minutes, architecture=architecture, training=dict(settings.get("training", {})),
        scoring=dict(settings.get("scoring", {})), threads=config.threads, quiet=config.quiet,
    ))
    spec = Manifest.from_json(manifest)
    training = spec.training
    if list(training.patients("test")) != split["test"]:
        raise AnomalyDetectError(f"{name} was trained with other test patients than the benchmark's split.")
    if set(training.patients("training") + training.patients("validation")) & set(split["test"]):
        raise AnomalyDetectError(f"{name} saw test patients during training or selection.")

    bundle = load_bundle(out)
    parameters = _parameter_counts(bundle)
    guard = EvalModeGuard.around(bundle)
    # One volume first, so that loading torch's kernels is not charged to the detect time.
    evaluate(bundle, test_cases[:1], device=config.device, foreground_raw=config.foreground_raw)
    metrics = evaluate(bundle, test_cases, device=config.device, foreground_raw=config.foreground_raw)
    guard.check(name)
    return {
        "status": "ok",
        "metrics": {key: _number(metrics.get(key)) for key, _ in METRIC_COLUMNS},
        "details": {key: metrics.get(key) for key in DETAIL_KEYS},
        "training_minutes": round(training.training_seconds / 60.0, 3),
        "detect_seconds_per_volume": round(float(metrics["seconds_per_volume"]), 4),
        "parameters": sum(parameters.values()),
        "parameters_by_network": parameters,
        "steps": training.steps,
        "selected_step": training.selected_step,
        "max_minutes": training.max_minutes,
        "stopped_by_time_limit": training.stopped_by_time_limit,
        "eval_mode_checked_forwards": guard.forwards,
        "settings": {"input_size": input_size, "architecture": spec.architecture, "training": training.hyperparameters,
                     "scoring": spec.scoring.to_json(), "batch_size": training.batch_size},
        "bundle": out,
    }


class EvalModeGuard:
    """Counts forward passes of modules in training mode while a bundle's networks are evaluated.

    :func:`trainer.evaluate.evaluate` builds its networks through ``bundle.build_networks``;
    :meth:`around` wraps that method on this bundle object so every module built gets a
    forward pre-hook. :meth:`check` raises when any forward ran in training mode.
    """

    def __init__(self):
        self.forwards = 0
        self.in_training_mode: Dict[str, int] = {}

    @classmethod
    def around(cls, bundle) -> EvalModeGuard:
        guard = cls()
        build = bundle.build_networks

        def build_watched(device="cpu"):
            networks = build(device)
            for module in networks.modules():
                module.register_forward_pre_hook(guard._seen)
            return networks

        bundle.build_networks = build_watched
        return guard

    def _seen(self, module, inputs) -> None:
        self.forwards += 1
        if module.training:
            kind = type(module).__name__
            self.in_training_mode[kind] = self.in_training_mode.get(kind, 0) + 1

    def check(self, name: str) -> None:
        if self.forwards == 0:
            raise AnomalyDetectError(f"{name}: the evaluation ran no watched network (the eval-mode check could not run).")
        if self.in_training_mode:
            raise AnomalyDetectError(f"{name}: modules ran in training mode during evaluation: {self.in_training_mode}.")


def markdown_table(result: Dict) -> str:
    """The report: protocol paragraph, then one table row per method."""
    protocol = result["protocol"]
    split = protocol["patients"]
    budget = [f"{protocol['epochs']} epochs"] if protocol["epochs_given"] or protocol["budget_minutes"] is None else []
    if protocol["budget_minutes"] is not None:
        budget.append(f"at most {protocol['budget_minutes']:g} min of training")
    if protocol["max_steps"] is not None:
        budget.append(f"at most {protocol['max_steps']} steps")
    counted = next((m["details"] for m in result["methods"].values() if m["status"] == "ok"), {})
    lines = [
        f"Data `{protocol['data']}`: patients split with seed {protocol['seed']} into {len(split['training'])} training, "
        f"{len(split['validation'])} validation and {len(split['test'])} test patients, the same for every method. "
        f"Budget per method: {', '.join(budget)}; batch {protocol['batch_size']}, input {protocol['input_size']} "
        "(unless overridden). Kept weights: lowest loss on normal validation slices; calibration and thresholds: normal "
        f"validation slices. Figures on the test patients ({counted.get('counted_slices', '?')} counted slices, "
        f"{counted.get('tumour_slices', '?')} with tumour"
        + (f"; slices and pixels counted where raw intensity > {protocol['foreground_raw']:g}" if protocol["foreground_raw"] is not None else "")
        + "). \"best Dice (oracle)\" picks its threshold with the test labels: context only, not a result. "
        f"Device {protocol['device']}, torch {protocol['torch']}, {protocol['threads'] or 'default'} threads.",
        "",
        "| method | " + " | ".join(title for _, title in METRIC_COLUMNS) + " | " + " | ".join(COST_COLUMNS) + " |",
        "|---" * (1 + len(METRIC_COLUMNS) + len(COST_COLUMNS)) + "|",
    ]
    for name, entry in result["methods"].items():
        if entry["status"] != "ok":
            error = entry["error"].replace("|", "/").splitlines()[0]
            lines.append(f"| {name} | failed: {error} |" + " |" * (len(METRIC_COLUMNS) + len(COST_COLUMNS) - 1))
            continue
        metrics = [("–" if entry["metrics"][key] is None else f"{entry['metrics'][key]:.3f}") for key, _ in METRIC_COLUMNS]
        steps = f"{entry['steps']}" + (" (time limit)" if entry["stopped_by_time_limit"] else "")
        costs = [f"{entry['training_minutes']:.1f}", f"{entry['detect_seconds_per_volume']:.2f}", f"{entry['parameters'] / 1e6:.2f} M", steps]
        lines.append(f"| {name} | " + " | ".join(metrics + costs) + " |")
    if protocol["command"]:
        lines += ["", "```bash", protocol["command"], "```"]
    return "\n".join(lines) + "\n"


def _protocol(config: BenchmarkConfig, split: Dict, work_dir: str) -> Dict:
    from AnomalyDetectLib.device import resolve_device

    return {
        "data": os.path.abspath(config.data), "seed": config.seed, "validation_fraction": config.validation_fraction,
        "test_fraction": config.test_fraction, "epochs": config.planned_epochs, "epochs_given": config.epochs is not None,
        "budget_minutes": config.budget_minutes, "max_steps": config.max_steps, "foreground_raw": config.foreground_raw,
        "input_size": config.input_size, "batch_size": config.batch_size, "device": resolve_device(config.device),
        "threads": config.threads or torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
        "overrides": config.overrides, "patients": split, "work_dir": work_dir, "command": config.command,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _parameter_counts(bundle) -> Dict[str, int]:
    from AnomalyDetectLib.models.base import count_parameters

    networks = bundle.build_networks("cpu")
    return {name: int(count_parameters(module)) for name, module in networks.items()}


def _number(value) -> Optional[float]:
    return None if value is None else float(value)


def _write(config: BenchmarkConfig, result: Dict) -> None:
    from AnomalyDetectLib.files import atomic_output, json_value

    for path, text in ((config.out_json, json.dumps(result, indent=2, default=json_value)), (config.out_markdown, markdown_table(result))):
        with atomic_output(path) as temporary, open(temporary, "w") as handle:
            handle.write(text)


def failed_methods(result: Dict) -> Sequence[str]:
    return [name for name, entry in result["methods"].items() if entry["status"] != "ok"]
