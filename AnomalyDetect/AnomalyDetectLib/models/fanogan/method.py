"""f-AnoGAN: a WGAN-GP on normal slices, then an izi_f encoder; one forward pass at test time.

Phase 1, the first ``gan_fraction`` of the planned steps or ``gan_steps`` steps (WGAN-GP, z ~ N(0, I)); each step is
one critic update on that step's batch, every ``n_critic``-th step also one generator update:
    L_C = E[C(G(z))] − E[C(x)] + λ_gp · E[(‖∇_x̃ C(x̃)‖₂ − 1)²],   x̃ = εx + (1 − ε)G(z), ε ~ U(0, 1)
    L_G = −E[C(G(z))]
Phase 2, the remaining steps (G and C frozen and in eval mode; only the encoder E learns):
    L_izi_f = (1/n)‖x − G(E(x))‖² + κ · (1/n_d)‖f(x) − f(G(E(x)))‖²
with n pixels, f the critic's last feature map and n_d its size. Anomaly score per image: the
same expression (κ = ``score_kappa``); the maps compare x with G(E(x)). See README.md.
"""

from __future__ import annotations

import math
from typing import Dict

import torch
from torch import nn

from ..base import RECONSTRUCTION_MAPS, Method, reconstruction_map
from ..dcgan import DCGANEncoder, DCGANGenerator, initialise_weights, izif_losses, unwrap

NAN = float("nan")


class FAnoGAN(Method):
    NAME = "fanogan"
    DEFAULT_ARCHITECTURE = {"input_size": 64, "channels": 1, "base_channels": 32, "depth": 4, "latent_dim": 128, "score_kappa": 1.0}
    DEFAULT_TRAINING = {
        "learning_rate": 1e-4, "beta1": 0.0, "beta2": 0.9, "n_critic": 5, "gradient_penalty": 10.0,
        "gan_fraction": 0.7, "gan_steps": None, "kappa": 1.0, "encoder_learning_rate": 1e-4,
    }
    MAPS = RECONSTRUCTION_MAPS
    DEFAULT_MAP = "residual"

    def build_networks(self, architecture: Dict) -> nn.ModuleDict:
        arch = dict(self.DEFAULT_ARCHITECTURE, **architecture)
        size, depth, channels, width = int(arch["input_size"]), int(arch["depth"]), int(arch["channels"]), int(arch["base_channels"])
        latent = int(arch["latent_dim"])
        networks = nn.ModuleDict({
            "generator": DCGANGenerator(latent, channels, width, depth, size),
            "critic": DCGANEncoder(channels, width, depth, size, outputs=1, normalisation="layer"),
            "encoder": DCGANEncoder(channels, width, depth, size, outputs=latent, normalisation="batch"),
        })
        initialise_weights(networks)
        networks.score_kappa = float(arch["score_kappa"])
        return networks

    @torch.no_grad()
    def analyse(self, networks: nn.ModuleDict, images: torch.Tensor, map_kind: str):
        """Maps of x against G(E(x)), and A(x) = image MSE + κ · feature MSE per image."""
        kappa = getattr(networks, "score_kappa", self.DEFAULT_ARCHITECTURE["score_kappa"])
        scores, _, _, reconstructions = izif_losses(networks, images, kappa)
        return reconstruction_map(images, reconstructions, map_kind), scores

    def make_trainer(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int = 0) -> FAnoGANTrainer:
        return FAnoGANTrainer(networks, dict(self.DEFAULT_TRAINING, **training), device, total_steps)


class FAnoGANTrainer:
    """Steps 1 … gan_steps train the WGAN-GP, the rest the encoder.

    gan_steps = round(gan_fraction · total_steps), with ``total_steps`` the trainer's planned
    steps, unless the ``gan_steps`` setting gives it directly (for runs ended by a time budget,
    whose planned step count is not the number of steps that will run).
    """

    def __init__(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int):
        self.networks = networks
        self.training = training
        self.device = device
        if training.get("gan_steps") is not None:
            self.gan_steps, rule = int(training["gan_steps"]), f"gan_steps {training['gan_steps']}"
        else:
            self.gan_steps, rule = int(round(float(training["gan_fraction"]) * total_steps)), f"gan_fraction {training['gan_fraction']}"
        if not 0 < self.gan_steps < total_steps:
            raise ValueError(
                f"f-AnoGAN needs steps for both phases: {total_steps} planned steps with {rule} "
                f"leave {self.gan_steps} for the GAN and {total_steps - self.gan_steps} for the encoder"
            )
        self.steps_done = 0
        gan_betas = (float(training["beta1"]), float(training["beta2"]))
        rate = float(training["learning_rate"])
        self.optimiser_g = torch.optim.Adam(networks["generator"].parameters(), lr=rate, betas=gan_betas)
        self.optimiser_c = torch.optim.Adam(networks["critic"].parameters(), lr=rate, betas=gan_betas)
        self.optimiser_e = torch.optim.Adam(networks["encoder"].parameters(), lr=float(training["encoder_learning_rate"]), betas=gan_betas)

    @property
    def encoder_phase(self) -> bool:
        """True once the next step trains the encoder."""
        return self.steps_done >= self.gan_steps

    def step(self, images: torch.Tensor) -> Dict[str, float]:
        # Every step reports the same keys (the trainer's CSV log has one header); NaN = not computed in this phase.
        losses = dict.fromkeys(("loss_d", "loss_g", "wasserstein", "gradient_penalty", "loss_izi", "loss_izi_image", "loss_izi_features"), NAN)
        losses.update(self._encoder_step(images) if self.encoder_phase else self._gan_step(images))
        self.steps_done += 1
        return losses

    def _gan_step(self, images: torch.Tensor) -> Dict[str, float]:
        generator, critic = self.networks["generator"], self.networks["critic"]
        generator.train()
        critic.train()
        latent_dim = unwrap(generator).latent_dim
        with torch.no_grad():
            fakes = generator(torch.randn(images.shape[0], latent_dim, device=images.device))
        real_scores, _ = critic(images)
        fake_scores, _ = critic(fakes)
        epsilon = torch.rand(images.shape[0], 1, 1, 1, device=images.device)
        mixed = (epsilon * images + (1.0 - epsilon) * fakes).requires_grad_(True)
        mixed_scores, _ = critic(mixed)
        (gradients,) = torch.autograd.grad(mixed_scores.sum(), mixed, create_graph=True)
        penalty = (gradients.flatten(1).norm(dim=1) - 1.0).pow(2).mean()
        wasserstein = real_scores.mean() - fake_scores.mean()
        loss_c = -wasserstein + float(self.training["gradient_penalty"]) * penalty
        self.optimiser_c.zero_grad(set_to_none=True)
        loss_c.backward()
        self.optimiser_c.step()
        losses = {"loss_d": loss_c.item(), "wasserstein": wasserstein.item(), "gradient_penalty": penalty.item()}

        if (self.steps_done + 1) % int(self.training["n_critic"]) == 0:
            fake_scores, _ = critic(generator(torch.randn(images.shape[0], latent_dim, device=images.device)))
            loss_g = -fake_scores.mean()
            self.optimiser_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.optimiser_g.step()
            losses["loss_g"] = loss_g.item()
        return losses

    def _encoder_step(self, images: torch.Tensor) -> Dict[str, float]:
        frozen = [unwrap(self.networks[name]) for name in ("generator", "critic")]
        for network in frozen:
            network.eval()  # G as at test time: batch-norm running statistics, which stay fixed
            network.requires_grad_(False)
        self.networks["encoder"].train()
        loss, image_term, feature_term, _ = izif_losses(self.networks, images, float(self.training["kappa"]))
        loss = loss.mean()
        self.optimiser_e.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser_e.step()
        return {"loss_izi": loss.item(), "loss_izi_image": image_term.mean().item(), "loss_izi_features": feature_term.mean().item()}

    @torch.no_grad()
    def validation_loss(self, images: torch.Tensor) -> float:
        """The izi_f loss on normal slices once the encoder is training; +inf during the GAN phase.

        A WGAN has no reconstruction to select on, and a GAN-phase checkpoint would ship an
        untrained encoder, so the kept weights always come from the encoder phase.
        """
        if self.steps_done <= self.gan_steps:
            return math.inf
        for name in ("generator", "critic", "encoder"):
            self.networks[name].eval()
        return float(izif_losses(self.networks, images, float(self.training["kappa"]))[0].mean())

    def state_dict(self) -> Dict:
        return {"optimiser_g": self.optimiser_g.state_dict(), "optimiser_c": self.optimiser_c.state_dict(),
                "optimiser_e": self.optimiser_e.state_dict(), "steps_done": self.steps_done}

    def load_state_dict(self, state: Dict) -> None:
        self.optimiser_g.load_state_dict(state["optimiser_g"])
        self.optimiser_c.load_state_dict(state["optimiser_c"])
        self.optimiser_e.load_state_dict(state["optimiser_e"])
        self.steps_done = int(state["steps_done"])


METHOD = FAnoGAN()
