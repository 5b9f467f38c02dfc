"""aCAE networks: a convolutional autoencoder with a latent-vector bottleneck, and a DCGAN discriminator.

The autoencoder is the DCGAN encoder and decoder shared with GANomaly
(``models/ganomaly/networks.py``): 4×4 stride-2 convolutions down to a
``latent_size``-dimensional code and transposed convolutions back, no skip
connections, sigmoid output (images in [0, 1]). The discriminator, which judges
images against their reconstructions, is the DCGAN one shared with Skip-GANomaly.
"""

from __future__ import annotations

import torch
from torch import nn

from ..dcgan import Decoder, Discriminator, Encoder, check_input_size, initialise_weights

__all__ = ["ConvAutoencoder", "Discriminator", "check_input_size", "initialise_weights"]


class ConvAutoencoder(nn.Module):
    """x → z = encoder(x) (B, latent_size, 1, 1) → x̂ = decoder(z); ``forward`` returns x̂."""

    def __init__(self, channels: int = 1, base_channels: int = 32, depth: int = 4, input_size: int = 64, latent_size: int = 100):
        super().__init__()
        sizes = (channels, base_channels, depth, input_size, latent_size)
        self.encoder = Encoder(*sizes)
        self.decoder = Decoder(*sizes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))
