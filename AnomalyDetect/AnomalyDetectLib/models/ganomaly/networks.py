"""GANomaly networks: an encoder–decoder–encoder generator and a DCGAN discriminator.

Generator (Akçay et al., ACCV 2018): G_E maps x to a latent vector z, G_D decodes z to
x̂, and a second encoder E maps x̂ to ẑ; no skip connections, so everything x̂ shows
has passed through the ``latent_size``-dimensional bottleneck. DCGAN layout: 4×4
stride-2 convolutions, batch norm (not on the first layer), LeakyReLU(0.2) in the
encoders, ReLU in the decoder, sigmoid output (images are in [0, 1]). ``base_channels``
c gives widths c, 2c, …, c·2^(depth−1); the last feature map, of side
input_size / 2^depth, is collapsed to z (B, latent_size, 1, 1) by one convolution of
that size. The discriminator is the DCGAN one shared with Skip-GANomaly.

The encoder and decoder are also the aCAE's (``models/acae``).
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from ..skipganomaly.networks import Discriminator, _down, _up, initialise_weights

__all__ = ["Decoder", "Discriminator", "Encoder", "GanomalyGenerator", "check_input_size", "initialise_weights"]


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
        layers = [_down(channels, widths[0], batch_norm=False)]
        layers += [_down(widths[level - 1], widths[level]) for level in range(1, depth)]
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
        layers += [_up(widths[level], widths[level - 1]) for level in reversed(range(1, depth))]
        layers += [nn.ConvTranspose2d(widths[0], channels, 4, 2, 1), nn.Sigmoid()]
        self.layers = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.layers(latent)


class GanomalyGenerator(nn.Module):
    """x → z = G_E(x) → x̂ = G_D(z) → ẑ = E(x̂); ``forward`` returns (x̂, z, ẑ)."""

    def __init__(self, channels: int = 1, base_channels: int = 32, depth: int = 4, input_size: int = 64, latent_size: int = 100):
        super().__init__()
        sizes = (channels, base_channels, depth, input_size, latent_size)
        self.encoder = Encoder(*sizes)
        self.decoder = Decoder(*sizes)
        self.reencoder = Encoder(*sizes)

    def forward(self, images: torch.Tensor):
        latent = self.encoder(images)
        reconstructions = self.decoder(latent)
        return reconstructions, latent, self.reencoder(reconstructions)
