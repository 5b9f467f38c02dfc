"""The typed bundle manifest (AnomalyDetectLib.manifest): exact round trips, defaults of old manifests,
errors that name the key, and the one way anomaly and landmark bundles are told apart."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
from AnomalyDetectLib.bundle import default_bundle_path, default_landmark_bundle_path, load_bundle, read_manifest, save_bundle
from AnomalyDetectLib.errors import BundleError
from AnomalyDetectLib.manifest import ANOMALY, LANDMARKS, Manifest, Scoring, Thresholds, method_kind
from AnomalyDetectLib.models import LANDMARK_METHODS, METHODS, get_method
from AnomalyDetectLib.scoring import DEFAULT_SCORING


def _shipped():
    return [read_manifest(default_bundle_path()), read_manifest(default_landmark_bundle_path())]


@pytest.mark.parametrize("index", [0, 1], ids=["anomaly", "landmarks"])
def test_shipped_manifests_round_trip_exactly(index):
    manifest = _shipped()[index]
    spec = Manifest.from_json(manifest)
    assert spec.to_json() == manifest
    # Same JSON text: no key added or dropped, no int turned into a float (e.g. scoring.interior_erosion_mm 10).
    assert json.dumps(spec.to_json(), sort_keys=True) == json.dumps(manifest, sort_keys=True)
    assert Manifest.from_json(spec.to_json()) == spec


def test_shipped_manifests_typed():
    anomaly, landmarks = (Manifest.from_json(m) for m in _shipped())
    assert (anomaly.kind, landmarks.kind) == (ANOMALY, LANDMARKS)
    assert anomaly.method == "translation" and anomaly.input_size == 64 and anomaly.channels == 1
    assert anomaly.scoring.map == "mgmsd_brighter" and anomaly.scoring.level_calibration
    assert anomaly.scoring.rim_on_masked_background is False
    assert anomaly.thresholds.map == pytest.approx(0.8784, abs=1e-4) and anomaly.thresholds.slice == pytest.approx(2.563, abs=0.01)
    assert anomaly.scoring.map_dilation_mm == 17
    masked = anomaly.masked_profile  # skull-stripped volumes: intensity has more say (share 0.65), own calibration and thresholds
    assert masked.weighting.share == 0.65 and anomaly.scoring.weighting.share == 0.5 and masked.simulated_rim_mm == 10.0
    assert (masked.weighting.direction, masked.weighting.offset_sd) == (anomaly.scoring.weighting.direction, anomaly.scoring.weighting.offset_sd)
    assert masked.thresholds.map == pytest.approx(1.3707, abs=1e-4) and masked.thresholds.slice == pytest.approx(2.210, abs=0.01)
    assert masked.level_calibration is not None and masked.level_calibration != anomaly.level_calibration
    assert anomaly.training.hyperparameters["lesion_weight"] == 10.0  # the in-lesion recipe
    assert (anomaly.thresholds.slice_quantile, anomaly.thresholds.map_quantile) == (0.95, 0.99)
    assert anomaly.level_calibration is not None and anomaly.slice_context.is_2d
    assert anomaly.onnx.map == anomaly.scoring.map and not anomaly.onnx.latent_search
    assert len(anomaly.training.patients("test")) == 16 and anomaly.training.data_name == "lgg_flair"
    assert landmarks.classes[:2] == ["Brainstem", "Esophagus"] and landmarks.thresholds.confidence == 0.95
    assert landmarks.scoring.settings({"extent_mm": 64.0, "other": 1}) == {"extent_mm": 96, "other": 1, "grid_mm": 10.0,
                                                                           "candidates_per_class": 3, "min_confidence": 0.95,
                                                                           "centre_window": 0.5, "centre_iterations": 3}
    assert landmarks.level_calibration is None and landmarks.classes and anomaly.classes == []


def _old_style():
    """The shipped anomaly manifest as an early bundle wrote it: no context, onnx, intensity_weighting,
    rim_on_masked_background, map_dilation_mm, masked_profile, calibration, training, validation metrics or checksum."""
    manifest = copy.deepcopy(read_manifest(default_bundle_path()))
    for key in ("context", "onnx", "calibration", "training", "validation_metrics", "weights_sha256", "format_version", "masked_profile"):
        manifest.pop(key, None)
    newer = ("intensity_weighting", "rim_on_masked_background", "map_dilation_mm")
    manifest["scoring"] = {k: v for k, v in manifest["scoring"].items() if k not in newer}
    return manifest


def test_old_manifest_loads_with_defaults_and_round_trips(tmp_path):
    manifest = _old_style()
    spec = Manifest.from_json(manifest)
    assert spec.onnx is None and spec.training is None and spec.context is None and spec.calibration is None
    assert spec.slice_context.is_2d and spec.level_calibration is None
    assert spec.scoring.intensity_weighting is None and spec.scoring.weighting is None and spec.scoring.rim_on_masked_background is False
    assert spec.to_json() == manifest, "absent keys stay absent"
    path = str(tmp_path / "old.safetensors")
    save_bundle(path, manifest, dict(load_bundle(default_bundle_path()).tensors))
    assert load_bundle(path).spec.scoring == spec.scoring


def test_absent_scoring_keys_detect_as_their_defaults(tmp_path):
    """An old manifest detects exactly like one that spells out DEFAULT_SCORING and a 2D context."""
    from AnomalyDetectLib.phantom import make_head_phantom
    from AnomalyDetectLib.pipeline import Detector

    networks = load_bundle(default_bundle_path()).build_networks("cpu")
    volume, _ = make_head_phantom(seed=3, shape=(12, 64, 64), lesion=True)
    old = _old_style()
    spelled_out = dict(old, scoring=dict(DEFAULT_SCORING, **old["scoring"]), context={"slices": 1, "spacing_mm": 0.0})
    assert set(spelled_out["scoring"]) - set(old["scoring"]) == {"intensity_weighting", "rim_on_masked_background", "map_dilation_mm"}
    first, second = (Detector(m, networks, "cpu").run(volume) for m in (old, spelled_out))
    np.testing.assert_array_equal(first.anomaly_map, second.anomaly_map)
    np.testing.assert_array_equal(first.slice_scores, second.slice_scores)
    weighted = Detector(read_manifest(default_bundle_path()), networks, "cpu").run(volume)  # the shipped one weights its maps
    assert not np.allclose(weighted.anomaly_map, first.anomaly_map)


def test_scoring_fields_are_the_default_scoring_settings():
    assert {f.name for f in dataclasses.fields(Scoring)} - {"extra", "given"} == set(DEFAULT_SCORING)
    assert Scoring().to_json() == {}  # nothing given, nothing written
    assert Scoring(**DEFAULT_SCORING).to_json() == {}


def test_map_threshold_is_pixel_on_disk():
    thresholds = Thresholds.from_json({"slice": 2.0, "pixel": 0.3, "pixel_quantile_of_normal_validation": 0.99}, "thresholds")
    assert (thresholds.slice, thresholds.map, thresholds.map_quantile) == (2.0, 0.3, 0.99)
    assert Thresholds(slice=2.0, map=0.3).to_json() == {"slice": 2.0, "pixel": 0.3}
    other = Thresholds.from_json({"slice": 2.0, "map": 0.3}, "thresholds")  # never written by any version: kept, not read
    assert other.map is None and other.to_json() == {"slice": 2.0, "map": 0.3}


def test_unknown_keys_survive_at_every_level():
    manifest = _shipped()[0]
    manifest = dict(manifest, future={"a": [1, 2]}, scoring=dict(manifest["scoring"], future_setting=3),
                    thresholds=dict(manifest["thresholds"], future_threshold=1.5), training=dict(manifest["training"], note="x"),
                    onnx=dict(manifest["onnx"], future_field=None))
    spec = Manifest.from_json(manifest)
    assert spec.extra == {"future": {"a": [1, 2]}} and spec.scoring.extra == {"future_setting": 3}
    assert spec.to_json() == manifest


def test_edits_reach_the_json_and_the_source_stays_apart():
    manifest = _shipped()[0]
    spec = Manifest.from_json(manifest)
    edited = dataclasses.replace(spec, scoring=dataclasses.replace(spec.scoring, map="residual", rim_on_masked_background=True))
    out = edited.to_json()
    assert out["scoring"]["map"] == "residual" and out["scoring"]["rim_on_masked_background"] is True
    assert manifest["scoring"]["map"] == "mgmsd_brighter" and manifest["scoring"].get("rim_on_masked_background") is not True
    out["architecture"]["n_res_blocks"] = 99
    manifest["architecture"]["base_channels"] = 99
    assert spec.architecture["n_res_blocks"] == 2 and spec.architecture["base_channels"] == 8, "from_json and to_json copy"


@pytest.mark.parametrize("change, key", [
    (lambda m: m.pop("normalisation"), "normalisation"),
    (lambda m: m.pop("scoring"), "scoring"),
    (lambda m: m.update(input_size="64"), "input_size"),
    (lambda m: m.update(input_size=0), "input_size"),
    (lambda m: m.update(channels=True), "channels"),
    (lambda m: m.update(architecture=[1]), "architecture"),
    (lambda m: m.update(thresholds={"pixel": "high"}), "thresholds.pixel"),
    (lambda m: m.update(scoring={"level_calibration": "yes"}), "scoring.level_calibration"),
    (lambda m: m.update(scoring={"slice_score": "maximum"}), "scoring.slice_score"),
    (lambda m: m.update(scoring={"top_fraction": 0}), "scoring.top_fraction"),
    (lambda m: m["training"].update(validation_patients="TCGA_1"), "training.validation_patients"),
    (lambda m: m["onnx"].update(outputs="map"), "onnx.outputs"),
    (lambda m: m.update(calibration={"centres": [0.5], "medians": [1.0]}), "calibration"),
    (lambda m: m.update(context={"slices": 2, "spacing_mm": 3.0}), "context"),
])
def test_invalid_manifest_names_the_key(change, key, tmp_path):
    manifest = copy.deepcopy(_shipped()[0])
    change(manifest)
    with pytest.raises(BundleError) as caught:
        Manifest.from_json(manifest)
    assert key in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(BundleError, match="Cannot save bundle"):
        save_bundle(str(tmp_path / "bad.safetensors"), manifest, {})
    assert not (tmp_path / "bad.safetensors").exists()


def test_load_names_file_and_key(tmp_path):
    path = str(tmp_path / "m.safetensors")
    save_bundle(path, _old_style(), dict(load_bundle(default_bundle_path()).tensors))
    bundle = load_bundle(path)
    bundle.manifest["thresholds"] = {"pixel": None}  # an edit of the document is seen, and checked, by the typed view
    with pytest.raises(BundleError, match=r"m\.safetensors.*thresholds\.pixel"):
        _ = bundle.spec


def test_landmark_manifest_needs_its_classes():
    manifest = copy.deepcopy(_shipped()[1])
    del manifest["architecture"]["classes"]
    with pytest.raises(BundleError, match="architecture.classes"):
        Manifest.from_json(manifest)


def test_kind_is_the_registry_and_agrees_with_each_method():
    for name in METHODS:
        assert method_kind(name) == ANOMALY == get_method(name).TASK
    for name in LANDMARK_METHODS:
        assert method_kind(name) == LANDMARKS == get_method(name).TASK


def test_each_detector_refuses_the_other_kind(plumbing_landmark_bundle_path):
    from AnomalyDetectLib.landmark_detection import LandmarkDetector
    from AnomalyDetectLib.pipeline import Detector

    with pytest.raises(BundleError, match="not an anomaly model"):
        Detector.from_bundle(load_bundle(plumbing_landmark_bundle_path), "cpu")
    with pytest.raises(BundleError, match="not an anomaly model"):
        Detector(read_manifest(plumbing_landmark_bundle_path), None, "cpu")
    with pytest.raises(BundleError, match="not a landmark detector"):
        LandmarkDetector.from_bundle(load_bundle(default_bundle_path()), "cpu")
