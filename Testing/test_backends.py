"""Detection without PyTorch: ONNX export (python -m trainer export), the onnxruntime backend, and their agreement with torch.

Agreement is the issue's: maps within 1e-4 of their range, identical flagged slices, on phantoms
with tiny models of every one-pass method, and on the bundled sample with the shipped model.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from AnomalyDetectLib.backends import ONNX_TENSOR, OnnxRunner, check_self_contained, open_runner, torch_runner
from AnomalyDetectLib.bundle import default_bundle_path, load_bundle, model_card, save_bundle
from AnomalyDetectLib.errors import AnomalyDetectError, BundleError
from AnomalyDetectLib.landmark_detection import LandmarkDetector
from AnomalyDetectLib.models import get_method
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.pipeline import detect
from AnomalyDetectLib.preprocess import resample_slices
from AnomalyDetectLib.volume import read_volume
from conftest import ROOT, TINY_TRAINING

from trainer.export import export_bundle

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_thread")

# Tiny architectures (input 32) so each model trains in seconds; (method, map) pairs cover every map family.
TINY = {
    "translation": {"base_channels": 8, "n_res_blocks": 1, "discriminator_channels": 8},
    "ganomaly": {"base_channels": 8, "depth": 3, "latent_size": 16},
    "acae": {"base_channels": 8, "depth": 3, "latent_size": 16},
    "fanogan": {"base_channels": 8, "depth": 3, "latent_dim": 16},
}
CASES = [("translation", "mgmsd"), ("translation", "attention"), ("ganomaly", "mgmsd_brighter"), ("skipganomaly", "mgmsd"),
         ("acae", "residual_darker"), ("fanogan", "residual")]
SAMPLE_ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "AnomalyDetect"), ROOT]))
# Runs the CLI in a Python where "import torch" fails, as in a Slicer without the PyTorch extension.
WITHOUT_TORCH = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = ['AnomalyDetectLib'] + sys.argv[1:]; "
                 "runpy.run_module('AnomalyDetectLib', run_name='__main__')")


def _agree(torch_result, onnx_result):
    spread = float(torch_result.anomaly_map.max() - torch_result.anomaly_map.min()) or 1.0
    assert np.abs(torch_result.anomaly_map - onnx_result.anomaly_map).max() <= 1e-4 * spread
    assert torch_result.flagged_slices == onnx_result.flagged_slices
    scale = float(np.abs(torch_result.slice_scores).max()) or 1.0
    np.testing.assert_allclose(onnx_result.slice_scores, torch_result.slice_scores, rtol=0, atol=1e-4 * scale)


@pytest.fixture(scope="module")
def trained(phantom_dataset, trained_bundle_path, tmp_path_factory):
    """{method: bundle path} of tiny models trained on the phantoms (skipganomaly: the session's model)."""
    from trainer.fit import FitConfig, fit

    paths = {"skipganomaly": trained_bundle_path}
    folder = tmp_path_factory.mktemp("one_pass")
    for method, architecture in TINY.items():
        out = str(folder / f"{method}.safetensors")
        fit(FitConfig(method=method, data=phantom_dataset, out=out, input_size=32, epochs=100, max_steps=12, batch_size=16,
                      validation_fraction=0.3, seed=0, device="cpu", architecture=dict(architecture), training=dict(TINY_TRAINING),
                      quiet=True))
        paths[method] = out
    # Within the steps a test can afford, the translation model learns the identity on normal phantoms: its maps
    # are float noise (range ~1e-5), against which "1e-4 of the range" means nothing. Its seeded initial weights
    # (random attention) give maps with a real range; the manifest and calibration stay those of the trained model.
    torch.manual_seed(5)
    manifest = load_bundle(paths["translation"]).manifest
    networks = get_method("translation").build_networks(manifest["architecture"])
    save_bundle(paths["translation"], manifest, {name: value.numpy() for name, value in networks.state_dict().items()})
    return paths


def _with_map(path, map_kind, out):
    """A copy of the bundle at ``path`` whose manifest asks for ``map_kind`` (as ``trainer calibrate --scoring`` would write)."""
    bundle = load_bundle(path)
    manifest = dict(bundle.manifest, scoring=dict(bundle.manifest["scoring"], map=map_kind))
    save_bundle(out, manifest, dict(bundle.tensors))
    return out


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """{(method, map): exported bundle path}."""
    folder = tmp_path_factory.mktemp("exported")
    paths = {}
    for method, map_kind in CASES:
        source = _with_map(trained[method], map_kind, str(folder / f"{method}_{map_kind}_source.safetensors"))
        out = str(folder / f"{method}_{map_kind}.safetensors")
        export_bundle(source, out, log=lambda message: None)
        paths[(method, map_kind)] = out
    return paths


@pytest.mark.parametrize("shape,size", [((3, 256, 256), 64), ((2, 240, 200), 64), ((2, 30, 60), 32), ((2, 50, 50), 64), ((1, 97, 41), 32)])
def test_numpy_resampling_matches_torch_interpolate(shape, size):
    slices = np.random.default_rng(0).random(shape, dtype=np.float32)
    n, rows, columns = shape
    side = max(rows, columns)
    padded = np.zeros((n, side, side), np.float32)
    padded[:, :rows, :columns] = slices
    expected = F.interpolate(torch.from_numpy(padded)[:, None], size=(size, size), mode="bilinear", align_corners=False,
                             antialias=side > size)[:, 0].numpy()
    assert np.abs(resample_slices(padded, size, side > size) - expected).max() < 1e-5
    maps = np.random.default_rng(1).random((n, size, size), dtype=np.float32)
    expected = F.interpolate(torch.from_numpy(maps)[:, None], size=(side, side), mode="bilinear", align_corners=False)[:, 0, :rows, :columns]
    assert np.abs(resample_slices(maps, side, False, (rows, columns)) - expected.numpy()).max() < 1e-5
    # A slice's result does not depend on its batch.
    assert np.array_equal(resample_slices(padded, size, True)[-1], resample_slices(padded[-1:], size, True)[0])


@pytest.mark.parametrize("method,map_kind", CASES)
def test_export_round_trip_and_backend_agreement(trained, exported, method, map_kind):
    original, bundle = load_bundle(trained[method]), load_bundle(exported[(method, map_kind)])
    entry = bundle.manifest["onnx"]
    assert entry["map"] == map_kind and entry["opset"] == 17 and entry["max_relative_difference"] <= 1e-4
    assert entry["method_traits"]["task"] == "anomaly" and not entry["method_traits"]["latent_search"]
    check_self_contained(bundle.onnx_graph())
    # The weights are untouched and still load strictly into the torch networks.
    assert set(bundle.tensors) == set(original.tensors) | {ONNX_TENSOR}
    assert all(np.array_equal(bundle.tensors[name], array) for name, array in original.tensors.items())
    bundle.build_networks("cpu")

    # Raw outputs on random images, at two batch sizes (the batch axis is dynamic).
    images = np.random.default_rng(2).random((5, 1, 32, 32), dtype=np.float32)
    onnx_runner, torch_model = open_runner(bundle, "onnx", "cpu"), open_runner(bundle, "torch", "cpu")
    assert onnx_runner.backend == "onnx" and torch_model.backend == "torch"
    expected = torch_model(images)
    for batch in (images, images[:1]):
        found = onnx_runner(batch)
        assert [output.shape for output in found] == [output[: len(batch)].shape for output in expected]
        for want, got in zip(expected, found):
            assert np.abs(want[: len(batch)] - got).max() <= 1e-4 * max(float(want.max() - want.min()), 1e-6)
    assert len(expected) == (1 if method == "translation" else 2)  # the translation model has no image score

    # Whole detections on a phantom with a lesion, by map and (where the method has one) by image score.
    volume, _ = make_head_phantom(seed=71, shape=(12, 48, 40), lesion=True)
    _agree(detect(volume, bundle, device="cpu", backend="torch"), detect(volume, bundle, device="cpu", backend="onnx", batch_size=5))
    if method != "translation":
        by_image = load_bundle(exported[(method, map_kind)])
        by_image.manifest["scoring"] = dict(by_image.manifest["scoring"], slice_score="image", level_calibration=False)
        _agree(detect(volume, by_image, device="cpu", backend="torch"), detect(volume, by_image, device="cpu", backend="onnx"))


def test_trainer_cli_exports_in_place_and_refuses_latent_search(trained, tmp_path):
    from trainer.cli import main

    path = str(tmp_path / "model.safetensors")
    save_bundle(path, load_bundle(trained["ganomaly"]).manifest, dict(load_bundle(trained["ganomaly"]).tensors))
    assert main(["export", "--model", path]) == 0
    assert load_bundle(path).onnx_graph() is not None and load_bundle(path).manifest["onnx"]["outputs"] == ["map", "image_score"]
    anogan = _anogan_bundle(trained, tmp_path)
    with pytest.raises(AnomalyDetectError, match="anogan searches the latent space.*PyTorch"):
        export_bundle(anogan, str(tmp_path / "anogan_exported.safetensors"))
    assert not os.path.exists(tmp_path / "anogan_exported.safetensors")
    with pytest.raises(AnomalyDetectError, match="no ONNX form.*torch backend"):
        open_runner(load_bundle(anogan), "onnx", "cpu")


def _anogan_bundle(trained, folder):
    """An AnoGAN bundle (untrained weights suffice: it is never run) with the tiny models' manifest otherwise."""
    architecture = {"input_size": 32, "base_channels": 8, "depth": 3, "latent_dim": 16}
    networks = get_method("anogan").build_networks(architecture)
    manifest = dict(load_bundle(trained["ganomaly"]).manifest, method="anogan", architecture=architecture)
    path = str(folder / "anogan.safetensors")
    save_bundle(path, manifest, {name: value.numpy() for name, value in networks.state_dict().items()})
    return path


def test_landmark_classifier_round_trip(plumbing_landmark_bundle_path, tmp_path):
    out = str(tmp_path / "landmarks.safetensors")
    export_bundle(plumbing_landmark_bundle_path, out, log=lambda message: None)
    bundle = load_bundle(out)
    assert bundle.manifest["onnx"]["outputs"] == ["probabilities"] and bundle.manifest["onnx"]["method_traits"]["task"] == "landmarks"
    volume, _ = make_head_phantom(seed=72, shape=(20, 48, 48))
    torch_detector = LandmarkDetector.from_bundle(bundle, "cpu", "torch")
    onnx_detector = LandmarkDetector.from_bundle(bundle, "cpu", "onnx")
    assert onnx_detector.settings == torch_detector.settings
    scale = torch_detector.normaliser.fit(volume.voxels)
    ijk = np.random.default_rng(3).uniform((4, 4, 2), (44, 44, 18), (37, 3))
    centres = volume.ijk_to_ras[:3, :3] @ ijk.T + volume.ijk_to_ras[:3, 3:4]
    expected = torch_detector.probabilities(volume, scale, centres.T, batch_size=16)
    found = onnx_detector.probabilities(volume, scale, centres.T, batch_size=7)
    assert expected.shape == found.shape == (37, len(torch_detector.classes) + 1)
    assert np.abs(expected - found).max() <= 1e-5 and np.allclose(found.sum(axis=1), 1.0, atol=1e-5)
    found_torch = torch_detector.detect(volume)
    found_onnx = onnx_detector.detect(volume)
    assert [(f.name, tuple(np.round(f.ras, 3))) for f in found_torch.found] == [(f.name, tuple(np.round(f.ras, 3))) for f in found_onnx.found]


def test_shipped_model_has_its_graph_and_both_backends_agree_on_the_sample():
    from AnomalyDetectLib.cli import sample_volume_path

    bundle = load_bundle(default_bundle_path())
    assert bundle.manifest["onnx"]["map"] == bundle.manifest["scoring"]["map"]  # the graph is current for the shipped manifest
    volume = read_volume(sample_volume_path())
    torch_result = detect(volume, bundle, device="cpu", backend="torch")
    onnx_result = detect(volume, bundle, device="cpu", backend="onnx")
    _agree(torch_result, onnx_result)
    assert torch_result.flagged_slices, "the sample has a tumour: some slices must be flagged"
    assert onnx_result.device == "cpu (onnxruntime)" and torch_result.device == "cpu"


def test_detect_cli_runs_the_sample_without_torch(tmp_path):
    from AnomalyDetectLib.cli import sample_volume_path

    run = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "detect", "--out", str(tmp_path / "out"), "--quiet"],
                         capture_output=True, text=True, env=SAMPLE_ENV, cwd=str(tmp_path), timeout=300)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    expected = detect(read_volume(sample_volume_path()), load_bundle(default_bundle_path()), device="cpu", backend="torch")
    assert summary["flagged_slices"] == expected.flagged_slices and summary["flagged_slices"]
    written = json.loads((tmp_path / "out" / f"{read_volume(sample_volume_path()).name}_summary.json").read_text())
    assert written["device"] == "cpu (onnxruntime)"


def test_without_torch_models_that_need_it_say_so(trained, tmp_path):
    plain = str(tmp_path / "no_graph.safetensors")
    save_bundle(plain, load_bundle(trained["acae"]).manifest, dict(load_bundle(trained["acae"]).tensors))
    for model, expected in ((_anogan_bundle(trained, tmp_path), "anogan model needs PyTorch \\(torch\\)"),
                            (plain, "acae model needs PyTorch \\(torch\\).*trainer export")):
        run = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, "detect", "--model", model, "--out", str(tmp_path / "out"), "--quiet"],
                             capture_output=True, text=True, env=SAMPLE_ENV, cwd=str(tmp_path), timeout=300)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert re.search(expected, run.stderr), run.stderr
        assert not any((tmp_path / "out").glob("*")), "nothing is written"



def test_backend_choice_errors_are_clear(exported, tmp_path, monkeypatch):
    bundle = load_bundle(exported[("ganomaly", "mgmsd_brighter")])
    with pytest.raises(AnomalyDetectError, match="Unknown backend 'tensorflow'"):
        open_runner(bundle, "tensorflow")
    # A graph made for another map than the manifest now asks for (e.g. after trainer calibrate --scoring) is not used.
    stale = load_bundle(_with_map(exported[("ganomaly", "mgmsd_brighter")], "residual", str(tmp_path / "stale.safetensors")))
    with pytest.raises(BundleError, match="'mgmsd_brighter' map.*'residual'.*trainer export"):
        OnnxRunner(stale)
    # Without onnxruntime the onnx backend names it.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(AnomalyDetectError, match="needs onnxruntime.*pip install onnxruntime"):
        OnnxRunner(bundle)


def test_graphs_that_read_external_files_or_are_corrupt_are_refused(exported, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    weight = helper.make_tensor("weight", TensorProto.FLOAT, [1], [0.0])
    weight.data_location = TensorProto.EXTERNAL
    weight.ClearField("float_data")
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../../../etc/passwd"
    graph = helper.make_graph([helper.make_node("Add", ["input", "weight"], ["map"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 1, 32, 32])],
                              [helper.make_tensor_value_info("map", TensorProto.FLOAT, [None, 1, 32, 32])], initializer=[weight])
    hostile = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    with pytest.raises(BundleError, match="external data"):
        check_self_contained(hostile, "hostile.safetensors")
    source = load_bundle(exported[("acae", "residual_darker")])
    for graph_bytes, message in ((hostile, "external data"), (b"\xff\xff\xff", "corrupt")):
        path = str(tmp_path / "hostile.safetensors")
        save_bundle(path, source.manifest, dict(source.tensors, **{ONNX_TENSOR: np.frombuffer(graph_bytes, np.uint8)}))
        with pytest.raises(BundleError, match=message):
            OnnxRunner(load_bundle(path))
    assert onnx.load_from_string(source.onnx_graph()).graph.input[0].name == "input"


def test_torch_runner_follows_networks_that_are_still_training(trained):
    bundle = load_bundle(trained["acae"])
    networks = bundle.build_networks("cpu")
    runner = torch_runner(bundle.manifest, networks, "cpu")
    images = np.random.default_rng(4).random((2, 1, 32, 32), dtype=np.float32)
    before = runner(images)[0]
    with torch.no_grad():
        for parameter in networks.parameters():
            parameter.add_(0.05)
    assert not np.allclose(runner(images)[0], before)


def test_recalibrating_with_another_map_exports_the_graph_again(exported, phantom_dataset, tmp_path):
    from trainer.cli import main

    out = str(tmp_path / "recalibrated.safetensors")
    assert main(["calibrate", "--model", exported[("acae", "residual_darker")], "--data", phantom_dataset, "--out", out,
                 "--scoring", '{"map": "residual"}', "--device", "cpu"]) == 0
    bundle = load_bundle(out)
    assert bundle.manifest["onnx"]["map"] == bundle.manifest["scoring"]["map"] == "residual"
    volume, _ = make_head_phantom(seed=73, shape=(8, 40, 40), lesion=True)
    _agree(detect(volume, bundle, device="cpu", backend="torch"), detect(volume, bundle, device="cpu", backend="onnx"))


def test_the_model_card_says_which_engines_can_run_the_model(trained, exported, plumbing_landmark_bundle_path):
    assert model_card(load_bundle(default_bundle_path()).manifest)[-1] == "Runs on: PyTorch or onnxruntime (ONNX graph inside)"
    assert model_card(load_bundle(exported[("fanogan", "residual")]).manifest)[-1].endswith("onnxruntime (ONNX graph inside)")
    assert model_card(load_bundle(trained["fanogan"]).manifest)[-1] == "Runs on: PyTorch (no ONNX graph; python -m trainer export adds one)"
    assert model_card(load_bundle(plumbing_landmark_bundle_path).manifest)[-1].startswith("Runs on: PyTorch (no ONNX graph")
