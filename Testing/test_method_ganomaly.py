"""GANomaly (AnomalyDetectLib/models/ganomaly): a tiny model trained once on phantoms by the real trainer.

Covers: lesion slices of held-out phantoms outscore normal ones, the bundle round trip,
detect's output grid, the paper's image score ‖z − ẑ‖² (and the pipeline using it with
``{"slice_score": "image"}``), and that ``analyse`` leaves the networks untouched.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.models import get_method
from AnomalyDetectLib.models.base import RECONSTRUCTION_MAPS
from AnomalyDetectLib.pipeline import Detector, detect
from method_checks import (
    check_analyse_leaves_the_networks_untouched,
    check_detect_keeps_the_input_grid,
    check_networks_match_the_bundle,
    held_out_phantoms,
    image_scoring_inputs,
)
from sklearn.metrics import roc_auc_score

from trainer.fit import FitConfig, fit

# ~20 s on one core. A 16-dimensional code and 60 epochs at lr 2e-3: held-out slice AUROC 0.86-0.98
# over training seeds 0-4 (method_checks.held_out_phantoms); wider or shorter runs were less steady.
ARCHITECTURE = {"base_channels": 8, "depth": 3, "latent_size": 16}
TRAINING = {"learning_rate": 2e-3}
EPOCHS = 60


@pytest.fixture(scope="module")
def bundle_path(phantom_dataset, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ganomaly") / "ganomaly.safetensors")
    threads = torch.get_num_threads()
    try:  # one thread: reproducible, and much faster than two when other jobs share the cores
        fit(FitConfig(
            method="ganomaly", data=phantom_dataset, out=out, input_size=32, epochs=EPOCHS, batch_size=16, validation_fraction=0.3,
            seed=0, device="cpu", threads=1, architecture=dict(ARCHITECTURE), training=dict(TRAINING), quiet=True,
        ))
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def bundle(bundle_path):
    return load_bundle(bundle_path)


def test_registered_with_the_method_interface():
    method = get_method("ganomaly")
    assert method.NAME == "ganomaly" and method.MAPS == RECONSTRUCTION_MAPS and method.DEFAULT_MAP == "mgmsd"
    assert method.DEFAULT_TRAINING["w_adv"] == 1 and method.DEFAULT_TRAINING["w_con"] == 50 and method.DEFAULT_TRAINING["w_lat"] == 1
    networks = method.build_networks({})  # the paper's 64×64 layout with a 100-dimensional code
    with torch.no_grad():
        reconstructions, latent, relatent = networks["generator"](torch.rand(2, 1, 64, 64))
        logits, features = networks["discriminator"](torch.rand(2, 1, 64, 64))
    assert reconstructions.shape == (2, 1, 64, 64) and latent.shape == relatent.shape == (2, 100, 1, 1)
    assert 0 <= float(reconstructions.min()) and float(reconstructions.max()) <= 1
    assert logits.shape == (2,) and features.shape == (2, 256, 4, 4)
    with pytest.raises(ValueError, match="divisible"):
        method.build_networks({"input_size": 40, "depth": 4})


def test_tiny_ganomaly_separates_lesion_slices(bundle, margin):
    assert bundle.manifest["scoring"]["map"] == "mgmsd" and bundle.manifest["scoring"]["slice_score"] == "map"
    labels, scores, ratios = [], [], []
    for volume, mask in held_out_phantoms():
        result = detect(volume, bundle, device="cpu")
        labels.append(mask.any(axis=(1, 2))[result.scored])
        scores.append(result.slice_scores[result.scored])
        ratios.append(result.anomaly_map[mask].mean() / result.anomaly_map[(volume.voxels > 0) & ~mask].mean())
    auroc = margin("ganomaly slice AUROC", roc_auc_score(np.concatenate(labels), np.concatenate(scores)), "> 0.8")
    margin("ganomaly lesion/tissue map ratio", np.mean(ratios), "> 1.5")
    assert auroc > 0.8, f"slice AUROC {auroc:.3f} on held-out phantoms"
    assert np.mean(ratios) > 1.5, f"map in the lesion / map elsewhere: {np.round(ratios, 2)}"


def test_bundle_round_trip(bundle):
    manifest = bundle.manifest
    assert manifest["method"] == "ganomaly" and manifest["input_size"] == 32
    assert manifest["architecture"]["latent_size"] == 16 and manifest["architecture"]["base_channels"] == 8
    assert manifest["training"]["hyperparameters"]["learning_rate"] == 2e-3
    assert manifest["training"]["selected_step"] > 0
    check_networks_match_the_bundle(bundle)


def test_detect_gives_the_input_grid(bundle):
    check_detect_keeps_the_input_grid(bundle)


def test_image_scores_are_the_latent_distance_and_the_pipeline_uses_them(bundle):
    networks, method, detector, volume, images = image_scoring_inputs(bundle)
    manifest = detector.manifest

    with torch.no_grad():
        maps, image_scores = method.analyse(networks, images, "mgmsd")
        _, latent, relatent = networks["generator"](images)
    assert maps.shape == (8, 1, 32, 32) and image_scores.shape == (8,)
    torch.testing.assert_close(image_scores, ((latent - relatent) ** 2).mean(dim=(1, 2, 3)))
    assert torch.all(image_scores >= 0)

    result = detector.run(volume, batch_size=3)
    assert result.scored.any()
    np.testing.assert_allclose(result.raw_slice_scores[result.scored], image_scores.double().numpy()[result.scored], rtol=1e-5, atol=1e-9)
    by_map = Detector(dict(manifest, scoring=dict(manifest["scoring"], slice_score="map")), networks, "cpu").run(volume)
    assert not np.allclose(by_map.raw_slice_scores[result.scored], result.raw_slice_scores[result.scored])


def test_analyse_leaves_the_networks_untouched(bundle):
    check_analyse_leaves_the_networks_untouched(bundle, "residual")


def test_trainer_step_validation_and_checkpoint_state(tmp_path):
    method = get_method("ganomaly")
    torch.manual_seed(0)
    networks = method.build_networks({"input_size": 32, "base_channels": 4, "depth": 3, "latent_size": 8})
    trainer = method.make_trainer(networks, {"learning_rate": 1e-3}, "cpu")
    images = torch.rand(6, 1, 32, 32)
    losses = trainer.step(images)
    assert set(losses) == {"loss_g", "loss_adv", "loss_con", "loss_lat", "loss_d"}
    assert all(isinstance(value, float) and np.isfinite(value) for value in losses.values())
    loss = trainer.validation_loss(images)
    assert not networks["generator"].training, "validation runs in eval mode"
    with torch.no_grad():
        assert loss == pytest.approx(float((images - networks["generator"](images)[0]).abs().mean()), rel=1e-6)
    torch.save(trainer.state_dict(), tmp_path / "trainer.pt")
    restored = method.make_trainer(method.build_networks({"input_size": 32, "base_channels": 4, "depth": 3, "latent_size": 8}), {}, "cpu")
    restored.load_state_dict(torch.load(tmp_path / "trainer.pt", weights_only=True))
    assert restored.state_dict()["optimiser_g"]["state"].keys() == trainer.state_dict()["optimiser_g"]["state"].keys()


def test_discriminator_is_reinitialised_when_it_wins_outright(monkeypatch):
    import AnomalyDetectLib.models.ganomaly.method as ganomaly_method

    method = get_method("ganomaly")
    networks = method.build_networks({"input_size": 32, "base_channels": 4, "depth": 3, "latent_size": 8})
    trainer = method.make_trainer(networks, {}, "cpu")
    reinitialised = []
    monkeypatch.setattr(ganomaly_method, "initialise_weights", lambda module: reinitialised.append(module))
    trainer.step(torch.rand(4, 1, 32, 32))
    assert reinitialised == []
    # A discriminator loss below 1e-5 (each BCE term 1e-7 here) triggers the reset, as in the reference code.
    monkeypatch.setattr(torch.nn.functional, "binary_cross_entropy_with_logits", lambda logits, target: logits.sum() * 0 + 1e-7)
    trainer.step(torch.rand(4, 1, 32, 32))
    assert reinitialised == [networks["discriminator"]]
