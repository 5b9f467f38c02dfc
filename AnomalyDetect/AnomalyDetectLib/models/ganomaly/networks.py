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

import torch
from torch import nn

from ..dcgan import Decoder, Discriminator, Encoder, check_input_size, initialise_weights

__all__ = ["Decoder", "Discriminator", "Encoder", "GanomalyGenerator", "check_input_size", "initialise_weights"]


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
