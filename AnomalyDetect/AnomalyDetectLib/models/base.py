"""The method contract (:class:`Method`) and helpers shared by reconstruction methods.

Every method (``METHOD`` in the method's package) is an instance of a :class:`Method` subclass;
the class declares each member, the optional ones with their defaults, so callers read
attributes instead of probing with ``getattr``. Slice scores come from the maps
(``scoring["slice_score"] == "map"``, the mean of the top fraction over the scoring region) or
from ``image_scores`` (``"image"``).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from ..gms import mgmsd_map

RECONSTRUCTION_MAPS = ("residual", "residual_brighter", "residual_darker", "mgmsd", "mgmsd_brighter")


class Method:
    """What a method provides. Subclass it; override the members marked *required*.

    Class attributes:

    * ``NAME`` (required): the registry name, saved in bundles as the manifest's ``method``.
    * ``TASK``: ``"anomaly"`` (default; run by :class:`AnomalyDetectLib.pipeline.Detector`) or
      ``"landmarks"`` (run by :mod:`AnomalyDetectLib.landmark_detection`). It must match the registry
      (``LANDMARK_METHODS`` or ``METHODS``), from which ``Manifest.kind`` tells bundles of the two kinds
      apart without importing the method (Testing/test_manifest.py checks they agree).
    * ``DEFAULT_ARCHITECTURE`` / ``DEFAULT_TRAINING`` (required): dicts of settings, saved in bundles.
    * ``MAPS`` and ``DEFAULT_MAP``: the anomaly maps it can produce (anomaly methods).
    * ``DETECT_BATCH_SIZE``: slices per forward pass at detection; None = the pipeline's default (16).
    * ``LATENT_SEARCH``: True when detection optimises a latent code with gradients (AnoGAN): such a
      model cannot be exported to ONNX and needs torch at detection.
    * ``DEFAULT_DETECTION``: detection settings of landmark models; None for anomaly methods.
    * ``FULLY_CONVOLUTIONAL``: True when the networks run on any image size that the training size
      divides (no layer fixed to ``input_size``), so training may use crops of the detection-size
      slices (``trainer fit --crop-size``).
    """

    NAME: str = ""
    TASK: str = "anomaly"
    DEFAULT_ARCHITECTURE: Dict = {}
    DEFAULT_TRAINING: Dict = {}
    MAPS: Tuple[str, ...] = ()
    DEFAULT_MAP: str = ""
    DETECT_BATCH_SIZE: Optional[int] = None
    LATENT_SEARCH: bool = False
    DEFAULT_DETECTION: Optional[Dict] = None
    FULLY_CONVOLUTIONAL: bool = False

    def build_networks(self, architecture: Dict) -> torch.nn.ModuleDict:
        """Required: the networks for ``architecture`` (the manifest's, defaults filled in)."""
        raise NotImplementedError(f"{type(self).__name__} does not build networks")

    def analyse(self, networks: torch.nn.ModuleDict, images: torch.Tensor, map_kind: str):
        """Required for anomaly methods: ``(maps, image_scores)`` for images ``(B, C, H, W)`` in [0, 1].

        ``maps`` ``(B, 1, H, W)``, higher = more anomalous (for a 2.5D input, of the centre slice);
        ``image_scores`` ``(B,)`` (the method's own per-image score, e.g. GANomaly's ‖z − ẑ‖²) or
        None. Called under ``torch.no_grad()`` with networks in eval mode; a method that needs
        gradients at test time (AnoGAN's latent search) enables them itself and must leave network
        weights untouched.
        """
        raise NotImplementedError(f"{type(self).__name__} does not analyse images")

    def make_trainer(self, networks: torch.nn.ModuleDict, training: Dict, device, total_steps: int = 0):
        """Required for methods trained by ``trainer.fit``: an object with ``step(images) -> {loss: float}``,
        ``validation_loss(images) -> float`` (normal images only; checkpoint selection) and
        ``state_dict()`` / ``load_state_dict()`` for its optimisers (tensors and plain values only:
        checkpoints load with ``torch.load(weights_only=True)``)."""
        raise NotImplementedError(f"{type(self).__name__} is not trained by trainer.fit")

    def uses_abnormal_slices(self, training: Dict) -> bool:
        """True for weakly supervised settings; the trainer then gets ``set_abnormal_pool(images)`` once,
        with the training patients' abnormal slices (image-level labels only; pixel masks never reach a method)."""
        return False


def centre_channel(images: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)``: the middle channel, i.e. the analysed slice of a 2.5D context stack (the only channel of a 2D input)."""
    middle = images.shape[1] // 2
    return images[:, middle : middle + 1]


def reconstruction_map(images: torch.Tensor, reconstructions: torch.Tensor, map_kind: str) -> torch.Tensor:
    """Per-pixel anomaly map ``(B, 1, H, W)`` between images and their reconstructions, on the centre channel.

    With a 2.5D context (:mod:`AnomalyDetectLib.context`) the channels are the slice and its
    neighbours; the map describes the slice itself, the middle channel. ``residual`` |x − x̂|;
    ``residual_brighter`` / ``residual_darker`` keep one sign of x − x̂; ``mgmsd`` the
    multi-scale GMS deviation (:mod:`AnomalyDetectLib.gms`); ``mgmsd_brighter`` the mGMSD
    where x > x̂, for hyperintense lesions such as gliomas in FLAIR, whose
    reconstruction-free edges and darker structures then stay quiet.
    """
    images, reconstructions = centre_channel(images), centre_channel(reconstructions)
    if map_kind == "residual":
        return (images - reconstructions).abs()
    if map_kind == "residual_brighter":  # hyperintense lesions (FLAIR, T2): only where the input is brighter
        return (images - reconstructions).clamp(min=0)
    if map_kind == "residual_darker":  # hypointense lesions (e.g. hypodense CT lesions)
        return (reconstructions - images).clamp(min=0)
    if map_kind == "mgmsd":
        return mgmsd_map(images, reconstructions)
    if map_kind == "mgmsd_brighter":  # structural deviation only where the input is brighter than its normal version
        return mgmsd_map(images, reconstructions) * (images > reconstructions)
    raise ValueError(f"Unknown map kind '{map_kind}'; expected one of {RECONSTRUCTION_MAPS}.")


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def discriminator_step(discriminator: torch.nn.Module, optimiser: torch.optim.Optimizer, images: torch.Tensor, fakes: torch.Tensor,
                       scale: float = 1.0) -> torch.Tensor:
    """One update of a real/fake discriminator returning ``(logits, features)``; its loss is returned.

    L_D = scale · [BCE(D(x), real) + BCE(D(x̂), fake)], with the fakes x̂ detached from their generator.
    """
    logits_real, _ = discriminator(images)
    logits_fake, _ = discriminator(fakes.detach())
    loss = scale * (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
                    + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return loss


class GeneratorDiscriminatorState:
    """Base of trainers with one Adam optimiser for ``networks[generator]`` and one for ``networks["discriminator"]``.

    Both use ``training["learning_rate"]`` and betas ``(training["beta1"], 0.999)``; ``state_dict`` /
    ``load_state_dict`` carry the two optimisers for checkpoints.
    """

    def __init__(self, networks: torch.nn.ModuleDict, training: Dict, device, generator: str = "generator"):
        self.networks = networks
        self.training = training
        self.device = device
        betas = (float(training["beta1"]), 0.999)
        rate = float(training["learning_rate"])
        self.optimiser_g = torch.optim.Adam(networks[generator].parameters(), lr=rate, betas=betas)
        self.optimiser_d = torch.optim.Adam(networks["discriminator"].parameters(), lr=rate, betas=betas)

    def state_dict(self) -> Dict:
        return {"optimiser_g": self.optimiser_g.state_dict(), "optimiser_d": self.optimiser_d.state_dict()}

    def load_state_dict(self, state: Dict) -> None:
        self.optimiser_g.load_state_dict(state["optimiser_g"])
        self.optimiser_d.load_state_dict(state["optimiser_d"])
