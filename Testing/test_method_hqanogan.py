"""HQ-AnoGAN: StyleGAN2 building blocks (demodulation, equalised learning rate), ADA (augmentation
and its adaptive p), the pSp encoder's W+ and the code statistics; a tiny model trained with the
real trainer ranks lesion slices of held-out phantoms, round-trips through a bundle and keeps the
input's grid."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from AnomalyDetectLib.bundle import load_bundle, save_bundle
from AnomalyDetectLib.models import get_method
from AnomalyDetectLib.models.hqanogan.augment import AdaptiveProbability, augment
from AnomalyDetectLib.models.hqanogan.encoder import LatentStatistics
from AnomalyDetectLib.models.hqanogan.networks import EqualConv2d, EqualLinear, ModulatedConv2d
from method_checks import (
    OBLIQUE,
    check_analyse_leaves_the_networks_untouched,
    check_detect_keeps_the_input_grid,
    check_networks_match_the_bundle,
    held_out_slice_auroc,
)

from trainer.fit import log_path

# Widths for two CPU cores: 32×32 slices, 8 styles of 32 values.
ARCHITECTURE = {"channel_base": 256, "channel_max": 32, "z_dim": 32, "w_dim": 32, "mapping_layers": 2, "encoder_width": 8}
TINY = dict(ARCHITECTURE, input_size=16)
TRAINING = {"learning_rate": 0.005, "encoder_learning_rate": 2e-3, "gan_fraction": 0.7}
EPOCHS = 60

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bundle_path(phantom_dataset, tmp_path_factory):
    from trainer.fit import FitConfig, fit

    out = str(tmp_path_factory.mktemp("hqanogan") / "hqanogan.safetensors")
    fit(FitConfig(
        method="hqanogan", data=phantom_dataset, out=out, input_size=32, epochs=EPOCHS, batch_size=16, validation_fraction=0.3, seed=0,
        device="cpu", architecture=dict(ARCHITECTURE), training=dict(TRAINING), scoring={"slice_score": "image"}, quiet=True,
    ))
    return out


@pytest.fixture(scope="module")
def bundle(bundle_path):
    return load_bundle(bundle_path)


def test_modulated_convolution_with_demodulation_keeps_unit_variance():
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 48, 3, w_dim=16)
    with torch.no_grad():
        conv.affine.bias.fill_(3.0)  # styles far from 1: without demodulation the variance would be ~9× larger
        x, w = torch.randn(8, 64, 24, 24), torch.randn(8, 16)
        interior = conv(x, w)[:, :, 1:-1, 1:-1]  # the zero padding lowers the border's variance
        conv.demodulate = False
        plain = conv(x, w)[:, :, 1:-1, 1:-1]
    per_channel = interior.var(dim=(0, 2, 3))
    assert abs(float(interior.var()) - 1.0) < 0.05 and float(per_channel.min()) > 0.85 and float(per_channel.max()) < 1.15
    assert float(plain.var()) > 4.0, "the check can fail: without demodulation the style scale shows"


def test_equalised_learning_rate_scales_weights_at_run_time():
    torch.manual_seed(0)
    linear = EqualLinear(200, 300, bias_init=0.5, lr_multiplier=0.01)
    linear.requires_grad_(False)
    assert float(linear.weight.std()) == pytest.approx(100.0, rel=0.05), "stored as N(0, 1) / lr_multiplier"
    x = torch.randn(5, 200)
    expected = F.linear(x, linear.weight * 0.01 / math.sqrt(200), linear.bias * 0.01)
    assert torch.allclose(linear(x), expected, atol=1e-5)
    effective = linear.weight.detach() * linear.weight_gain
    assert float(effective.std()) == pytest.approx(1 / math.sqrt(200), rel=0.05), "He-initialised at run time"
    conv = EqualConv2d(32, 16, 3)
    assert conv.weight_gain == pytest.approx(1 / math.sqrt(32 * 9)) and float(conv.weight.detach().std()) == pytest.approx(1.0, rel=0.1)
    with torch.no_grad():
        assert float(conv(torch.randn(4, 32, 20, 20))[:, :, 1:-1, 1:-1].var()) == pytest.approx(1.0, rel=0.15)
    # The gradient of a stored weight is gain × that of the effective weight: the same Adam step moves every layer alike.
    linear.requires_grad_(True)
    linear(x).sum().backward()
    assert torch.allclose(linear.weight.grad, 0.01 / math.sqrt(200) * torch.ones(300, 1) * x.sum(0)[None], rtol=1e-4)


def test_augmentation_is_identity_at_p_zero_and_differentiable():
    images = torch.rand(6, 1, 16, 16)
    assert augment(images, 0.0) is images
    torch.manual_seed(1)
    augmented = augment(images, 1.0)
    assert augmented.shape == images.shape and torch.isfinite(augmented).all()
    assert all(not torch.allclose(a, b) for a, b in zip(augmented, images)), "at p = 1 every image changes"

    source = torch.rand(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)

    def seeded(x):
        torch.manual_seed(3)  # gradcheck evaluates several times: the same draws each time
        return augment(x, 0.9)

    assert torch.autograd.gradcheck(seeded, (source,), eps=1e-6, atol=1e-5)
    (gradient,) = torch.autograd.grad(seeded(source).pow(2).sum(), source)
    assert torch.isfinite(gradient).all() and float(gradient.abs().sum()) > 0


def test_adaptive_probability_follows_sign_of_rt_minus_target():
    controller = AdaptiveProbability(target=0.6, interval=4, speed_kimg=0.1, probability=0.5)
    controller.observe(torch.tensor([1.0, 2.0, -0.5, 3.0] * 10))  # r_t = 0.5 < 0.6
    assert controller.adjust() == pytest.approx(0.5) and controller.probability == pytest.approx(0.5 - 40 / 100)
    controller.observe(torch.tensor([1.0, 2.0, 0.5, 3.0] * 10))  # r_t = 1 > 0.6
    controller.adjust()
    assert controller.probability == pytest.approx(0.5)
    frozen = AdaptiveProbability(probability=0.3, adaptive=False)
    frozen.observe(torch.ones(50))
    assert frozen.adjust() == 1.0 and frozen.probability == 0.3, "ADA off: r_t logged, p fixed"


def _tiny_trainer(training):
    torch.manual_seed(0)
    method = get_method("hqanogan")
    networks = method.build_networks(TINY)
    trainer = method.make_trainer(networks, dict({"gan_steps": 1000, "ada_kimg": 0.05, "learning_rate": 0.005}, **training), "cpu", 2000)
    return networks, trainer


def test_ada_p_rises_when_d_overfits_a_tiny_set_and_falls_when_it_does_not():
    tiny_set = torch.rand(4, 1, 16, 16)
    _, trainer = _tiny_trainer({})
    rows = [trainer.step(tiny_set) for _ in range(40)]
    rts = [row["ada_rt"] for row in rows if not math.isnan(row["ada_rt"])]
    assert len(rts) == 10 and rts[-1] > 0.6, f"D separates its 4 real images from the fakes: r_t {rts}"
    assert rows[-1]["ada_p"] > 0.2 and rows[-1]["ada_p"] > rows[10]["ada_p"], "p rises while r_t > target"

    # A discriminator that does not overfit (here: frozen, and calling every real image fake) lets p fall.
    networks, trainer = _tiny_trainer({"learning_rate": 0.0})
    with torch.no_grad():
        networks["discriminator"].out.bias.fill_(-50.0)
    trainer.ada.probability = 0.5
    rows = [trainer.step(torch.rand(4, 1, 16, 16)) for _ in range(16)]
    assert all(row["ada_rt"] == -1.0 for row in rows if not math.isnan(row["ada_rt"]))
    assert rows[-1]["ada_p"] < 0.5 - 0.2, "p falls while r_t < target"


def test_encoder_gives_one_style_per_synthesis_layer():
    method = get_method("hqanogan")
    for size, expected in ((16, 6), (32, 8), (64, 10)):
        networks = method.build_networks(dict(ARCHITECTURE, input_size=size))
        generator, encoder = networks["generator_ema"].eval(), networks["encoder"].eval()
        assert generator.num_ws == expected == 2 * int(math.log2(size)) - 2
        with torch.no_grad():
            ws = encoder(torch.rand(2, 1, size, size))
            assert ws.shape == (2, expected, ARCHITECTURE["w_dim"])
            image = generator.synthesise(ws)
            assert image.shape == (2, 1, size, size)
            for index in range(expected):  # every style reaches the image
                moved = ws.clone()
                moved[:, index] += 1.0
                assert not torch.allclose(generator.synthesise(moved), image), f"style {index} has no effect"


def test_latent_statistics_give_unit_distance_to_normal_codes_and_more_to_shifted_ones():
    torch.manual_seed(0)
    mixing = torch.randn(2, 6, 6) * 0.5 + torch.eye(6)
    statistics = LatentStatistics(num_ws=2, w_dim=6)

    def draw(count):
        return torch.einsum("lij,blj->bli", mixing, torch.randn(count, 2, 6)) + 3.0

    for _ in range(200):
        statistics.observe(draw(64), momentum=0.05)
    statistics.finalise(shrinkage=0.0)
    normal = statistics.distance(draw(2000))
    assert float(normal.mean()) == pytest.approx(1.0, abs=0.1), "squared Mahalanobis distance per dimension ≈ 1"
    shifted = draw(2000) + 3.0 * mixing[:, :, 0][None]  # three standard deviations along one direction
    assert float(shifted.mean()) > 3.0 and float(statistics.distance(shifted).median()) > 2.0 * float(normal.median())


def test_latent_statistics_survive_moments_that_are_no_covariance():
    """Running moments of a drifting encoder can give an indefinite "covariance": the whitening stays finite."""
    statistics = LatentStatistics(num_ws=1, w_dim=4)
    statistics.observe(torch.zeros(1, 1, 4), momentum=1.0)
    statistics.first_moment.copy_(torch.tensor([[0.8, 0.8, 0.0, 0.0]]))
    statistics.second_moment.copy_(torch.eye(4)[None])  # S − m mᵀ has eigenvalue −0.28 (correlation −0.78: shrinkage alone fails)
    statistics.finalise(shrinkage=0.1)
    assert torch.isfinite(statistics.whitening).all() and torch.isfinite(statistics.distance(torch.randn(5, 1, 4))).all()


def test_training_runs_both_phases_logs_ada_and_selects_from_the_encoder_phase(bundle_path, bundle):
    with open(log_path(bundle_path), newline="") as handle:
        rows = list(csv.DictReader(handle))
    encoder = np.array([float(row["loss_e"]) for row in rows])
    gan_steps = int(round(TRAINING["gan_fraction"] * len(rows)))
    assert np.flatnonzero(np.isfinite(encoder))[0] == gan_steps
    assert all(row["ada_p"] != "" and math.isfinite(float(row["ada_p"])) for row in rows), "p logged every step"
    assert sum(row["ada_rt"] not in ("", "nan") for row in rows[:gan_steps]) == gan_steps // 4, "r_t at every adjustment"
    assert encoder[-16:].mean() < 0.8 * encoder[gan_steps : gan_steps + 4].mean(), "the encoder learned"
    training = bundle.manifest["training"]
    assert training["selected_step"] > gan_steps
    networks = bundle.build_networks("cpu")
    assert any(not torch.equal(a, b) for a, b in zip(networks["generator"].parameters(), networks["generator_ema"].parameters()))
    statistics = networks["latent_statistics"]
    assert float(statistics.observed) > 0 and torch.all(statistics.score_spread > 0) and torch.isfinite(statistics.whitening).all()


def test_tiny_run_separates_lesion_slices_at_two_thread_counts(bundle):
    aurocs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        aurocs.append(held_out_slice_auroc(bundle))
    torch.set_num_threads(1)
    assert min(aurocs) > 0.8 and abs(aurocs[0] - aurocs[1]) < 0.02, f"slice AUROC on held-out phantoms at 1 and 2 threads: {aurocs}"


def test_bundle_round_trip_and_analyse(bundle, tmp_path):
    manifest = bundle.manifest
    assert manifest["method"] == "hqanogan" and manifest["architecture"]["image_score"] == "combined"
    networks = check_networks_match_the_bundle(bundle)
    assert {name.split(".")[0] for name in bundle.tensors} == {"generator", "generator_ema", "discriminator", "encoder", "latent_statistics"}
    copy = str(tmp_path / "copy.safetensors")
    save_bundle(copy, {k: v for k, v in manifest.items() if k not in ("weights_sha256", "format_version")}, dict(bundle.tensors))
    images = torch.rand(4, 1, 32, 32)
    method = get_method("hqanogan")
    with torch.no_grad():
        first = method.analyse(networks, images, "mgmsd")
        second = method.analyse(load_bundle(copy).build_networks("cpu"), images, "mgmsd")
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    check_analyse_leaves_the_networks_untouched(bundle, "residual")


def test_refinement_reuses_anogans_search_and_lowers_its_loss(bundle):
    from AnomalyDetectLib.models.hqanogan.method import encode_and_reconstruct, score_settings

    networks = bundle.build_networks("cpu")
    images = torch.rand(3, 1, 32, 32) * 0.5
    with torch.no_grad():
        _, plain = encode_and_reconstruct(networks, images, score_settings({}))
        _, refined = encode_and_reconstruct(networks, images, score_settings({"refine_steps": 20, "refine_learning_rate": 0.05}))
    assert (images - refined).abs().sum() < (images - plain).abs().sum(), "20 W+ steps reconstruct closer than E(x) alone"
    assert not any(module.training for module in networks.modules()) and all(p.grad is None for p in networks.parameters())


def test_detect_keeps_the_input_grid(bundle):
    check_detect_keeps_the_input_grid(bundle, shape=(20, 40, 56), ijk_to_ras=OBLIQUE)


TINY_RUN = ["--input-size", "16", "--batch-size", "4", "--epochs", "5", "--validation-fraction", "0.3", "--seed", "3", "--device", "cpu",
            "--architecture", '{"channel_base": 256, "channel_max": 32, "z_dim": 32, "w_dim": 32, "mapping_layers": 2, "encoder_width": 8}',
            "--training", '{"gan_steps": 4, "ada_kimg": 0.05}', "--quiet"]


def test_two_process_run_keeps_the_ranks_identical(tmp_path):
    """torchrun with two CPU processes through both phases: the ranks end with the same weights and code statistics."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from conftest import ROOT, write_phantom_dataset

    from trainer.distributed import DEBUG_STATE_VARIABLE

    data = write_phantom_dataset(tmp_path / "data", count=5, shape=(12, 32, 32))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    states = str(tmp_path / "states")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
               str(port), "-m", "trainer", "fit", "--method", "hqanogan", "--data", data, "--out", str(tmp_path / "m.safetensors"),
               "--max-steps", "8", *TINY_RUN]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "AnomalyDetect"), ROOT]), OMP_NUM_THREADS="1",
                       **{DEBUG_STATE_VARIABLE: states})
    completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    rank0, rank1 = (torch.load(os.path.join(states, f"rank{rank}.pt"), weights_only=True) for rank in (0, 1))
    assert rank0["step"] == rank1["step"] == 8 and rank0["best_step"] == rank1["best_step"] > 4
    for name, value in rank0["final"].items():
        assert torch.equal(value, rank1["final"][name]), f"{name} differs between ranks"
    assert json.loads(json.dumps(load_bundle(str(tmp_path / "m.safetensors")).manifest["training"]["distributed"]))["world_size"] == 2


def test_resumed_run_follows_the_uninterrupted_one(phantom_dataset, tmp_path):
    """Stopped by the time budget after step 1 (GAN phase, mid ADA interval), resumed to step 8: the same weights as 8 steps in one go."""
    from trainer.fit import FitConfig, fit

    options = dict(data=phantom_dataset, input_size=16, epochs=5, batch_size=4, validation_fraction=0.3, seed=3, device="cpu",
                   architecture=json_arg(TINY_RUN, "--architecture"), training=json_arg(TINY_RUN, "--training"), quiet=True)
    whole, split = str(tmp_path / "whole.safetensors"), str(tmp_path / "split.safetensors")
    fit(FitConfig(method="hqanogan", out=whole, max_steps=8, **options))
    fit(FitConfig(method="hqanogan", out=split, max_steps=8, max_minutes=1e-6, **options))
    assert load_bundle(split).manifest["training"]["steps"] == 1
    fit(FitConfig(method="hqanogan", out=split, max_steps=8, resume=True, **options))
    first, second = load_bundle(whole).tensors, load_bundle(split).tensors
    assert first.keys() == second.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def json_arg(arguments, flag):
    import json

    return json.loads(arguments[arguments.index(flag) + 1])
