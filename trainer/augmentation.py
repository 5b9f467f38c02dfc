"""Training-time augmentation of slice batches, drawn from a seeded generator so resumed runs repeat it."""

import math
from typing import Optional, Tuple

import torch
from AnomalyDetectLib.errors import AnomalyDetectError

__all__ = ["augment", "random_crops", "check_crop", "check_gamma_range"]


def augment(images: torch.Tensor, generator: torch.Generator, gamma_range: Optional[Tuple[float, float]] = None) -> torch.Tensor:
    """Left–right flips, shifts of up to 3 pixels and ±10 % intensity scaling; with ``gamma_range`` also a contrast change.

    The contrast change raises each image (in [0, 1] after the scaling) to a power drawn
    log-uniformly from ``gamma_range``: below 1 brightens the mid-tones, above 1 darkens them, as
    scanners and sequences differ. Without it the generator's stream is exactly as before.
    """
    batch = images.shape[0]
    flip = torch.rand(batch, generator=generator) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    shifts = torch.randint(-3, 4, (2,), generator=generator).tolist()
    images = torch.roll(images, shifts=shifts, dims=(-2, -1))
    scale = 1.0 + 0.2 * (torch.rand(batch, 1, 1, 1, generator=generator) - 0.5)
    images = (images * scale).clamp(0.0, 1.0)
    if gamma_range is not None:
        low, high = (math.log(value) for value in gamma_range)
        gamma = torch.exp(low + (high - low) * torch.rand(batch, 1, 1, 1, generator=generator))
        images = images**gamma
    return images


def check_gamma_range(gamma_range) -> Optional[Tuple[float, float]]:
    """``gamma_range`` as a (low, high) pair of floats, or None; raises when it is not 0 < low ≤ 1 ≤ high ≤ 4."""
    if gamma_range is None:
        return None
    try:
        low, high = (float(value) for value in gamma_range)
    except (TypeError, ValueError):
        raise AnomalyDetectError(f"--gamma-augmentation needs two numbers LOW HIGH, got {gamma_range!r}.") from None
    if not (0.0 < low <= 1.0 <= high <= 4.0):
        raise AnomalyDetectError(f"--gamma-augmentation must satisfy 0 < LOW <= 1 <= HIGH <= 4; got {low:g} {high:g}.")
    return low, high


def random_crops(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """One random ``size``×``size`` window of each image ``(B, C, H, W)``, its offsets drawn from ``generator``."""
    height, width = images.shape[-2:]
    rows = torch.randint(0, height - size + 1, (len(images),), generator=generator).tolist()
    columns = torch.randint(0, width - size + 1, (len(images),), generator=generator).tolist()
    return torch.stack([image[..., r : r + size, c : c + size] for image, r, c in zip(images, rows, columns)])


def check_crop(method, crop_size: int, input_size: int) -> None:
    if not getattr(method, "FULLY_CONVOLUTIONAL", False):
        raise AnomalyDetectError(f"--crop-size needs a fully convolutional method; {method.NAME}'s networks are built for "
                                 f"{input_size}×{input_size} inputs.")
    if not 8 <= crop_size < input_size or crop_size % 8:
        raise AnomalyDetectError(f"--crop-size must be a multiple of 8, at least 8 and below --input-size ({input_size}); got {crop_size}.")
