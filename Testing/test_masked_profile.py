"""Skull-stripped volumes: the masked scoring profile, its fitting on simulated brain extractions, and structural-map dilation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from AnomalyDetectLib.bundle import load_bundle, model_card
from AnomalyDetectLib.errors import AnomalyDetectError, BundleError
from AnomalyDetectLib.manifest import Manifest
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.pipeline import Detector
from AnomalyDetectLib.preprocess import has_masked_background, normaliser_from_config
from AnomalyDetectLib.scoring import dilate_maps

from trainer.cli import main as trainer_main
from trainer.masked import simulate_brain_extraction

WEIGHTING = {"direction": "brighter", "offset_sd": 1.0, "share": 0.6}
PROFILE = {"intensity_weighting": WEIGHTING, "calibration": None, "thresholds": {"slice": 123.0, "pixel": 4.5}, "simulated_rim_mm": 10.0}


def scanner_like(volume, seed=0):
    """The phantom with noise in the air around it, as a scanner image has (the plain phantom's background is exactly 0)."""
    noise = np.abs(np.random.default_rng(seed).normal(0.0, 3.0, volume.shape))
    return volume.with_voxels(np.where(volume.voxels > 0, volume.voxels, noise.round()).astype(np.uint8))


@pytest.fixture(scope="module")
def bundle(trained_bundle_path):
    return load_bundle(trained_bundle_path)


def detector(bundle, **changes):
    return Detector(dict(bundle.manifest, **changes), bundle.build_networks("cpu"), "cpu")


def test_masked_profile_round_trips_and_bad_entries_name_themselves(bundle):
    document = dict(bundle.manifest, masked_profile=PROFILE, scoring=dict(bundle.manifest["scoring"], map_dilation_mm=7.0))
    spec = Manifest.from_json(document)
    assert spec.to_json()["masked_profile"] == PROFILE and spec.to_json()["scoring"]["map_dilation_mm"] == 7.0
    assert spec.masked_profile.thresholds.slice == 123.0 and spec.masked_profile.thresholds.map == 4.5
    assert spec.masked_profile.weighting.share == 0.6 and spec.scoring.map_dilation_mm == 7.0
    assert Manifest.from_json(bundle.manifest).masked_profile is None, "bundles without the section load as before"
    older = {key: value for key, value in bundle.manifest["scoring"].items() if key != "map_dilation_mm"}  # written before the setting
    spec = Manifest.from_json(dict(bundle.manifest, scoring=older))
    assert spec.scoring.map_dilation_mm == 0.0 and spec.to_json()["scoring"] == older, "absent stays absent on a round trip"
    for bad, message in (
        (dict(PROFILE, intensity_weighting=dict(WEIGHTING, share=1.5)), "share must be between 0 and 1"),
        (dict(PROFILE, thresholds={"slice": "high"}), "masked_profile.thresholds.slice"),
        (dict(PROFILE, calibration={"centres": [0.5], "medians": [1.0]}), "masked_profile.calibration"),
        ("strong", "masked_profile"),
    ):
        with pytest.raises(BundleError, match=message):
            Manifest.from_json(dict(bundle.manifest, masked_profile=bad))
    with pytest.raises(BundleError, match="scoring.map_dilation_mm"):
        Manifest.from_json(dict(bundle.manifest, scoring=dict(bundle.manifest["scoring"], map_dilation_mm=-1)))


def test_masked_volumes_use_the_masked_profile_and_others_are_unchanged(bundle):
    stripped, _ = make_head_phantom(seed=70, shape=(16, 48, 48), lesion=True)  # background exactly 0: masked
    scanner = scanner_like(stripped)
    assert has_masked_background(stripped.voxels, stripped.voxels > 0) and not has_masked_background(scanner.voxels, scanner.voxels > 3)
    plain, profiled = detector(bundle), detector(bundle, masked_profile=PROFILE)

    before, after = plain.run(scanner), profiled.run(scanner)
    assert before.profile == after.profile == "default" and not after.masked_background
    np.testing.assert_array_equal(before.anomaly_map, after.anomaly_map)
    np.testing.assert_array_equal(before.slice_scores, after.slice_scores)
    assert after.map_threshold == before.map_threshold == bundle.spec.thresholds.map

    before, after = plain.run(stripped), profiled.run(stripped)
    assert before.profile == "default" and after.profile == "masked" and after.masked_background
    assert after.summary()["profile"] == "masked"
    assert (after.map_threshold, after.slice_threshold) == (4.5, 123.0), "the profile's own thresholds"
    assert not after.flagged.any(), "no slice scores above the profile's slice threshold"
    assert not np.array_equal(before.anomaly_map, after.anomaly_map), "the profile's intensity weighting makes another map"
    assert np.all(after.anomaly_map[before.anomaly_map == 0] == 0), "weighting never adds anomaly where the structure has none"


def test_map_dilation_is_a_running_maximum_in_millimetres():
    maps = np.zeros((2, 21, 21), dtype=np.float32)
    maps[0, 10, 10] = 2.0
    maps[1, 0, 0] = 1.0
    out = dilate_maps(maps, (1.0, 2.0), 5.0)  # 5 px along rows, 3 px (2.5 → 3) along columns at 2 mm
    expected = np.zeros_like(maps)
    expected[0, 8:13, 9:12] = 2.0
    expected[1, 0:3, 0:2] = 1.0
    np.testing.assert_array_equal(out, expected)
    assert maps.sum() == 3.0, "the input is not changed"
    assert dilate_maps(maps, (1.0, 1.0), 0.0) is maps and dilate_maps(maps, (3.0, 3.0), 1.0) is maps


def test_dilation_reaches_the_output_map_but_not_the_slice_scores(bundle):
    volume, _ = make_head_phantom(seed=71, shape=(12, 48, 48), lesion=True)
    volume = scanner_like(volume)
    for weighting in (None, WEIGHTING):  # the dilation comes before the intensity weighting
        scoring = dict(bundle.manifest["scoring"], intensity_weighting=weighting)
        plain = detector(bundle, scoring=scoring).run(volume)
        dilated = detector(bundle, scoring=dict(scoring, map_dilation_mm=6.0)).run(volume)
        assert np.all(dilated.anomaly_map >= plain.anomaly_map - 1e-6), "a running maximum never lowers a pixel"
        assert dilated.anomaly_map.sum() > 1.05 * plain.anomaly_map.sum()
        np.testing.assert_array_equal(dilated.raw_slice_scores, plain.raw_slice_scores)  # slice scores come from the undilated map


def test_simulated_brain_extraction_removes_the_rim_and_keeps_the_input(bundle):
    head, _ = make_head_phantom(seed=72, shape=(12, 64, 64))
    volume = scanner_like(head)
    original = volume.voxels.copy()
    stripped = simulate_brain_extraction(volume, bundle.manifest["normalisation"], rim_mm=6.0)
    np.testing.assert_array_equal(volume.voxels, original)
    voxels = stripped.voxels
    background = voxels.min()
    inside = voxels > background
    assert stripped.voxels.dtype == np.float32 and stripped.shape == volume.shape
    assert abs(voxels[inside].mean()) < 1e-3 and abs(voxels[inside].std() - 1.0) < 1e-3, "tissue z-scored"
    assert has_masked_background(voxels, normaliser_from_config(bundle.manifest["normalisation"]).foreground(
        voxels, normaliser_from_config(bundle.manifest["normalisation"]).fit(voxels)))
    # The bright outer ring ("scalp", value 150 at the head's edge) is gone: nothing left within 6 mm (3 px at 2 mm) of the outside.
    middle = len(voxels) // 2
    columns = np.flatnonzero(head.voxels[middle, 32] > 0)
    kept = np.flatnonzero(inside[middle, 32])
    assert kept.min() >= columns.min() + 3 and kept.max() <= columns.max() - 3
    with pytest.raises(AnomalyDetectError, match="rim must be positive"):
        simulate_brain_extraction(volume, bundle.manifest["normalisation"], rim_mm=0.0)
    with pytest.raises(AnomalyDetectError, match="leaves no tissue"):
        simulate_brain_extraction(volume, bundle.manifest["normalisation"], rim_mm=500.0)


def test_calibrate_fits_a_masked_profile_on_normal_slices_only(trained_bundle_path, phantom_dataset, tmp_path, capsys):
    out = str(tmp_path / "masked.safetensors")
    settings = {"intensity_weighting": WEIGHTING, "simulated_rim_mm": 4.0}
    assert trainer_main(["calibrate", "--model", trained_bundle_path, "--data", phantom_dataset, "--out", out, "--device", "cpu",
                         "--masked-profile", json.dumps(settings)]) == 0
    plain = str(tmp_path / "plain.safetensors")
    assert trainer_main(["calibrate", "--model", trained_bundle_path, "--data", phantom_dataset, "--out", plain, "--device", "cpu"]) == 0
    fitted = load_bundle(out)
    profile = fitted.spec.masked_profile
    assert profile.intensity_weighting == WEIGHTING and profile.simulated_rim_mm == 4.0
    assert profile.thresholds.slice is not None and profile.thresholds.map > 0
    assert profile.thresholds.map != fitted.spec.thresholds.map, "its own pixel threshold, fitted on its own map"
    assert profile.validation_metrics["counted_slices"] > 0
    assert fitted.manifest["thresholds"] == load_bundle(plain).manifest["thresholds"], "the default profile is not affected by the masked one"
    assert load_bundle(plain).spec.masked_profile is None
    assert '"masked_profile"' in capsys.readouterr().out
    card = model_card(fitted.manifest)
    assert f"Skull-stripped (masked) volumes: own thresholds, slice {profile.thresholds.slice:.4g}" in card[-2]
    assert "intensity share 0.6, fitted with the outer 4 mm masked away" in card[-2]
    assert not any("Skull-stripped" in line for line in model_card(load_bundle(plain).manifest))

    again = str(tmp_path / "again.safetensors")  # without the option, the bundle's profile is refitted with its own settings
    assert trainer_main(["calibrate", "--model", out, "--data", phantom_dataset, "--out", again, "--device", "cpu"]) == 0
    assert load_bundle(again).manifest["masked_profile"] == fitted.manifest["masked_profile"]
    assert trainer_main(["calibrate", "--model", out, "--data", phantom_dataset, "--out", again, "--device", "cpu", "--no-masked-profile"]) == 0
    assert load_bundle(again).spec.masked_profile is None
    assert trainer_main(["calibrate", "--model", out, "--data", phantom_dataset, "--out", again, "--device", "cpu",
                         "--masked-profile", '{"share": 0.7}']) == 2
    assert "Unknown masked-profile settings ['share']" in capsys.readouterr().err
