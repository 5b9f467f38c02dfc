"""f-AnoGAN (Schlegl et al., Medical Image Analysis 2019): see README.md in this folder."""

from .method import METHOD, FAnoGAN, izif_losses

__all__ = ["METHOD", "FAnoGAN", "izif_losses"]
