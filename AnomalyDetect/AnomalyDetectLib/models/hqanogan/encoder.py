"""pSp encoder into W+ (Richardson et al., CVPR 2021) and the statistics of normal W+ codes.

:class:`PSPEncoder`: a convolutional backbone gives feature maps C1, C2, C3 at 1/2, 1/4 and 1/8
of the input size; a feature pyramid (P3 = C3, P2 = up(P3) + lateral(C2), P1 = up(P2) +
lateral(C1)) feeds one "map2style" head per style (stride-2 3×3 convolutions down to 1×1 and an
equalised linear layer). As in pSp, styles 0–2 (StyleGAN's 4–8 px layers) come from P3, styles
3–6 (16–32 px) from P2, the rest (64 px and finer) from P1, and the encoder predicts an offset
from the generator's average w: W+ = w_avg + E(x). The paper's backbone is an ImageNet ResNet-IR;
here a small residual network trained from scratch (no pretrained weights offline).

:class:`LatentStatistics` holds, as plain tensor buffers saved in the bundle, running first and
second moments of the encoder's W+ codes on normal training slices (updated while the encoder
trains, like batch-norm statistics) and, derived from them, per style layer a mean, a standard
deviation and a whitening matrix W_l with ‖W_l·(w_l − μ_l)/σ_l‖² the Mahalanobis distance under
the shrunk correlation (1 − α)·R_l⁺ + α·I (R_l⁺: R_l with negative eigenvalues set to 0). ``distance(ws)`` is that squared distance summed over
layers and divided by the number of code dimensions (≈ 1 for codes like the training codes).
"""

from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from .networks import EqualLinear

COARSE_STYLES, MIDDLE_STYLES = 3, 7  # pSp's split: styles below 3 from P3, below 7 from P2, the rest from P1


class _ResidualStage(nn.Module):
    """Stride-2 3×3 convolution and a residual 3×3 convolution, leaky ReLU."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.down = nn.Conv2d(inputs, outputs, 3, 2, 1)
        self.conv = nn.Conv2d(outputs, outputs, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.down(x), 0.2)
        return x + F.leaky_relu(self.conv(x), 0.2)


class _MapToStyle(nn.Module):
    def __init__(self, width: int, size: int, w_dim: int):
        super().__init__()
        layers: List[nn.Module] = []
        while size > 1:
            layers += [nn.Conv2d(width, width, 3, 2, 1), nn.LeakyReLU(0.2)]
            size //= 2
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(width, w_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


class PSPEncoder(nn.Module):
    """Images ``(B, channels, size, size)`` in [0, 1] → W+ codes ``(B, num_ws, w_dim)``.

    ``w_avg`` is a buffer set from the generator's mapping network when the encoder phase starts.
    """

    def __init__(self, channels: int = 1, size: int = 64, num_ws: int = 10, w_dim: int = 128, width: int = 32):
        super().__init__()
        if size < 16 or size & (size - 1):
            raise ValueError(f"the pSp encoder needs a power-of-two input size of at least 16, not {size}")
        pyramid = 4 * width
        self.stem = nn.Conv2d(channels, width, 3, 1, 1)
        self.stage1, self.stage2, self.stage3 = _ResidualStage(width, width), _ResidualStage(width, 2 * width), _ResidualStage(2 * width, 4 * width)
        self.lateral2, self.lateral1 = nn.Conv2d(2 * width, pyramid, 1), nn.Conv2d(width, pyramid, 1)
        sizes = [size // 8 if i < COARSE_STYLES else size // 4 if i < MIDDLE_STYLES else size // 2 for i in range(num_ws)]
        self.heads = nn.ModuleList([_MapToStyle(pyramid, s, w_dim) for s in sizes])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.num_ws, self.w_dim = num_ws, w_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        c1 = self.stage1(F.leaky_relu(self.stem(images * 2.0 - 1.0), 0.2))
        c2 = self.stage2(c1)
        p3 = self.stage3(c2)
        p2 = F.interpolate(p3, scale_factor=2, mode="bilinear", align_corners=False) + self.lateral2(c2)
        p1 = F.interpolate(p2, scale_factor=2, mode="bilinear", align_corners=False) + self.lateral1(c1)
        levels = [p3 if i < COARSE_STYLES else p2 if i < MIDDLE_STYLES else p1 for i in range(self.num_ws)]
        offsets = torch.stack([head(level) for head, level in zip(self.heads, levels)], dim=1)
        return offsets + self.w_avg


class LatentStatistics(nn.Module):
    """Statistics of normal W+ codes and the score standardisation (buffers only; see the module docstring).

    ``score_centre`` / ``score_spread`` ``(2,)``: mean and standard deviation of the reconstruction
    and latent terms on normal validation slices, set by the trainer; they weight the combined score.
    """

    def __init__(self, num_ws: int = 10, w_dim: int = 128):
        super().__init__()
        self.register_buffer("first_moment", torch.zeros(num_ws, w_dim))
        self.register_buffer("second_moment", torch.zeros(num_ws, w_dim, w_dim))
        self.register_buffer("observed", torch.zeros(()))
        self.register_buffer("mean", torch.zeros(num_ws, w_dim))
        self.register_buffer("scale", torch.ones(num_ws, w_dim))
        self.register_buffer("whitening", torch.eye(w_dim).repeat(num_ws, 1, 1))
        self.register_buffer("score_centre", torch.zeros(2))
        self.register_buffer("score_spread", torch.ones(2))

    @torch.no_grad()
    def observe(self, ws: torch.Tensor, momentum: float) -> None:
        """Blend the batch's moments into the running ones (the first batch sets them)."""
        ws = ws.detach().to(self.first_moment.dtype)
        first = ws.mean(0)
        second = torch.einsum("bli,blj->lij", ws, ws) / ws.shape[0]
        weight = 1.0 if float(self.observed) == 0 else float(momentum)
        self.first_moment.lerp_(first, weight)
        self.second_moment.lerp_(second, weight)
        self.observed += ws.shape[0]

    @torch.no_grad()
    def finalise(self, shrinkage: float) -> None:
        """Mean, standard deviation and whitening matrices from the running moments (double precision)."""
        first, second = self.first_moment.double(), self.second_moment.double()
        covariance = second - first[:, :, None] * first[:, None, :]
        variance = torch.diagonal(covariance, dim1=1, dim2=2).clamp(min=1e-8)
        scale = variance.sqrt()
        correlation = covariance / (scale[:, :, None] * scale[:, None, :])
        # Running moments of a still-learning encoder need not form a valid covariance (few codes, drift):
        # project the correlation onto the positive semi-definite matrices, then shrink towards I.
        eigenvalues, eigenvectors = torch.linalg.eigh(0.5 * (correlation + correlation.transpose(1, 2)))
        shrunk = (1.0 - shrinkage) * eigenvalues.clamp(min=0.0) + max(shrinkage, 1e-6)
        whitening = eigenvectors.transpose(1, 2) / shrunk.sqrt()[:, :, None]  # Wᵀ W = (shrunk correlation)⁻¹
        self.mean.copy_(first)
        self.scale.copy_(scale)
        self.whitening.copy_(whitening)

    def distance(self, ws: torch.Tensor) -> torch.Tensor:
        """Per code: Σ_l ‖W_l·(w_l − μ_l)/σ_l‖² / (num_ws · w_dim)."""
        standardised = (ws - self.mean) / self.scale
        whitened = torch.einsum("lij,blj->bli", self.whitening, standardised)
        return whitened.pow(2).flatten(1).mean(1)
