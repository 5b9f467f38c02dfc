"""aCAE (the adversarial convolutional autoencoder baseline of Schlegl et al., IPMI 2017): training and maps.

With x̂ = Dec(Enc(x)) and D the discriminator (a logit per image):

Autoencoder    L_AE = w_rec·L_rec(x, x̂) + w_adv·BCE(D(x̂), real)
               L_rec = mean |x − x̂| ("l1", default) or mean (x − x̂)² ("l2")
Discriminator  L_D  = BCE(D(x), real) + BCE(D(x̂), fake)
Image score    A(x) = mean |x − x̂| over the image

Only normal images are seen in training.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ..base import RECONSTRUCTION_MAPS, GeneratorDiscriminatorState, Method, discriminator_step, reconstruction_map
from .networks import ConvAutoencoder, Discriminator, check_input_size, initialise_weights

RECONSTRUCTION_LOSSES = ("l1", "l2")


class AdversarialConvAutoencoder(Method):
    NAME = "acae"
    DEFAULT_ARCHITECTURE = {"input_size": 64, "channels": 1, "base_channels": 32, "depth": 4, "latent_size": 100}
    DEFAULT_TRAINING = {"reconstruction": "l1", "w_rec": 50.0, "w_adv": 1.0, "learning_rate": 2e-4, "beta1": 0.5}
    MAPS = RECONSTRUCTION_MAPS
    DEFAULT_MAP = "mgmsd"

    def build_networks(self, architecture: Dict) -> nn.ModuleDict:
        arch = dict(self.DEFAULT_ARCHITECTURE, **architecture)
        size, depth, channels, width = int(arch["input_size"]), int(arch["depth"]), int(arch["channels"]), int(arch["base_channels"])
        check_input_size(size, depth)
        networks = nn.ModuleDict(
            {
                "autoencoder": ConvAutoencoder(channels, width, depth, size, int(arch["latent_size"])),
                "discriminator": Discriminator(channels, width, depth, size),
            }
        )
        initialise_weights(networks)
        return networks

    @torch.no_grad()
    def analyse(self, networks: nn.ModuleDict, images: torch.Tensor, map_kind: str):
        """Maps between x and x̂, and the mean residual mean|x − x̂| per image."""
        reconstructions = networks["autoencoder"](images)
        image_scores = (images - reconstructions).abs().flatten(1).mean(1)
        return reconstruction_map(images, reconstructions, map_kind), image_scores

    def make_trainer(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int = 0) -> AdversarialConvAutoencoderTrainer:
        training = dict(self.DEFAULT_TRAINING, **training)
        if training["reconstruction"] not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"Unknown reconstruction loss '{training['reconstruction']}'; expected one of {RECONSTRUCTION_LOSSES}.")
        return AdversarialConvAutoencoderTrainer(networks, training, device)


class AdversarialConvAutoencoderTrainer(GeneratorDiscriminatorState):
    def __init__(self, networks: nn.ModuleDict, training: Dict, device):
        super().__init__(networks, training, device, generator="autoencoder")

    def step(self, images: torch.Tensor) -> Dict[str, float]:
        autoencoder, discriminator = self.networks["autoencoder"], self.networks["discriminator"]
        autoencoder.train()
        discriminator.train()
        w = self.training
        reconstructions = autoencoder(images)

        difference = images - reconstructions
        loss_rec = difference.abs().mean() if w["reconstruction"] == "l1" else difference.pow(2).mean()
        logits_fake, _ = discriminator(reconstructions)
        loss_adv = F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
        loss_g = w["w_rec"] * loss_rec + w["w_adv"] * loss_adv
        self.optimiser_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimiser_g.step()

        loss_d = discriminator_step(discriminator, self.optimiser_d, images, reconstructions)
        # "loss_con" is the reconstruction term under the name the training log and progress bar use.
        losses = {"loss_g": loss_g, "loss_adv": loss_adv, "loss_con": loss_rec, "loss_d": loss_d}
        return {name: value.item() for name, value in losses.items()}

    @torch.no_grad()
    def validation_loss(self, images: torch.Tensor) -> float:
        """Mean L1 reconstruction error on normal validation images (eval mode): the checkpoint criterion."""
        autoencoder = self.networks["autoencoder"]
        autoencoder.eval()
        return float((images - autoencoder(images)).abs().mean())


METHOD = AdversarialConvAutoencoder()
