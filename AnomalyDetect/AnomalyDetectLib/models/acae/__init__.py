"""aCAE, the adversarial convolutional autoencoder baseline of Schlegl et al. (IPMI 2017): see README.md in this folder."""

from .method import METHOD, AdversarialConvAutoencoder

__all__ = ["METHOD", "AdversarialConvAutoencoder"]
