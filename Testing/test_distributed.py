"""Multi-process training: ``python -m trainer fit`` under torchrun with two CPU (gloo) processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

# Only light imports at module level: the spawned ranks of the last test import this module.
from trainer.distributed import DEBUG_STATE_VARIABLE, setup, shard

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("count,world_size", [(10, 1), (10, 2), (11, 3), (2, 4)])
def test_shard_matches_distributed_sampler(count, world_size):
    from torch.utils.data import DistributedSampler

    order = np.random.default_rng(0).permutation(count)
    shares = [shard(order, rank, world_size) for rank in range(world_size)]
    for rank, share in enumerate(shares):
        sampler = DistributedSampler(range(count), num_replicas=world_size, rank=rank, shuffle=False)
        assert share.tolist() == [order[i] for i in sampler]
    assert len({len(share) for share in shares}) == 1, "every rank takes the same number of steps"
    assert set(np.concatenate(shares).tolist()) == set(range(count))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """One 2-process torchrun fit (6 steps, 2 validations): (out path, the two ranks' debug states, data folder)."""
    from conftest import TINY_ARCHITECTURE, write_phantom_dataset

    folder = tmp_path_factory.mktemp("ddp")
    data = write_phantom_dataset(folder / "data", count=5, shape=(12, 32, 32))
    out_folder = folder / "out"
    out_folder.mkdir()
    out, states = str(out_folder / "model.safetensors"), str(folder / "rank_states")
    architecture = json.dumps(TINY_ARCHITECTURE)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "trainer", "fit", "--method", "skipganomaly", "--data", data, "--out", out,
               "--input-size", "32", "--batch-size", "4", "--epochs", "5", "--max-steps", "6", "--checkpoint-every", "4",
               "--validation-fraction", "0.3", "--seed", "3", "--device", "cpu", "--architecture", architecture, "--quiet"]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "AnomalyDetect"), ROOT]), OMP_NUM_THREADS="1",
                       **{DEBUG_STATE_VARIABLE: states})
    completed = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    ranks = [torch.load(os.path.join(states, f"rank{rank}.pt"), weights_only=True) for rank in (0, 1)]
    return out, ranks, data


def test_ranks_end_with_identical_weights(two_process_run):
    _, (rank0, rank1), _ = two_process_run
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["step"] == rank1["step"] == 6 and rank0["best_step"] == rank1["best_step"]
    assert rank0["best_loss"] == rank1["best_loss"], "the averaged validation loss is the same on every rank"
    for part in ("final", "selected"):
        assert rank0[part].keys() == rank1[part].keys() and rank0[part]
        for name, value in rank0[part].items():
            assert torch.equal(value, rank1[part][name]), f"{part} {name} differs between ranks"
    # DDP kept the ranks in step by itself: neither safety net (explicit gradient averaging, reset to rank 0) had to act.
    assert rank0["realignments"] == rank1["realignments"] == 0
    assert rank0["gradient_fallbacks"] == rank1["gradient_fallbacks"] == 0


def test_only_rank_zero_writes(two_process_run):
    from AnomalyDetectLib.bundle import load_bundle

    from trainer.fit import checkpoint_path, log_path

    out, (rank0, rank1), _ = two_process_run
    assert rank0["wrote_outputs"] and not rank1["wrote_outputs"]
    assert sorted(os.listdir(os.path.dirname(out))) == sorted(os.path.basename(p) for p in (out, log_path(out), checkpoint_path(out)))
    steps = [int(line.split(",")[0]) for line in open(log_path(out)).read().splitlines()[1:]]
    assert steps == list(range(1, 7)), "one writer: each step logged once"
    bundle = load_bundle(out)
    training = bundle.manifest["training"]
    assert training["distributed"] == {"world_size": 2, "backend": "gloo"} and training["steps"] == 6
    assert bundle.manifest["thresholds"]["pixel"] > 0, "rank 0 calibrated"
    for name, value in rank0["selected"].items():
        np.testing.assert_array_equal(bundle.tensors[name], value.numpy().astype(bundle.tensors[name].dtype))
    checkpoint = torch.load(checkpoint_path(out), weights_only=True)
    assert checkpoint["world_size"] == 2 and checkpoint["step"] == 6
    for name, value in rank0["final"].items():
        assert torch.equal(checkpoint["networks"][name], value)


def test_resume_needs_the_same_number_of_processes(two_process_run):
    from AnomalyDetectLib.errors import AnomalyDetectError
    from conftest import TINY_ARCHITECTURE

    from trainer.fit import FitConfig, fit

    out, _, data = two_process_run
    config = FitConfig(method="skipganomaly", data=data, out=out, input_size=32, epochs=5, batch_size=4, validation_fraction=0.3,
                       seed=3, device="cpu", architecture=dict(TINY_ARCHITECTURE), max_steps=8, resume=True, quiet=True)
    with pytest.raises(AnomalyDetectError, match="written by 2 process"):
        fit(config)


class _Critic(torch.nn.Module):
    """A discriminator returning (logit, features), as the methods' discriminators do."""

    def __init__(self, batch_norm: bool):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4) if batch_norm else torch.nn.Identity(),
                                            torch.nn.LeakyReLU(0.2))
        self.classifier = torch.nn.Linear(4 * 6 * 6, 1)

    def forward(self, images):
        features = self.features(images)
        return self.classifier(features.flatten(1)).squeeze(1), features


class _Trainer:
    """Holds the optimisers, as a method's trainer does (guard_optimisers finds them among its attributes)."""

    def __init__(self, networks):
        self.optimiser_g = torch.optim.Adam(networks["generator"].parameters(), lr=1e-2)
        self.optimiser_d = torch.optim.Adam(networks["discriminator"].parameters(), lr=1e-2)


def _gan_step(pattern: str, view, trainer: _Trainer, images) -> None:
    generator, critic = view["generator"], view["discriminator"]
    # "bypass": the generator called inside its DDP wrapper, as a method that unwraps networks would.
    fakes = generator.module(images) if pattern == "bypass" else generator(images)
    if pattern == "wgan_gp":
        loss_g = -critic(fakes)[0].mean()
    else:  # GANomaly-style feature matching: the generator loss reaches the critic's features only
        _, real_features = critic(images)
        _, fake_features = critic(fakes)
        loss_g = (real_features - fake_features).pow(2).mean() + (images - fakes).abs().mean()
    trainer.optimiser_g.zero_grad()
    loss_g.backward()
    trainer.optimiser_g.step()
    logits_real, _ = critic(images)
    logits_fake, _ = critic(fakes.detach())
    if pattern == "wgan_gp":  # gradient penalty: a double backward through the critic
        mix = torch.rand(4, 1, 1, 1)
        between = (mix * images + (1 - mix) * fakes.detach()).requires_grad_(True)
        (gradient,) = torch.autograd.grad(critic(between)[0].sum(), between, create_graph=True)
        loss_d = logits_fake.mean() - logits_real.mean() + 10 * (gradient.flatten(1).norm(dim=1) - 1).pow(2).mean()
    else:
        loss_d = F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()
    trainer.optimiser_d.zero_grad()
    loss_d.backward()
    trainer.optimiser_d.step()


def _gan_patterns_worker(rank: int, port: int) -> None:
    """One rank: three steps of each GAN pattern through the DDP view; raises when the ranks end apart."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    context = setup("cpu")
    try:
        for pattern in ("feature_matching", "wgan_gp", "bypass"):
            torch.manual_seed(0)
            networks = torch.nn.ModuleDict({"generator": torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Sigmoid()),
                                            "discriminator": _Critic(batch_norm=pattern != "wgan_gp")})
            initial = [p.detach().clone() for p in networks.parameters()]
            view = context.training_view(networks)
            trainer = _Trainer(view)
            assert context.guard_optimisers(trainer) == 2
            fallbacks = context.gradient_fallbacks
            torch.manual_seed(100 + rank)  # each rank its own data
            for _ in range(3):
                _gan_step(pattern, view, trainer, torch.rand(4, 1, 8, 8))
            assert not all(torch.equal(a, b) for a, b in zip(initial, networks.parameters())), "nothing was trained"
            if pattern == "bypass":
                assert context.gradient_fallbacks == fallbacks + 3, "the generator's unsynchronised gradients were averaged"
            else:
                assert context.gradient_fallbacks == fallbacks, f"{pattern}: DDP alone synchronised the gradients"
            assert context.align_parameters(networks) == 0, f"{pattern}: ranks ended with different parameters"
    finally:
        context.close()


def test_ddp_keeps_gan_steps_in_sync():
    """Feature matching and a gradient penalty through DDP; a network called outside its wrapper through the fallback."""
    import torch.multiprocessing as multiprocessing

    multiprocessing.spawn(_gan_patterns_worker, args=(_free_port(),), nprocs=2)
