"""Translation networks: an attention-guided ResNet generator, a PatchGAN and a U-Net discriminator.

Generator (CycleGAN's ResNet generator, scaled down): a 7×7 stem with c = ``base_channels``
channels, ``n_downsampling`` stride-2 3×3 convolutions doubling the width, ``n_res_blocks``
residual blocks, the mirror-image upsampling path (nearest-neighbour ×2 + 3×3 convolution,
instead of transposed convolutions, to avoid checkerboard artefacts) and three heads:

    content    C(y) = sigmoid(conv7×7(decoder features))                     full resolution
    local      A_l(y) = sigmoid(conv3×3(decoder features))                     full resolution
    global     A_g(y) = up_bilinear(sigmoid(conv3×3(bottleneck features)))    coarse, whole slice

    attention "none":   G(y) = C(y)
    attention "global": A = A_g;  "local": A = A_l;  "both": A = A_g · A_l (global says where, local refines edges)
    G(y) = A(y)·C(y) + (1 − A(y))·y                                        (:func:`compose`)

Instance normalisation throughout (no running statistics: train and eval behave alike).
The attention heads start with bias ``ATTENTION_BIAS`` (A ≈ 0.27 per head), so an
untrained generator changes little.

Discriminators (LeakyReLU 0.2, instance norm after the first layer, no sigmoid):
PatchGAN, ``depth`` stride-2 4×4 convolutions, a stride-1 one and a 1-channel output, one
logit per receptive-field patch; U-Net (Schönfeld et al., CVPR 2020), an encoder of ``depth``
stride-2 levels whose bottleneck gives one global logit per image (sum pooling + linear), and
a decoder with skip connections back to full resolution giving one logit per pixel.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_MODES = ("none", "global", "local", "both")
DISCRIMINATORS = ("patch", "unet")
ATTENTION_BIAS = -1.0


def compose(images: torch.Tensor, content: torch.Tensor, attention: Optional[torch.Tensor]) -> torch.Tensor:
    """A·C + (1 − A)·y: exactly y where A = 0 and exactly C where A = 1; C itself without attention."""
    if attention is None:
        return content
    return attention * content + (1.0 - attention) * images


def _norm_act(width: int) -> List[nn.Module]:
    return [nn.InstanceNorm2d(width), nn.ReLU(inplace=True)]


class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), *_norm_act(width),
            nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3), nn.InstanceNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TranslationGenerator(nn.Module):
    """``forward(y) -> (G(y), C(y), A(y) or None)``, all ``(B, ·, H, W)``; A has one channel."""

    def __init__(self, channels: int = 1, base_channels: int = 16, n_downsampling: int = 2, n_res_blocks: int = 4, attention: str = "both"):
        super().__init__()
        if attention not in ATTENTION_MODES:
            raise ValueError(f"Unknown attention '{attention}'; expected one of {ATTENTION_MODES}")
        self.attention = attention
        layers: List[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, base_channels, 7), *_norm_act(base_channels)]
        width = base_channels
        for _ in range(n_downsampling):
            layers += [nn.Conv2d(width, 2 * width, 3, 2, 1), *_norm_act(2 * width)]
            width *= 2
        layers += [ResidualBlock(width) for _ in range(n_res_blocks)]
        self.encoder = nn.Sequential(*layers)
        layers = []
        for _ in range(n_downsampling):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width // 2, 3, 1, 1), *_norm_act(width // 2)]
            width //= 2
        self.decoder = nn.Sequential(*layers)
        self.content_head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Sigmoid())
        self.local_head = nn.Conv2d(width, 1, 3, 1, 1) if attention in ("local", "both") else None
        self.global_head = nn.Conv2d(width * 2**n_downsampling, 1, 3, 1, 1) if attention in ("global", "both") else None
        initialise_weights(self)
        for head in (self.local_head, self.global_head):
            if head is not None:
                nn.init.constant_(head.bias, ATTENTION_BIAS)

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        bottleneck = self.encoder(images)
        features = self.decoder(bottleneck)
        content = self.content_head(features)
        attention = None
        if self.global_head is not None:
            attention = F.interpolate(torch.sigmoid(self.global_head(bottleneck)), size=images.shape[-2:], mode="bilinear", align_corners=False)
        if self.local_head is not None:
            local = torch.sigmoid(self.local_head(features))
            attention = local if attention is None else attention * local
        return compose(images, content, attention), content, attention


def _down(in_channels: int, out_channels: int, normalise: bool) -> nn.Sequential:
    layers: List[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, 2, 1)]
    if normalise:
        layers.append(nn.InstanceNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``forward(x) -> (B, 1, h, w)`` logits, one per patch."""

    def __init__(self, channels: int = 1, base_channels: int = 16, depth: int = 3):
        super().__init__()
        layers: List[nn.Module] = []
        width, previous = base_channels, channels
        for level in range(depth):
            layers.append(_down(previous, width, normalise=level > 0))
            previous, width = width, width * 2
        layers += [nn.Conv2d(previous, width, 3, 1, 1), nn.InstanceNorm2d(width), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(width, 1, 3, 1, 1)]
        self.model = nn.Sequential(*layers)
        initialise_weights(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


class UNetDiscriminator(nn.Module):
    """U-Net discriminator: ``forward(x) -> (global logits (B, 1), per-pixel logits (B, 1, H, W))``."""

    def __init__(self, channels: int = 1, base_channels: int = 16, depth: int = 3):
        super().__init__()
        widths = [base_channels * 2**level for level in range(depth)]
        self.encoder = nn.ModuleList()
        previous = channels
        for level, width in enumerate(widths):
            self.encoder.append(_down(previous, width, normalise=level > 0))
            previous = width
        self.global_head = nn.Linear(previous, 1)
        self.decoder = nn.ModuleList()
        for level in reversed(range(depth)):
            out_width = widths[level - 1] if level > 0 else base_channels
            incoming = widths[level] + (widths[level] if level < depth - 1 else 0)  # skip from the mirrored encoder level
            self.decoder.append(nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(incoming, out_width, 3, 1, 1),
                nn.InstanceNorm2d(out_width), nn.LeakyReLU(0.2, inplace=True),
            ))
        self.pixel_head = nn.Conv2d(base_channels, 1, 1)
        initialise_weights(self)

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        features = []
        x = images
        for block in self.encoder:
            x = block(x)
            features.append(x)
        global_logits = self.global_head(x.sum(dim=(2, 3)))
        for index, block in enumerate(self.decoder):
            level = len(self.encoder) - 1 - index
            if index > 0:
                x = torch.cat([x, features[level]], dim=1)
            x = block(x)
        return global_logits, self.pixel_head(x)


def initialise_weights(module: nn.Module) -> None:
    """CycleGAN initialisation: N(0, 0.02) weights, zero biases (every network applies it to itself)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
