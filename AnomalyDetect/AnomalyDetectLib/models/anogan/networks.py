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

They live in ``..dcgan`` (shared with f-AnoGAN); initialise with its ``initialise_weights``.
"""

from __future__ import annotations

from ..dcgan import NORMALISATIONS, DCGANEncoder, DCGANGenerator, izif_losses, unwrap

__all__ = ["NORMALISATIONS", "DCGANEncoder", "DCGANGenerator", "izif_losses", "unwrap"]
