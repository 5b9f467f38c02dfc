"""DCGAN building blocks shared by the GAN-family methods (one home; no method folder imports another's).

* :func:`down` / :func:`up`: 4×4 stride-2 convolution (batch norm optional, LeakyReLU 0.2) and
  4×4 stride-2 transposed convolution (batch norm, ReLU): the DCGAN layout.
* :class:`Discriminator`: DCGAN discriminator returning (logit per image, last feature map); used by
  Skip-GANomaly, GANomaly and the aCAE.
* :class:`Encoder` / :class:`Decoder`: DCGAN encoder (image → latent) and decoder (latent → image in
  [0, 1]); GANomaly's generator and the aCAE's autoencoder are made of them.
* :class:`DCGANGenerator` / :class:`DCGANEncoder`: AnoGAN's and f-AnoGAN's generator G and
  encoder / discriminator / critic (``normalisation`` "batch", "layer" for the WGAN-GP critic, or
  "none"), :func:`izif_losses` (f-AnoGAN's izi_f training loss, also AnoGAN's optional encoder's),
  :func:`unwrap` (a network inside a DistributedDataParallel wrapper).
* :func:`initialise_weights`: DCGAN's N(0, 0.02) initialisation.

Images are ``(B, channels, S, S)`` in [0, 1] with S divisible by 2^depth; ``base_channels`` c gives
widths c, 2c, …, c·2^(depth−1). Module attribute names are part of saved bundles' weight names:
keep them when editing.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn


def down(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def up(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Discriminator(nn.Module):
    """DCGAN discriminator; ``forward`` returns (logit per image, last feature map)."""

    def __init__(self, channels: int = 1, base_channels: int = 32, depth: int = 4, input_size: int = 64):
        super().__init__()
        layers = []
        previous = channels
        for level in range(depth):
            width = base_channels * 2**level
            layers.append(down(previous, width, batch_norm=level > 0))
            previous = width
        self.features = nn.Sequential(*layers)
        final = input_size // 2**depth
        self.classifier = nn.Conv2d(previous, 1, final, 1, 0)

    def forward(self, images: torch.Tensor):
        features = self.features(images)
        return self.classifier(features).flatten(1).squeeze(1), features


def check_input_size(input_size: int, depth: int) -> int:
    """The side of the last feature map (input_size / 2^depth); raises ValueError if it is not whole."""
    if depth < 1 or input_size % 2**depth or input_size // 2**depth < 1:
        raise ValueError(f"input_size {input_size} is not divisible by 2^{depth}")
    return input_size // 2**depth


def _widths(base_channels: int, depth: int) -> List[int]:
    return [base_channels * 2**level for level in range(depth)]


class Encoder(nn.Module):
    """DCGAN encoder: (B, channels, S, S) → (B, latent_size, 1, 1)."""

    def __init__(self, channels: int = 1, base_channels: int = 32, depth: int = 4, input_size: int = 64, latent_size: int = 100):
        super().__init__()
        final = check_input_size(input_size, depth)
        widths = _widths(base_channels, depth)
        layers = [down(channels, widths[0], batch_norm=False)]
        layers += [down(widths[level - 1], widths[level]) for level in range(1, depth)]
        self.features = nn.Sequential(*layers)
        self.latent = nn.Conv2d(widths[-1], latent_size, final, 1, 0, bias=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.latent(self.features(images))


class Decoder(nn.Module):
    """DCGAN decoder: (B, latent_size, 1, 1) → (B, channels, S, S) in [0, 1]."""

    def __init__(self, channels: int = 1, base_channels: int = 32, depth: int = 4, input_size: int = 64, latent_size: int = 100):
        super().__init__()
        final = check_input_size(input_size, depth)
        widths = _widths(base_channels, depth)
        layers: List[nn.Module] = [
            nn.ConvTranspose2d(latent_size, widths[-1], final, 1, 0, bias=False),
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(inplace=True),
        ]
        layers += [up(widths[level], widths[level - 1]) for level in reversed(range(1, depth))]
        layers += [nn.ConvTranspose2d(widths[0], channels, 4, 2, 1), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.layers(latent)


NORMALISATIONS = ("batch", "layer", "none")


def _normalisation(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # over (C, H, W) of each image, with a per-channel scale and shift
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"Unknown normalisation '{kind}'; expected one of {NORMALISATIONS}.")


class DCGANGenerator(nn.Module):
    """z ``(B, latent_dim)`` → images ``(B, channels, input_size, input_size)`` in [0, 1]."""

    def __init__(self, latent_dim: int = 100, channels: int = 1, base_channels: int = 32, depth: int = 4, input_size: int = 64):
        super().__init__()
        start = check_input_size(input_size, depth)
        self.latent_dim = latent_dim
        widths = [base_channels * 2**level for level in reversed(range(depth))]
        layers: List[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True),
        ]
        for wide, narrow in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), nn.BatchNorm2d(narrow), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z[:, :, None, None])


class DCGANEncoder(nn.Module):
    """Images → (``(B, outputs)``, last feature map ``(B, 8c, s, s)``); see the module docstring."""

    def __init__(self, channels: int = 1, base_channels: int = 32, depth: int = 4, input_size: int = 64, outputs: int = 1,
                 normalisation: str = "batch"):
        super().__init__()
        final = check_input_size(input_size, depth)
        layers: List[nn.Module] = []
        previous = channels
        for level in range(depth):
            width = base_channels * 2**level
            normalised = level > 0 and normalisation != "none"
            layers.append(nn.Sequential(
                nn.Conv2d(previous, width, 4, 2, 1, bias=not normalised),
                _normalisation(normalisation if normalised else "none", width),
                nn.LeakyReLU(0.2, inplace=True),
            ))
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(previous, outputs, final, 1, 0)

    def forward(self, images: torch.Tensor):
        features = self.features(images)
        return self.head(features).flatten(1), features


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper (trainers may be handed those)."""
    return getattr(module, "module", module)


def izif_losses(networks: nn.ModuleDict, images: torch.Tensor, kappa: float, critic_name: str = "critic"):
    """Per image: (izi_f loss, image MSE, feature MSE, G(E(x))); uses the networks in their current modes.

    The encoder is called as given (under multi-process training, its gradient-averaging wrapper);
    G and the critic (``networks[critic_name]``; AnoGAN's encoder uses its discriminator), never
    trained here, are called unwrapped.
    """
    generator, critic = unwrap(networks["generator"]), unwrap(networks[critic_name])
    z, _ = networks["encoder"](images)
    reconstructions = generator(z)
    _, fake_features = critic(reconstructions)
    with torch.no_grad():
        _, real_features = critic(images)
    image_term = (images - reconstructions).pow(2).flatten(1).mean(1)
    feature_term = (real_features - fake_features).pow(2).flatten(1).mean(1)
    return image_term + kappa * feature_term, image_term, feature_term, reconstructions


def initialise_weights(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
