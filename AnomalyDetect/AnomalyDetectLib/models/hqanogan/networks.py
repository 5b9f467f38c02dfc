"""StyleGAN2 generator and residual discriminator (Karras et al., CVPR 2020), in plain PyTorch.

Written from the paper's description for one-channel slices on a CPU (no custom CUDA ops):

* **Equalised learning rate** (:class:`EqualLinear`, :class:`EqualConv2d`): weights are stored
  as N(0, 1) draws (divided by the layer's learning-rate multiplier) and scaled at run time by
  ``lr_multiplier / sqrt(fan_in)``, so Adam's per-parameter step is the same for every layer.
* **Mapping network** (:class:`MappingNetwork`): z (normalised by its root mean square) → w
  through ``mapping_layers`` equalised linear layers with leaky ReLU (lr multiplier 0.01), and a
  running average ``w_avg`` of the w it produced while training (the pSp encoder's origin).
* **Synthesis network** (:class:`SynthesisNetwork`): a learned 4×4 constant, then per resolution
  two modulated 3×3 convolutions (the first after a bilinear ×2 upsampling) with per-pixel noise
  scaled by a learned per-layer strength, bias and leaky ReLU (gain √2); a modulated 1×1 toRGB
  (no demodulation) per resolution whose outputs are upsampled and summed (skip generator).
  Style index i drives layer i; toRGB of a resolution shares its style with the next resolution's
  first convolution, so ``num_ws = 2·log2(resolution) − 2`` (10 at 64×64).
* **Modulated convolution** (:class:`ModulatedConv2d`): w'_ijk = s_i·w_ijk, demodulated by
  1/√(Σ_i,k w'_ijk² + ε), run as one grouped convolution over the batch.
* **Discriminator** (:class:`Discriminator`): fromRGB, residual blocks (two 3×3 convolutions, 2×2
  average pooling before the second; a 1×1 skip; sum scaled by 1/√2) down to 4×4, minibatch
  standard deviation (groups of up to 4, one feature), a 3×3 convolution and two linear layers.

Images are in [0, 1] (the project's convention); the generator's linear output is mapped by
x = 0.5·rgb + 0.5 (unclamped while training) and the discriminator sees 2x − 1. Noise: fresh
N(0, 1) per forward in training mode, fixed seeded buffers in eval mode (reproducible detection).
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_GAIN = math.sqrt(2.0)  # keeps the activations' second moment through leaky ReLU (He et al.)
NOISE_SEED = 1234


def _leaky(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * LEAKY_GAIN


class EqualLinear(nn.Module):
    """Linear layer with run-time weight scaling ``lr_multiplier / sqrt(inputs)`` (equalised learning rate)."""

    def __init__(self, inputs: int, outputs: int, bias_init: float = 0.0, lr_multiplier: float = 1.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((outputs,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(inputs)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return _leaky(out) if self.activation else out


class EqualConv2d(nn.Module):
    """Convolution (same padding) with run-time weight scaling ``1 / sqrt(inputs · k²)``; ``down`` average-pools by 2 first."""

    def __init__(self, inputs: int, outputs: int, kernel: int, bias: bool = True, activation: bool = False, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(outputs, inputs, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(outputs)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(inputs * kernel * kernel)
        self.activation, self.down, self.padding = activation, down, kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:  # pooling before the convolution: a low-pass filter, and 4× cheaper than convolving first
            x = F.avg_pool2d(x, 2)
        out = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)
        return _leaky(out) if self.activation else out


class MappingNetwork(nn.Module):
    """z ``(B, z_dim)`` → w ``(B, w_dim)``; tracks ``w_avg`` (running mean of w, decay ``w_avg_beta``) in training mode."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_multiplier: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        widths = [z_dim] + [w_dim] * layers
        self.layers = nn.Sequential(*[EqualLinear(a, b, lr_multiplier=lr_multiplier, activation=True) for a, b in zip(widths[:-1], widths[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
        w = self.layers(z)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(torch.lerp(w.detach().mean(0), self.w_avg, self.w_avg_beta))
        return w


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution: x ``(B, inputs, H, W)``, w ``(B, w_dim)`` → ``(B, outputs, H', W')``."""

    def __init__(self, inputs: int, outputs: int, kernel: int, w_dim: int, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.affine = EqualLinear(w_dim, inputs, bias_init=1.0)  # styles start at 1: an unmodulated convolution
        self.weight = nn.Parameter(torch.randn(outputs, inputs, kernel, kernel))
        self.weight_gain = 1.0 / math.sqrt(inputs * kernel * kernel)
        self.outputs, self.demodulate, self.up = outputs, demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch, inputs = x.shape[:2]
        styles = self.affine(w)
        weight = self.weight[None] * (self.weight_gain * styles[:, None, :, None, None])  # (B, out, in, k, k)
        if self.demodulate:  # unit L2 norm per output channel: unit-variance inputs give unit-variance outputs
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        kernel = weight.shape[-1]
        out = F.conv2d(x.reshape(1, batch * inputs, *x.shape[2:]), weight.reshape(batch * self.outputs, inputs, kernel, kernel),
                       padding=kernel // 2, groups=batch)
        return out.reshape(batch, self.outputs, *out.shape[2:])


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution + scaled noise + bias + leaky ReLU, at ``resolution`` (after the optional upsampling)."""

    def __init__(self, inputs: int, outputs: int, w_dim: int, resolution: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(inputs, outputs, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(outputs))
        seeded = torch.Generator().manual_seed(NOISE_SEED + resolution * 7 + int(up))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution, generator=seeded))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w)
        if self.training:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        else:
            noise = self.noise_const
        return _leaky(x + noise * self.noise_strength + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    def __init__(self, inputs: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(inputs, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


def channel_widths(resolution: int, channel_base: int, channel_max: int) -> dict:
    """Feature channels per resolution 4 … ``resolution``: min(channel_max, channel_base / r)."""
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"StyleGAN2 needs a power-of-two resolution of at least 8, not {resolution}")
    return {2**i: max(1, min(channel_max, channel_base // 2**i)) for i in range(2, int(math.log2(resolution)) + 1)}


class SynthesisNetwork(nn.Module):
    """W+ codes ``(B, num_ws, w_dim)`` → linear image ``(B, channels, resolution, resolution)`` (see the module docstring)."""

    def __init__(self, w_dim: int, resolution: int, channels: int, channel_base: int, channel_max: int):
        super().__init__()
        widths = channel_widths(resolution, channel_base, channel_max)
        resolutions = sorted(widths)
        self.const = nn.Parameter(torch.randn(widths[4], 4, 4))
        layers: List[nn.Module] = [SynthesisLayer(widths[4], widths[4], w_dim, 4)]
        to_rgb: List[nn.Module] = [ToRGB(widths[4], channels, w_dim)]
        for previous, res in zip(resolutions[:-1], resolutions[1:]):
            layers += [SynthesisLayer(widths[previous], widths[res], w_dim, res, up=True), SynthesisLayer(widths[res], widths[res], w_dim, res)]
            to_rgb.append(ToRGB(widths[res], channels, w_dim))
        self.layers, self.to_rgb = nn.ModuleList(layers), nn.ModuleList(to_rgb)
        self.num_ws = 2 * int(math.log2(resolution)) - 2
        self.w_dim = w_dim

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0])
        rgb = self.to_rgb[0](x, ws[:, 1])
        for block in range(1, len(self.to_rgb)):
            index = 2 * block - 1
            x = self.layers[index](x, ws[:, index])
            x = self.layers[index + 1](x, ws[:, index + 1])
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + self.to_rgb[block](x, ws[:, index + 2])
        return rgb


class Generator(nn.Module):
    """z ``(B, z_dim)`` → images ``(B, channels, resolution, resolution)``, [0, 1] scale (not clamped).

    ``forward(z, mixing_probability)``: with that probability per image, the styles from a random
    crossover index on come from a second z (style mixing regularisation). :meth:`synthesise`
    renders given W+ codes (the encoder's output).
    """

    def __init__(self, z_dim: int = 128, w_dim: int = 128, mapping_layers: int = 4, resolution: int = 64, channels: int = 1,
                 channel_base: int = 2048, channel_max: int = 128):
        super().__init__()
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channels, channel_base, channel_max)
        self.num_ws = self.synthesis.num_ws

    def forward(self, z: torch.Tensor, mixing_probability: float = 0.0) -> torch.Tensor:
        ws = self.mapping(z)[:, None].repeat(1, self.num_ws, 1)
        if mixing_probability > 0:
            other = self.mapping(torch.randn_like(z))
            crossover = torch.randint(1, self.num_ws, (z.shape[0], 1), device=z.device)
            crossover = torch.where(torch.rand(z.shape[0], 1, device=z.device) < mixing_probability, crossover, self.num_ws)
            later = torch.arange(self.num_ws, device=z.device)[None] >= crossover
            ws = torch.where(later[:, :, None], other[:, None], ws)
        return self.synthesise(ws)

    def synthesise(self, ws: torch.Tensor) -> torch.Tensor:
        return self.synthesis(ws) * 0.5 + 0.5


class DiscriminatorBlock(nn.Module):
    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.conv0 = EqualConv2d(inputs, inputs, 3, activation=True)
        self.conv1 = EqualConv2d(inputs, outputs, 3, activation=True, down=True)
        self.skip = EqualConv2d(inputs, outputs, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


def minibatch_stddev(x: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append one channel: the standard deviation over groups of images, averaged over features and pixels.

    The group is the largest divisor of the batch that is at most ``group_size`` (any batch works).
    """
    batch, channels, height, width = x.shape
    group = max(g for g in range(1, min(group_size, batch) + 1) if batch % g == 0)
    y = x.reshape(group, batch // group, channels, height, width)
    y = (y - y.mean(dim=0)).pow(2).mean(dim=0).add(1e-8).sqrt()
    y = y.mean(dim=(1, 2, 3))  # (batch // group,)
    y = y.repeat(group)[:, None, None, None].expand(batch, 1, height, width)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    """Images in [0, 1] → (logits ``(B, 1)``, the 4×4 feature map before the minibatch-stddev layer).

    :meth:`feature_maps` returns every block's output (batch-independent), used for the encoder's
    perceptual term and the latent search's feature matching.
    """

    def __init__(self, resolution: int = 64, channels: int = 1, channel_base: int = 2048, channel_max: int = 128, mbstd_group: int = 4):
        super().__init__()
        widths = channel_widths(resolution, channel_base, channel_max)
        resolutions = sorted(widths, reverse=True)
        self.from_rgb = EqualConv2d(channels, widths[resolution], 1, activation=True)
        self.blocks = nn.ModuleList([DiscriminatorBlock(widths[res], widths[res // 2]) for res in resolutions[:-1]])
        self.conv = EqualConv2d(widths[4] + 1, widths[4], 3, activation=True)
        self.fc = EqualLinear(widths[4] * 16, widths[4], activation=True)
        self.out = EqualLinear(widths[4], 1)
        self.mbstd_group = mbstd_group

    def feature_maps(self, images: torch.Tensor) -> List[torch.Tensor]:
        x = self.from_rgb(images * 2.0 - 1.0)
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        features = self.feature_maps(images)[-1]
        x = self.conv(minibatch_stddev(features, self.mbstd_group))
        return self.out(self.fc(x.flatten(1))), features


def feature_distance(discriminator: Discriminator, images: torch.Tensor, reconstructions: torch.Tensor,
                     real_maps: Optional[List[torch.Tensor]] = None) -> torch.Tensor:
    """Per image: Σ over D's blocks of the mean squared difference of channel-normalised features (an LPIPS-like
    distance on the trained discriminator instead of ImageNet features, which cannot be downloaded here)."""
    if real_maps is None:
        with torch.no_grad():
            real_maps = discriminator.feature_maps(images)
    total = images.new_zeros(images.shape[0])
    for real, fake in zip(real_maps, discriminator.feature_maps(reconstructions)):
        real = real * torch.rsqrt(real.pow(2).sum(1, keepdim=True) + 1e-8)
        fake = fake * torch.rsqrt(fake.pow(2).sum(1, keepdim=True) + 1e-8)
        total = total + (real - fake).pow(2).sum(1).flatten(1).mean(1)
    return total
