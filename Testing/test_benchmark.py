"""``python -m trainer benchmark`` on a tiny phantom set: table, JSON, and the eval-mode guard."""

from __future__ import annotations

import json
import os

import pytest
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.models import get_method
from conftest import ROOT, TINY_ARCHITECTURE, write_phantom_dataset

from trainer.benchmark import METRIC_COLUMNS, EvalModeGuard, load_overrides
from trainer.cli import main as trainer_main
from trainer.data import discover_cases
from trainer.evaluate import evaluate


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("benchmark")
    data = write_phantom_dataset(folder / "data", count=10, shape=(12, 32, 32))
    overrides = folder / "overrides.json"
    overrides.write_text(json.dumps({"_comment": "tiny", "skipganomaly": {"architecture": TINY_ARCHITECTURE, "input_size": 32}}))
    out_json, out_markdown = str(folder / "bench.json"), str(folder / "bench.md")
    code = trainer_main(["benchmark", "--methods", "skipganomaly", "--data", data, "--max-steps", "4", "--batch-size", "4", "--budget-minutes", "30",
                         "--foreground-raw", "20", "--overrides", str(overrides), "--device", "cpu", "--seed", "1",
                         "--out-json", out_json, "--out-markdown", out_markdown, "--quiet"])
    return code, json.load(open(out_json)), open(out_markdown).read(), data


def test_benchmark_writes_table_and_json(benchmark_run):
    code, result, markdown, _ = benchmark_run
    assert code == 0
    header = next(line for line in markdown.splitlines() if line.startswith("| method |"))
    for _, title in METRIC_COLUMNS:
        assert f" {title} |" in header
    for title in ("training min", "detect s/volume", "parameters"):
        assert f" {title} |" in header
    rows = [line for line in markdown.splitlines() if line.startswith("| skipganomaly |")]
    assert len(rows) == 1 and rows[0].count("|") == header.count("|")
    assert "oracle" in markdown and "seed 1" in markdown and "at most 30 min of training" in markdown

    entry = result["methods"]["skipganomaly"]
    assert entry["status"] == "ok"
    assert set(entry["metrics"]) == {key for key, _ in METRIC_COLUMNS}
    for key, value in entry["metrics"].items():
        assert value is not None and 0.0 <= value <= 1.0, key
    assert entry["parameters"] == sum(entry["parameters_by_network"].values()) > 0
    assert entry["training_minutes"] >= 0 and entry["detect_seconds_per_volume"] > 0
    assert entry["steps"] == 4 and entry["max_minutes"] == 30 and not entry["stopped_by_time_limit"]
    assert entry["eval_mode_checked_forwards"] > 0
    assert entry["settings"]["architecture"]["base_channels"] == TINY_ARCHITECTURE["base_channels"]

    split = result["protocol"]["patients"]
    assert (len(split["training"]), len(split["validation"]), len(split["test"])) == (6, 2, 2)
    assert not set(split["test"]) & (set(split["training"]) | set(split["validation"]))
    assert entry["details"]["cases"] == 2, "figures come from the test patients only"
    manifest = load_bundle(entry["bundle"]).manifest
    assert manifest["training"]["test_patients"] == split["test"]


def test_eval_mode_guard_catches_batch_norm_in_training_mode(benchmark_run):
    _, result, _, data = benchmark_run
    bundle = load_bundle(result["methods"]["skipganomaly"]["bundle"])
    build = bundle.build_networks
    bundle.build_networks = lambda device="cpu": build(device).train()  # the pitfall: BatchNorm left in train mode
    guard = EvalModeGuard.around(bundle)
    test_cases = [case for case in discover_cases(data) if case.patient in result["protocol"]["patients"]["test"]]
    evaluate(bundle, test_cases[:1], device="cpu")
    with pytest.raises(AnomalyDetectError, match="training mode.*BatchNorm2d"):
        guard.check("skipganomaly")


def test_failed_method_is_reported_and_exit_code_set(benchmark_run, tmp_path, capsys):
    _, _, _, data = benchmark_run
    out_json, out_markdown = str(tmp_path / "b.json"), str(tmp_path / "b.md")
    code = trainer_main(["benchmark", "--methods", "skipganomaly", "--data", data, "--max-steps", "1", "--input-size", "32",
                         "--overrides", '{"skipganomaly": {"architecture": {"depth": 6}}}', "--device", "cpu",
                         "--out-json", out_json, "--out-markdown", out_markdown, "--quiet"])
    assert code == 1 and "failed: skipganomaly" in capsys.readouterr().out
    assert json.load(open(out_json))["methods"]["skipganomaly"]["status"] == "failed"
    assert "| skipganomaly | failed: " in open(out_markdown).read()


def test_overrides_are_checked_and_the_lgg_file_builds():
    with pytest.raises(AnomalyDetectError, match="unknown keys"):
        load_overrides('{"skipganomaly": {"epochs": 3}}')
    overrides = load_overrides(os.path.join(ROOT, "docs", "benchmarks", "lgg_methods.json"))
    for name, settings in overrides.items():
        method = get_method(name)
        method.build_networks(dict(method.DEFAULT_ARCHITECTURE, **settings.get("architecture", {})))
        assert settings.get("scoring", {}).get("map", method.DEFAULT_MAP) in method.MAPS


def test_time_budget_stops_training_cleanly(benchmark_run, tmp_path):
    """fit's max_minutes: the step that spends the budget is the last, validated and checkpointed like a final step."""
    import torch

    from trainer.fit import FitConfig, checkpoint_path, fit, log_path

    _, _, _, data = benchmark_run
    out = str(tmp_path / "budget.safetensors")
    manifest = fit(FitConfig(method="skipganomaly", data=data, out=out, input_size=32, epochs=50, batch_size=4, validation_fraction=0.2,
                             test_fraction=0.2, device="cpu", architecture=dict(TINY_ARCHITECTURE), max_minutes=1e-6, quiet=True))
    training = manifest["training"]
    assert training["max_minutes"] == 1e-6 and training["stopped_by_time_limit"] and training["steps"] == 1
    assert training["selected_step"] == 1 and manifest["thresholds"]["pixel"] > 0
    assert open(log_path(out)).read().splitlines()[1].split(",")[-1] != "", "the last step was validated"
    assert torch.load(checkpoint_path(out), weights_only=True)["step"] == 1


def test_paired_comparison_sees_a_better_model_and_no_difference_between_equals():
    import sys

    import numpy as np

    sys.path.insert(0, os.path.join(ROOT, "docs", "benchmarks"))
    from paired_compare import paired_differences

    rng = np.random.default_rng(0)

    def patient(noise):
        labels = np.zeros(20, dtype=int)
        labels[8:13] = 1
        pixel_labels = rng.integers(0, 2, 50)
        return lambda g: {"labels": labels, "scores": labels * g + noise, "flagged": labels * g + noise > 1.0,
                          "pixel_labels": pixel_labels, "pixel_scores": pixel_labels * g + rng.normal(0, 1, 50),
                          "dice_parts": (5.0 * g, 12.0)}

    makers = [patient(rng.normal(0, 1, 20)) for _ in range(10)]
    base = [make(1.0) for make in makers]
    better = [make(3.0) for make in makers]  # the same patients, the same slice noise, a stronger signal
    gain = paired_differences(base, better, 200)
    assert gain["slice_auroc"][0] > 0 and gain["slice_auroc"][1] > 0, "a clearly better model's interval excludes 0"
    assert gain["slice_auroc"][3] == 1.0
    same = paired_differences(base, base, 50)
    assert all(value == 0 for value in same["slice_auroc"][:3]), "a model against itself differs by exactly 0"
