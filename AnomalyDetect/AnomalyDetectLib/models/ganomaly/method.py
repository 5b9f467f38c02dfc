"""GANomaly training step, image score and anomaly maps.

With z = G_E(x), x̂ = G_D(z), ẑ = E(x̂) and f the discriminator's last feature map:

Generator      L_G = w_adv·‖f(x) − f(x̂)‖² + w_con·‖x − x̂‖₁ + w_lat·‖z − ẑ‖²   (means over elements)
Discriminator  L_D = ½·[BCE(D(x), real) + BCE(D(x̂), fake)], re-initialised when L_D < 1e-5
Image score    A(x) = mean over the latent dimensions of (z − ẑ)²

Only normal images are seen in training. The pixel maps (reconstruction maps between
x and x̂) are this project's addition: the paper scores whole images only.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from ..base import RECONSTRUCTION_MAPS, GeneratorDiscriminatorState, Method, discriminator_step, reconstruction_map
from .networks import Discriminator, GanomalyGenerator, check_input_size, initialise_weights


class Ganomaly(Method):
    NAME = "ganomaly"
    DEFAULT_ARCHITECTURE = {"input_size": 64, "channels": 1, "base_channels": 32, "depth": 4, "latent_size": 100}
    DEFAULT_TRAINING = {"w_adv": 1.0, "w_con": 50.0, "w_lat": 1.0, "learning_rate": 2e-4, "beta1": 0.5}
    MAPS = RECONSTRUCTION_MAPS
    DEFAULT_MAP = "mgmsd"

    def build_networks(self, architecture: Dict) -> nn.ModuleDict:
        arch = dict(self.DEFAULT_ARCHITECTURE, **architecture)
        size, depth, channels, width = int(arch["input_size"]), int(arch["depth"]), int(arch["channels"]), int(arch["base_channels"])
        check_input_size(size, depth)
        networks = nn.ModuleDict(
            {
                "generator": GanomalyGenerator(channels, width, depth, size, int(arch["latent_size"])),
                "discriminator": Discriminator(channels, width, depth, size),
            }
        )
        initialise_weights(networks)
        return networks

    @torch.no_grad()
    def analyse(self, networks: nn.ModuleDict, images: torch.Tensor, map_kind: str):
        """Maps between x and x̂, and the paper's image score mean((z − ẑ)²) per image."""
        reconstructions, latent, relatent = networks["generator"](images)
        image_scores = (latent - relatent).pow(2).flatten(1).mean(1)
        return reconstruction_map(images, reconstructions, map_kind), image_scores

    def make_trainer(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int = 0) -> GanomalyTrainer:
        return GanomalyTrainer(networks, dict(self.DEFAULT_TRAINING, **training), device)


class GanomalyTrainer(GeneratorDiscriminatorState):
    def step(self, images: torch.Tensor) -> Dict[str, float]:
        generator, discriminator = self.networks["generator"], self.networks["discriminator"]
        generator.train()
        discriminator.train()
        w = self.training
        reconstructions, latent, relatent = generator(images)

        # The generator sees D through its features only (its classifier gets no gradient: see
        # trainer/distributed.py for multi-process training); D's own update uses L_D alone.
        with torch.no_grad():
            _, features_real = discriminator(images)
        _, features_fake = discriminator(reconstructions)
        loss_adv = (features_real - features_fake).pow(2).mean()
        loss_con = (images - reconstructions).abs().mean()
        loss_lat = (latent - relatent).pow(2).mean()
        loss_g = w["w_adv"] * loss_adv + w["w_con"] * loss_con + w["w_lat"] * loss_lat
        self.optimiser_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimiser_g.step()

        loss_d = discriminator_step(discriminator, self.optimiser_d, images, reconstructions, scale=0.5)
        if loss_d.item() < 1e-5:
            initialise_weights(discriminator)
        losses = {"loss_g": loss_g, "loss_adv": loss_adv, "loss_con": loss_con, "loss_lat": loss_lat, "loss_d": loss_d}
        return {name: value.item() for name, value in losses.items()}

    @torch.no_grad()
    def validation_loss(self, images: torch.Tensor) -> float:
        """Mean L1 reconstruction error on normal validation images (eval mode): the checkpoint criterion."""
        generator = self.networks["generator"]
        generator.eval()
        reconstructions, _, _ = generator(images)
        return float((images - reconstructions).abs().mean())


METHOD = Ganomaly()
