"""AnoGAN: the latent search moves only z and lowers its loss, is batch-independent and seeded;
the cross-entropy variant and the other image scores run; a tiny model trained with the real
trainer round-trips through a bundle, keeps the input's grid and ranks lesion slices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from AnomalyDetectLib.bundle import load_bundle, save_bundle
from AnomalyDetectLib.models import get_method
from AnomalyDetectLib.models.anogan import search_latent
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.preprocess import normaliser_from_config, resize_slices
from method_checks import OBLIQUE, check_detect_keeps_the_input_grid, held_out_slice_auroc

# Tiny widths for two CPU cores; mapping_steps 40 keeps detect fast (the default is 100, the paper's 500).
ARCHITECTURE = {"base_channels": 8, "depth": 3, "latent_dim": 32, "mapping_steps": 40}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bundle_path(phantom_dataset, tmp_path_factory):
    from trainer.fit import FitConfig, fit

    out = str(tmp_path_factory.mktemp("anogan") / "anogan.safetensors")
    fit(FitConfig(
        method="anogan", data=phantom_dataset, out=out, input_size=32, epochs=40, batch_size=16, validation_fraction=0.3, seed=0,
        device="cpu", architecture=dict(ARCHITECTURE), training={"learning_rate": 1e-3}, scoring={"slice_score": "image"}, quiet=True,
    ))
    return out


@pytest.fixture(scope="module")
def bundle(bundle_path):
    return load_bundle(bundle_path)


@pytest.fixture(scope="module")
def networks(bundle):
    return bundle.build_networks("cpu")


@pytest.fixture(scope="module")
def slices(bundle):
    """Model inputs of a held-out phantom with a lesion: (images (n, 1, 32, 32), lesion per slice)."""
    volume, mask = make_head_phantom(seed=100, shape=(24, 48, 48), lesion=True)
    normaliser = normaliser_from_config(bundle.manifest["normalisation"])
    scale = normaliser.fit(volume.voxels)
    keep = normaliser.foreground(volume.voxels, scale).mean(axis=(1, 2)) >= 0.1
    images = resize_slices(scale.apply(volume.voxels[keep]), 32)
    return torch.from_numpy(images)[:, None], mask[keep].any(axis=(1, 2))


def _snapshot(module):
    return {name: value.clone() for name, value in module.state_dict().items()}


def test_search_moves_only_z_and_lowers_the_loss(networks, slices, margin):
    images = slices[0][::3]
    generator, discriminator = networks["generator"], networks["discriminator"]
    before = _snapshot(networks)
    search = search_latent(generator, discriminator, images, steps=60, learning_rate=0.1, lam=0.1, seed=0)
    history = search.history
    assert history.shape == (61, len(images))
    margin("anogan search: final/initial mapping loss", history[-1].mean() / history[0].mean(), "< 0.7")
    assert torch.all(history[-1] < history[0]), "every image's mapping loss falls"
    assert history[-1].mean() < 0.7 * history[0].mean()
    assert float(history[30:].mean(1).max()) < float(history[:10].mean(1).min()), "the fall is sustained, not one lucky step"
    start = torch.randn(generator.latent_dim, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(search.z, start.expand_as(search.z)), "z moved"
    assert search.loss == pytest.approx(0.9 * search.residual + 0.1 * search.discrimination)

    with torch.no_grad():  # the way the pipeline calls it: under no_grad, networks in eval mode
        get_method("anogan").analyse(networks, images, "residual")
    after = networks.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before), "G and D weights and buffers are bit-identical"
    assert all(p.grad is None and p.requires_grad for p in networks.parameters())
    assert not generator.training and not discriminator.training


def test_batched_search_equals_one_by_one_and_is_seeded(networks, slices):
    images = slices[0][::4][:5]
    method = get_method("anogan")
    with torch.no_grad():
        maps, scores = method.analyse(networks, images, "residual")
        again_maps, again_scores = method.analyse(networks, images, "residual")
        single = [method.analyse(networks, image[None], "residual") for image in images]
    assert torch.equal(maps, again_maps) and torch.equal(scores, again_scores), "the search is seeded: same input, same result"
    np.testing.assert_allclose(torch.cat([m for m, _ in single]).numpy(), maps.numpy(), atol=2e-3)
    np.testing.assert_allclose(torch.cat([s for _, s in single]).numpy(), scores.numpy(), rtol=2e-3)


def test_crossentropy_variant_and_image_scores(bundle, slices):
    networks = bundle.build_networks("cpu")  # its own copy: the settings are changed below
    images = slices[0][::4]
    method = get_method("anogan")
    generator, discriminator = networks["generator"], networks["discriminator"]
    search = search_latent(generator, discriminator, images, steps=20, discrimination_loss="crossentropy")
    with torch.no_grad():
        logits, _ = discriminator(search.reconstructions)
    np.testing.assert_allclose(search.discrimination.numpy(), F.softplus(-logits[:, 0]).numpy(), rtol=1e-4)
    assert torch.all(search.history[-1] < search.history[0])

    variants = {}
    for discrimination_loss in ("feature", "crossentropy"):
        for image_score in ("anomaly", "residual", "discriminator"):
            networks.latent_search = dict(networks.latent_search, discrimination_loss=discrimination_loss, image_score=image_score)
            with torch.no_grad():
                maps, scores = method.analyse(networks, images, "mgmsd")
            assert maps.shape == images.shape and scores.shape == (len(images),) and torch.isfinite(scores).all()
            variants[discrimination_loss, image_score] = scores
    with torch.no_grad():
        expected = F.softplus(-discriminator(images)[0][:, 0])  # P_D: −log D(x), no search involved
    assert torch.allclose(variants["feature", "discriminator"], expected) and torch.allclose(variants["crossentropy", "discriminator"], expected)
    assert not torch.allclose(variants["feature", "anomaly"], variants["crossentropy", "anomaly"])
    for bad in ({"discrimination_loss": "hinge"}, {"image_score": "best"}, {"mapping_lambda": 2.0}):
        with pytest.raises(ValueError):
            method.build_networks(dict(ARCHITECTURE, **bad))


def test_bundle_round_trip(bundle, networks, slices, tmp_path):
    manifest = bundle.manifest
    assert manifest["method"] == "anogan" and manifest["scoring"]["map"] == "residual" and manifest["scoring"]["slice_score"] == "image"
    assert networks.latent_search["mapping_steps"] == 40 and networks.latent_search["discrimination_loss"] == "feature"
    assert set(bundle.tensors) == set(networks.state_dict())
    copy = str(tmp_path / "copy.safetensors")
    save_bundle(copy, {k: v for k, v in manifest.items() if k not in ("weights_sha256", "format_version")}, dict(bundle.tensors))
    rebuilt = load_bundle(copy).build_networks("cpu")
    method = get_method("anogan")
    with torch.no_grad():
        first, second = method.analyse(networks, slices[0][:4], "residual"), method.analyse(rebuilt, slices[0][:4], "residual")
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_detect_keeps_the_grid_and_ranks_lesion_slices(bundle, margin):
    check_detect_keeps_the_input_grid(bundle, shape=(20, 40, 56), ijk_to_ras=OBLIQUE)
    auroc = margin("anogan slice AUROC", held_out_slice_auroc(bundle), "> 0.75")
    assert auroc > 0.75, f"slice AUROC {auroc:.3f} on held-out phantoms (AnoGAN score A(x))"


@pytest.fixture(scope="module")
def encoder_networks(phantom_dataset, tmp_path_factory):
    """A tiny AnoGAN trained with its optional encoder (last 30 % of the steps)."""
    from trainer.fit import FitConfig, fit

    out = str(tmp_path_factory.mktemp("anogan_encoder") / "anogan_encoder.safetensors")
    fit(FitConfig(
        method="anogan", data=phantom_dataset, out=out, input_size=32, epochs=40, batch_size=16, validation_fraction=0.3, seed=0,
        device="cpu", architecture=dict(ARCHITECTURE, encoder=True), training={"learning_rate": 1e-3, "encoder_learning_rate": 1e-3},
        quiet=True,
    ))
    return load_bundle(out).build_networks("cpu")


def test_encoder_phase_trains_only_the_encoder_and_gan_phase_never_touches_it(slices):
    method = get_method("anogan")
    networks = method.build_networks(dict(ARCHITECTURE, encoder=True, input_size=32))
    trainer = method.make_trainer(networks, {"learning_rate": 1e-3}, "cpu", total_steps=4)
    assert trainer.gan_steps == 3  # encoder_fraction 0.3 of 4 steps, rounded
    images = slices[0][:8]
    encoder_before = _snapshot(networks["encoder"])
    for _ in range(3):
        losses = trainer.step(images)
        assert np.isnan(losses["loss_izi"]) and np.isfinite(losses["loss_g"])
    assert all(torch.equal(encoder_before[k], v) for k, v in networks["encoder"].state_dict().items()), "the GAN phase leaves E alone"
    assert trainer.validation_loss(images) == float("inf"), "no checkpoint from before the encoder has trained"
    gan_before = {name: _snapshot(networks[name]) for name in ("generator", "discriminator")}
    losses = trainer.step(images)
    assert np.isfinite(losses["loss_izi"]) and np.isnan(losses["loss_g"])
    for name, before in gan_before.items():
        assert all(torch.equal(before[k], v) for k, v in networks[name].state_dict().items()), f"{name} frozen in the encoder phase"
    assert not all(torch.equal(encoder_before[k], v) for k, v in networks["encoder"].state_dict().items()), "E learned"
    assert np.isfinite(trainer.validation_loss(images))
    with pytest.raises(ValueError, match="both phases"):
        method.make_trainer(method.build_networks(dict(ARCHITECTURE, encoder=True)), {}, "cpu", total_steps=1)


def test_encoder_initialised_search_starts_closer_and_needs_fewer_steps(encoder_networks, slices, margin):
    from AnomalyDetectLib.models.anogan.method import run_search

    images = slices[0][::2]
    settings = dict(encoder_networks.latent_search)
    random_start = run_search(encoder_networks, images, dict(settings, mapping_init="random"), steps=10)
    encoder_start = run_search(encoder_networks, images, dict(settings, mapping_init="encoder"), steps=10)
    margin("anogan encoder start/random start first loss", encoder_start.history[0].mean() / random_start.history[0].mean(), "< 0.8")
    margin("anogan encoder start/random start loss after 10 steps", encoder_start.loss.mean() / random_start.loss.mean(), "< 1")
    assert encoder_start.history[0].mean() < 0.8 * random_start.history[0].mean(), "E(x) is a better z₁ than a random draw"
    assert encoder_start.loss.mean() < random_start.loss.mean(), "after the same 10 steps, the encoder start is still ahead"
    with pytest.raises(ValueError, match="encoder"):
        get_method("anogan").build_networks(dict(ARCHITECTURE, mapping_init="encoder"))
