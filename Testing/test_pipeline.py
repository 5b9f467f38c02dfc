"""detect(): output grid, per-slice scores, cancel, progress, bad input, and that a tiny model learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.device import resolve_device
from AnomalyDetectLib.errors import AnomalyDetectError, Cancelled, VolumeError
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.pipeline import detect
from AnomalyDetectLib.volume import Volume
from method_checks import HELD_OUT_SEEDS, held_out_phantoms
from sklearn.metrics import roc_auc_score


@pytest.fixture(scope="module")
def bundle(trained_bundle_path):
    return load_bundle(trained_bundle_path)


def test_outputs_live_on_the_input_grid(bundle):
    oblique = np.array([[0.0, -0.9, 0.1, 12.0], [-0.8, 0.0, 0.0, -30.0], [0.0, 0.05, 2.5, 7.0], [0, 0, 0, 1]])
    volume, _ = make_head_phantom(seed=50, shape=(20, 40, 56), lesion=True, ijk_to_ras=oblique)
    result = detect(volume, bundle, device="cpu")
    assert result.anomaly_map.shape == volume.voxels.shape
    assert result.anomaly_map.dtype == np.float32
    assert result.slice_scores.shape == (volume.shape[0],)
    assert result.flagged.dtype == bool and result.flagged.shape == (volume.shape[0],)
    assert np.all(result.slice_scores[~result.scored] == 0)
    assert np.all(result.anomaly_map[volume.voxels == 0] == 0), "the map is zero outside the foreground"
    assert result.volume_score == pytest.approx(result.slice_scores[result.scored].max())
    assert set(result.timings) >= {"prepare", "inference", "total"}


def test_input_is_not_modified(bundle):
    volume, _ = make_head_phantom(seed=51, shape=(12, 48, 48), lesion=True)
    before = volume.voxels.copy()
    matrix = volume.ijk_to_ras.copy()
    detect(volume, bundle, device="cpu")
    np.testing.assert_array_equal(volume.voxels, before)
    np.testing.assert_array_equal(volume.ijk_to_ras, matrix)


def test_lesion_slices_score_higher_than_normal_slices(bundle, margin):
    labels, scores, ratios = [], [], []
    for volume, mask in held_out_phantoms():
        result = detect(volume, bundle, device="cpu")
        labels.append(mask.any(axis=(1, 2))[result.scored])
        scores.append(result.slice_scores[result.scored])
        lesion_map = result.anomaly_map[mask].mean()
        tissue_map = result.anomaly_map[(volume.voxels > 0) & ~mask].mean()
        ratios.append(lesion_map / tissue_map)
    margin("skipganomaly smallest lesion/tissue map ratio of 12 phantoms", min(ratios), "> 2")
    auroc = margin("skipganomaly slice AUROC", roc_auc_score(np.concatenate(labels), np.concatenate(scores)), "> 0.85")
    for seed, ratio in zip(HELD_OUT_SEEDS, ratios):
        assert ratio > 2, f"seed {seed}: map in the lesion {ratio:.2f}× the map elsewhere"
    assert auroc > 0.85, f"slice AUROC {auroc:.3f} on held-out phantoms"


def test_progress_is_reported_and_cancel_stops_the_work(bundle):
    volume, _ = make_head_phantom(seed=52, shape=(40, 32, 32))
    calls = []
    with pytest.raises(Cancelled, match="cancelled"):
        detect(volume, bundle, device="cpu", batch_size=4, progress=lambda f, m: calls.append(f), should_cancel=lambda: len(calls) >= 2)
    assert len(calls) == 2, "no batch is processed after cancel was requested"

    fractions = []
    detect(volume, bundle, device="cpu", batch_size=8, progress=lambda f, m: fractions.append(f))
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert len(fractions) == 6


def test_batch_size_does_not_change_results(bundle):
    volume, _ = make_head_phantom(seed=53, shape=(10, 48, 48), lesion=True)
    one = detect(volume, bundle, device="cpu", batch_size=1)
    many = detect(volume, bundle, device="cpu", batch_size=16)
    np.testing.assert_allclose(one.anomaly_map, many.anomaly_map, atol=1e-5)
    np.testing.assert_allclose(one.slice_scores, many.slice_scores, atol=1e-5)


def test_non_square_and_single_slice_inputs(bundle):
    volume, _ = make_head_phantom(seed=54, shape=(3, 40, 70), lesion=False)
    assert detect(volume, bundle, device="cpu").anomaly_map.shape == (3, 40, 70)
    single = Volume(volume.voxels[1:2], volume.ijk_to_ras, "one")
    assert detect(single, bundle, device="cpu").slice_scores.shape == (1,)


@pytest.mark.parametrize(
    "voxels, fragment",
    [
        (np.full((4, 16, 16), 7.0, dtype=np.float32), "constant"),
        (np.where(np.eye(16, dtype=bool)[None].repeat(4, 0), np.nan, 1.0).astype(np.float32), "NaN"),
        (np.zeros((0, 16, 16), dtype=np.float32), "empty"),
    ],
)
def test_bad_volumes_are_rejected(bundle, voxels, fragment):
    with pytest.raises(VolumeError, match=fragment):
        detect(Volume(voxels), bundle, device="cpu")


def test_modality_mismatch_is_a_warning(bundle):
    volume, _ = make_head_phantom(seed=55, shape=(6, 32, 32))
    ct = Volume(volume.voxels, volume.ijk_to_ras, "ct", "CT")
    result = detect(ct, bundle, device="cpu")
    assert any("trained on MR" in message for message in result.warnings)


def test_device_selection():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert resolve_device("gpu") == "cuda"
    else:
        with pytest.raises(AnomalyDetectError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(AnomalyDetectError, match="Unknown device"):
        resolve_device("tpu")
