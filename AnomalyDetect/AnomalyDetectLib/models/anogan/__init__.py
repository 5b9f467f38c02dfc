"""AnoGAN (Schlegl et al., IPMI 2017): see README.md in this folder."""

from .method import METHOD, AnoGAN, LatentSearch, search_latent

__all__ = ["METHOD", "AnoGAN", "LatentSearch", "search_latent"]
