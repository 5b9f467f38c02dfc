"""Skip-GANomaly networks: a U-Net generator and a DCGAN discriminator.

Sizes follow the paper's layout (4×4 strided convolutions, batch norm, LeakyReLU in
the encoder and ReLU in the decoder, skip connections between mirrored levels)
scaled down for CPU training: ``base_channels`` c gives encoder widths c, 2c, 4c, 8c.
Images are ``(B, channels, S, S)`` in [0, 1] with S divisible by 2^depth.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn


def _down(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def _up(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


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
            self.encoder.append(_down(previous, width, batch_norm=level > 0))
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
                self.decoder.append(_up(incoming, widths[level - 1]))

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


class Discriminator(nn.Module):
    """DCGAN discriminator; ``forward`` returns (logit per image, last feature map)."""

    def __init__(self, channels: int = 1, base_channels: int = 32, depth: int = 4, input_size: int = 64):
        super().__init__()
        layers = []
        previous = channels
        for level in range(depth):
            width = base_channels * 2**level
            layers.append(_down(previous, width, batch_norm=level > 0))
            previous = width
        self.features = nn.Sequential(*layers)
        final = input_size // 2**depth
        self.classifier = nn.Conv2d(previous, 1, final, 1, 0)

    def forward(self, images: torch.Tensor):
        features = self.features(images)
        return self.classifier(features).flatten(1).squeeze(1), features


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
