"""The mini-VGG landmark classifier for 3×32×32 2.5D patches.

Blocks of two 3×3 convolutions (batch norm, ReLU) and a 2×2 max-pool halve the patch
``len(widths)`` times; a dense layer gives the feature vector used for transfer learning;
a last linear layer scores K landmarks + "none" (class 0).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def conv_block(channels_in: int, channels_out: int) -> nn.Sequential:
    layers = []
    for index in range(2):
        layers += [nn.Conv2d(channels_in if index == 0 else channels_out, channels_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(channels_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class MiniVGG(nn.Module):
    def __init__(self, channels: int, input_size: int, widths: Sequence[int], dense: int, classes: int, dropout: float = 0.3):
        super().__init__()
        if input_size % (2 ** len(widths)):
            raise ValueError(f"input_size {input_size} is not divisible by 2^{len(widths)} (one halving per block)")
        if classes < 2:
            raise ValueError("a landmark classifier needs at least one landmark class besides 'none'")
        blocks, previous = [], channels
        for width in widths:
            blocks.append(conv_block(previous, int(width)))
            previous = int(width)
        self.trunk = nn.Sequential(*blocks)
        side = input_size // 2 ** len(widths)
        self.embed = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(previous * side * side, dense), nn.ReLU(inplace=True))
        self.head = nn.Linear(dense, classes)

    def features(self, patches: torch.Tensor) -> torch.Tensor:
        """The ``dense``-long feature vector of each patch (input of the classification layer)."""
        return self.embed(self.trunk(patches))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(patches))
