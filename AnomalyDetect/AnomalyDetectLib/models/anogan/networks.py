"""DCGAN networks shared by AnoGAN and f-AnoGAN (``..fanogan`` imports them from here).

* :class:`DCGANGenerator` G: z ∈ R^latent_dim → image. A 1×1 → s×s projection (s =
  input_size / 2^depth) followed by ``depth`` fractionally-strided 4×4 convolutions;
  widths 8c, 4c, 2c, c for ``base_channels`` c and depth 4 (the AnoGAN paper's
  512-256-128-64 is c = 64). Batch norm and ReLU inside, sigmoid output: images here
  live in [0, 1], not the papers' [−1, 1] with tanh.
* :class:`DCGANEncoder`: ``depth`` strided 4×4 convolutions (widths c, 2c, 4c, 8c,
  LeakyReLU 0.2, no normalisation on the first) and an s×s convolution to ``outputs``
  values per image, i.e. a linear layer on the last feature map. With ``outputs=1`` it
  is the discriminator / critic, and the last feature map is the "intermediate layer"
  f(·) both papers match features on; with ``outputs=latent_dim`` it is f-AnoGAN's
  encoder E. ``normalisation`` is "batch" (DCGAN, AnoGAN's D, f-AnoGAN's E), "layer"
  (the WGAN-GP critic: the gradient penalty is per image, so the critic must not mix
  images of a batch; Gulrajani et al. 2017 and the f-AnoGAN code use layer norm) or
  "none".

Initialise with ``initialise_weights`` from ``..skipganomaly.networks`` (DCGAN's N(0, 0.02)).
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn

NORMALISATIONS = ("batch", "layer", "none")


def _check_size(input_size: int, depth: int) -> int:
    if depth < 1 or input_size % 2**depth or input_size // 2**depth < 1:
        raise ValueError(f"input_size {input_size} is not divisible by 2^{depth}")
    return input_size // 2**depth


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
        start = _check_size(input_size, depth)
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
        final = _check_size(input_size, depth)
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
