"""Skip-GANomaly (Akcay et al., IJCNN 2019): see README.md in this folder."""

from .method import METHOD, SkipGANomaly

__all__ = ["METHOD", "SkipGANomaly"]
