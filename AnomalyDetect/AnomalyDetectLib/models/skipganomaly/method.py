"""Skip-GANomaly training step and anomaly maps.

Generator loss  L_G = w_adv·BCE(D(x̂), real) + w_con·|x − x̂|₁ + w_lat·‖f(x) − f(x̂)‖²
Discriminator   L_D = BCE(D(x), real) + BCE(D(x̂), fake)
with x̂ = G(x) and f the discriminator's last feature map. The discriminator is
re-initialised when it wins outright (L_D < 1e-5), as in the reference code.
Only normal images are seen in training.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ..base import RECONSTRUCTION_MAPS, GeneratorDiscriminatorState, Method, discriminator_step, reconstruction_map
from .networks import Discriminator, UNetGenerator, initialise_weights


class SkipGANomaly(Method):
    NAME = "skipganomaly"
    DEFAULT_ARCHITECTURE = {"input_size": 64, "channels": 1, "base_channels": 32, "depth": 4, "skips": [True, True, True, True]}
    DEFAULT_TRAINING = {"w_adv": 1.0, "w_con": 50.0, "w_lat": 1.0, "learning_rate": 2e-4, "beta1": 0.5}
    MAPS = RECONSTRUCTION_MAPS
    DEFAULT_MAP = "mgmsd"

    def build_networks(self, architecture: Dict) -> nn.ModuleDict:
        arch = dict(self.DEFAULT_ARCHITECTURE, **architecture)
        size, depth = int(arch["input_size"]), int(arch["depth"])
        if size % 2**depth or size // 2**depth < 1:
            raise ValueError(f"input_size {size} is not divisible by 2^{depth}")
        networks = nn.ModuleDict(
            {
                "generator": UNetGenerator(int(arch["channels"]), int(arch["base_channels"]), depth, arch["skips"]),
                "discriminator": Discriminator(int(arch["channels"]), int(arch["base_channels"]), depth, size),
            }
        )
        initialise_weights(networks)
        return networks

    @torch.no_grad()
    def analyse(self, networks: nn.ModuleDict, images: torch.Tensor, map_kind: str):
        """Maps, and the paper's score 0.9·mean|x − x̂| + 0.1·mean|f(x) − f(x̂)| per image."""
        reconstructions = networks["generator"](images)
        _, features_real = networks["discriminator"](images)
        _, features_fake = networks["discriminator"](reconstructions)
        residual = (images - reconstructions).abs().flatten(1).mean(1)
        image_scores = 0.9 * residual + 0.1 * (features_real - features_fake).abs().flatten(1).mean(1)
        return reconstruction_map(images, reconstructions, map_kind), image_scores

    def make_trainer(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int = 0) -> SkipGANomalyTrainer:
        return SkipGANomalyTrainer(networks, dict(self.DEFAULT_TRAINING, **training), device)


class SkipGANomalyTrainer(GeneratorDiscriminatorState):
    def step(self, images: torch.Tensor) -> Dict[str, float]:
        generator, discriminator = self.networks["generator"], self.networks["discriminator"]
        generator.train()
        discriminator.train()
        w = self.training
        reconstructions = generator(images)

        logits_fake, features_fake = discriminator(reconstructions)
        with torch.no_grad():
            _, features_real = discriminator(images)
        loss_adv = F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
        loss_con = (images - reconstructions).abs().mean()
        loss_lat = (features_real - features_fake).pow(2).mean()
        loss_g = w["w_adv"] * loss_adv + w["w_con"] * loss_con + w["w_lat"] * loss_lat
        self.optimiser_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimiser_g.step()

        loss_d = discriminator_step(discriminator, self.optimiser_d, images, reconstructions)
        if loss_d.item() < 1e-5:
            initialise_weights(discriminator)
        losses = {"loss_g": loss_g, "loss_adv": loss_adv, "loss_con": loss_con, "loss_lat": loss_lat, "loss_d": loss_d}
        return {name: value.item() for name, value in losses.items()}

    @torch.no_grad()
    def validation_loss(self, images: torch.Tensor) -> float:
        """Contextual L1 on normal validation images (eval mode): the checkpoint criterion."""
        generator = self.networks["generator"]
        generator.eval()
        return float((images - generator(images)).abs().mean())


METHOD = SkipGANomaly()
