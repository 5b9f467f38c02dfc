"""HQ-AnoGAN (Sato et al., IJCARS 2023): see README.md in this folder."""

from .method import METHOD, HQAnoGAN

__all__ = ["METHOD", "HQAnoGAN"]
