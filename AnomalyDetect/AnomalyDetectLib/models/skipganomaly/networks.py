"""Skip-GANomaly networks: a U-Net generator (the DCGAN discriminator is shared: ``..dcgan``).

Sizes follow the paper's layout (4×4 strided convolutions, batch norm, LeakyReLU in
the encoder and ReLU in the decoder, skip connections between mirrored levels)
scaled down for CPU training: ``base_channels`` c gives encoder widths c, 2c, 4c, 8c.
Images are ``(B, channels, S, S)`` in [0, 1] with S divisible by 2^depth.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..dcgan import Discriminator, down, initialise_weights, up

__all__ = ["Discriminator", "UNetGenerator", "initialise_weights"]


class UNetGenerator(nn.Module):
    """Encoder–decoder with skip connections; ``skips[l]`` switches the level-l skip (0 = finest)."""

    def __init__(self, channels: int = 1, base_channels: int = 32, depth: int = 4, skips: Sequence[bool] = ()):
        super().__init__()
        skips = list(skips) if skips else [True] * depth
        if len(skips) != depth:
            raise ValueError(f"skips has {len(skips)} entries for depth {depth}")
        self.skips = [bool(s) for s in skips]
        widths = [base_channels * 2**level for level in range(depth)]
        self.encoder = nn.ModuleList()
        previous = channels
        for level, width in enumerate(widths):
            self.encoder.append(down(previous, width, batch_norm=level > 0))
            previous = width
        self.bottleneck = nn.Sequential(
            nn.Conv2d(previous, previous, 3, 1, 1, bias=False), nn.BatchNorm2d(previous), nn.ReLU(inplace=True)
        )
        self.decoder = nn.ModuleList()
        for level in reversed(range(depth)):
            incoming = widths[level] * (2 if self.skips[level] else 1)
            if level == 0:
                self.decoder.append(nn.Sequential(nn.ConvTranspose2d(incoming, channels, 4, 2, 1), nn.Sigmoid()))
            else:
                self.decoder.append(up(incoming, widths[level - 1]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = []
        x = images
        for block in self.encoder:
            x = block(x)
            features.append(x)
        x = self.bottleneck(x)
        for block, level in zip(self.decoder, reversed(range(len(self.encoder)))):
            if self.skips[level]:
                x = torch.cat([x, features[level]], dim=1)
            x = block(x)
        return x
