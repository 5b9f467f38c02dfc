"""AnoGAN: DCGAN training on normal slices, and anomaly scoring by a latent search per image.

Training (standard DCGAN, z ~ N(0, I)):
    L_D = BCE(D(x), real) + BCE(D(G(z)), fake),    L_G = BCE(D(G(z)), real)
Test time, for each query x (``search_latent``): start from z₁ and take Γ Adam steps on z
only (G and D are fixed) on
    L(z) = (1 − λ)·R(z) + λ·D_loss(z),    R(z) = Σ|x − G(z)|
    D_loss(z) = Σ|f(x) − f(G(z))|            ("feature": feature matching, the paper's choice)
              = BCE(D(G(z)), real)            ("crossentropy": the reference loss of Yeh et al.)
and score A(x) = (1 − λ)·R(z_Γ) + λ·D_loss(z_Γ). The map compares x with G(z_Γ).

Optional encoder (architecture ``encoder: true``): after the DCGAN phase (the first
1 − ``encoder_fraction`` of the planned steps), an encoder E is trained with G and D frozen on
f-AnoGAN's izi_f loss ‖x − G(E(x))‖²/n + κ‖f(x) − f(G(E(x)))‖²/n_d (f: D's last feature map).
With ``mapping_init: "encoder"`` the search starts from z₁ = E(x), so a few steps replace
hundreds; with "random" it starts from one seeded N(0, I) draw, as in the paper.

The latent-search settings are used by ``analyse``, which sees only the networks, so
they are part of the bundle's ``architecture`` (they change no weight) and are attached
to the networks by ``build_networks``. See README.md in this folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..base import RECONSTRUCTION_MAPS, Method, discriminator_step, reconstruction_map
from ..dcgan import initialise_weights
from .networks import DCGANEncoder, DCGANGenerator, izif_losses, unwrap

DISCRIMINATION_LOSSES = ("feature", "crossentropy")
IMAGE_SCORES = ("anomaly", "residual", "discriminator")
SEARCH_DEFAULTS = {
    "mapping_steps": 100,
    "mapping_learning_rate": 0.1,
    "mapping_lambda": 0.1,
    "discrimination_loss": "feature",
    "image_score": "anomaly",
    "mapping_seed": 0,
    "mapping_init": "random",
}
MAPPING_INITS = ("random", "encoder")


@dataclass
class LatentSearch:
    """Result of :func:`search_latent` for a batch of B images (per-image values are ``(B,)``)."""

    z: torch.Tensor  # (B, latent_dim): z_Γ
    reconstructions: torch.Tensor  # G(z_Γ)
    loss: torch.Tensor  # L(z_Γ) = A(x)
    residual: torch.Tensor  # R(z_Γ)
    discrimination: torch.Tensor  # D_loss(z_Γ)
    real_logits: torch.Tensor  # D(x), the discriminator's logit for the query itself
    history: torch.Tensor  # (Γ + 1, B): L(z_1), ..., L(z_Γ) and the final value


def search_latent(generator: nn.Module, discriminator: nn.Module, images: torch.Tensor, steps: int = 100,
                  learning_rate: float = 0.1, lam: float = 0.1, discrimination_loss: str = "feature", seed: int = 0,
                  initial_z: Optional[torch.Tensor] = None) -> LatentSearch:
    """Map each image to the latent space by ``steps`` Adam steps on its own z (batched).

    z₁ is one draw of N(0, I) from a generator seeded with ``seed`` (the same start for every
    image, so an image's result does not depend on its batch), or ``initial_z``. Only z is
    optimised: gradients are taken with ``torch.autograd.grad`` w.r.t. z, so the networks'
    parameters and their ``.grad`` are never touched; the networks are put in eval mode for the
    search (no batch-norm statistics change) and returned to their previous mode.
    """
    if discrimination_loss not in DISCRIMINATION_LOSSES:
        raise ValueError(f"Unknown discrimination_loss '{discrimination_loss}'; expected one of {DISCRIMINATION_LOSSES}.")
    modes = [(module, module.training) for module in (generator, discriminator)]
    for module, _ in modes:
        module.eval()
    try:
        # analyse() runs under no_grad (maybe inference mode): the search needs autograd back.
        with torch.inference_mode(False), torch.enable_grad():
            images = images.detach().clone()
            with torch.no_grad():
                real_logits, real_features = discriminator(images)
            if initial_z is None:
                start = torch.randn(generator.latent_dim, generator=torch.Generator().manual_seed(int(seed)))
                initial_z = start.to(images.device, images.dtype).expand(images.shape[0], -1)
            z = initial_z.detach().clone().requires_grad_(True)
            optimiser = torch.optim.Adam([z], lr=float(learning_rate))
            history = []
            for _ in range(int(steps)):
                loss = _search_loss(generator, discriminator, images, real_features, z, lam, discrimination_loss)[0]
                history.append(loss.detach())
                (z.grad,) = torch.autograd.grad(loss.sum(), z)  # per-image losses are independent: Σ keeps each z's gradient
                optimiser.step()
            with torch.no_grad():
                loss, residual, discrimination, reconstructions = _search_loss(
                    generator, discriminator, images, real_features, z, lam, discrimination_loss
                )
            history.append(loss)
    finally:
        for module, training in modes:
            module.train(training)
    return LatentSearch(z.detach(), reconstructions, loss, residual, discrimination, real_logits[:, 0], torch.stack(history))


def _search_loss(generator, discriminator, images, real_features, z, lam, discrimination_loss):
    reconstructions = generator(z)
    logits, features = discriminator(reconstructions)
    residual = (images - reconstructions).abs().flatten(1).sum(1)
    if discrimination_loss == "feature":
        discrimination = (real_features - features).abs().flatten(1).sum(1)
    else:  # sigmoid cross-entropy of D(G(z)) against "real": −log σ(D(G(z)))
        discrimination = F.softplus(-logits[:, 0])
    return (1.0 - lam) * residual + lam * discrimination, residual, discrimination, reconstructions


class AnoGAN(Method):
    NAME = "anogan"
    DEFAULT_ARCHITECTURE = {"input_size": 64, "channels": 1, "base_channels": 32, "depth": 4, "latent_dim": 100, "encoder": False,
                            **SEARCH_DEFAULTS}
    DEFAULT_TRAINING = {"learning_rate": 2e-4, "beta1": 0.5, "validation_mapping_steps": 20, "validation_stride": 4,
                        "encoder_fraction": 0.3, "kappa": 1.0, "encoder_learning_rate": 1e-4}
    MAPS = RECONSTRUCTION_MAPS
    DEFAULT_MAP = "residual"
    # Detection optimises z per slice with autograd: no one-pass graph exists, so torch is required (AnomalyDetectLib.backends).
    LATENT_SEARCH = True
    # detect() maps this many slices in one batched search (each with its own z): a whole
    # typical volume at once, which is faster per slice than several small searches.
    DETECT_BATCH_SIZE = 64

    def build_networks(self, architecture: Dict) -> nn.ModuleDict:
        arch = dict(self.DEFAULT_ARCHITECTURE, **architecture)
        size, depth, channels, width = int(arch["input_size"]), int(arch["depth"]), int(arch["channels"]), int(arch["base_channels"])
        networks = nn.ModuleDict({
            "generator": DCGANGenerator(int(arch["latent_dim"]), channels, width, depth, size),
            "discriminator": DCGANEncoder(channels, width, depth, size, outputs=1, normalisation="batch"),
        })
        if arch["encoder"]:
            networks["encoder"] = DCGANEncoder(channels, width, depth, size, outputs=int(arch["latent_dim"]), normalisation="batch")
        initialise_weights(networks)
        networks.latent_search = search_settings(arch)
        if networks.latent_search["mapping_init"] == "encoder" and "encoder" not in networks:
            raise ValueError('mapping_init "encoder" needs a model trained with an encoder (architecture "encoder": true)')
        return networks

    @torch.no_grad()
    def analyse(self, networks: nn.ModuleDict, images: torch.Tensor, map_kind: str):
        """Maps of x against G(z_Γ), and the configured image score (A(x) by default)."""
        settings = getattr(networks, "latent_search", None) or search_settings({})
        search = run_search(networks, images, settings)
        if settings["image_score"] == "anomaly":
            scores = search.loss
        elif settings["image_score"] == "residual":
            scores = search.residual
        else:  # "discriminator": −log σ(D(x)), i.e. how "fake" D finds the query; same ranking as 1 − D(x)
            scores = F.softplus(-search.real_logits)
        return reconstruction_map(images, search.reconstructions, map_kind), scores

    def make_trainer(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int = 0) -> AnoGANTrainer:
        return AnoGANTrainer(networks, dict(self.DEFAULT_TRAINING, **training), device, total_steps)


def search_settings(architecture: Dict) -> Dict:
    """The latent-search settings of an architecture dict (defaults filled in, values checked)."""
    settings = {key: architecture.get(key, default) for key, default in SEARCH_DEFAULTS.items()}
    if settings["discrimination_loss"] not in DISCRIMINATION_LOSSES:
        raise ValueError(f"discrimination_loss '{settings['discrimination_loss']}' is not one of {DISCRIMINATION_LOSSES}")
    if settings["mapping_init"] not in MAPPING_INITS:
        raise ValueError(f"mapping_init '{settings['mapping_init']}' is not one of {MAPPING_INITS}")
    if settings["image_score"] not in IMAGE_SCORES:
        raise ValueError(f"image_score '{settings['image_score']}' is not one of {IMAGE_SCORES}")
    if int(settings["mapping_steps"]) < 0 or not 0.0 <= float(settings["mapping_lambda"]) <= 1.0:
        raise ValueError("mapping_steps must be ≥ 0 and mapping_lambda in [0, 1]")
    return settings


def run_search(networks: nn.ModuleDict, images: torch.Tensor, settings: Dict, steps: Optional[int] = None) -> LatentSearch:
    """:func:`search_latent` with a settings dict (``steps`` overrides ``mapping_steps``).

    With ``mapping_init`` "encoder", z₁ = E(x) (the encoder in eval mode, then returned to its mode).
    """
    initial_z = None
    if settings.get("mapping_init", "random") == "encoder":
        if "encoder" not in networks:
            raise ValueError('mapping_init "encoder" needs a model trained with an encoder (architecture "encoder": true)')
        encoder = unwrap(networks["encoder"])
        was_training = encoder.training
        encoder.eval()
        with torch.no_grad():
            initial_z = encoder(images)[0]
        encoder.train(was_training)
    return search_latent(
        unwrap(networks["generator"]), unwrap(networks["discriminator"]), images,
        steps=int(settings["mapping_steps"]) if steps is None else steps, learning_rate=float(settings["mapping_learning_rate"]),
        lam=float(settings["mapping_lambda"]), discrimination_loss=settings["discrimination_loss"], seed=int(settings["mapping_seed"]),
        initial_z=initial_z,
    )


class AnoGANTrainer:
    """DCGAN steps; with an encoder, the last ``encoder_fraction`` of the planned steps train E instead."""

    def __init__(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int = 0):
        self.networks = networks
        self.training = training
        self.device = device
        self.search = getattr(networks, "latent_search", None) or search_settings({})
        self.has_encoder = "encoder" in networks
        self.steps_done = 0
        self.gan_steps = None
        betas = (float(training["beta1"]), 0.999)
        rate = float(training["learning_rate"])
        self.optimiser_g = torch.optim.Adam(networks["generator"].parameters(), lr=rate, betas=betas)
        self.optimiser_d = torch.optim.Adam(networks["discriminator"].parameters(), lr=rate, betas=betas)
        self.optimiser_e = None
        if self.has_encoder:
            fraction = float(training["encoder_fraction"])
            self.gan_steps = int(round((1.0 - fraction) * total_steps))
            if not 0 < self.gan_steps < total_steps:
                raise ValueError(
                    f"AnoGAN with an encoder needs steps for both phases: {total_steps} planned steps with encoder_fraction "
                    f"{fraction} leave {self.gan_steps} for the GAN and {total_steps - self.gan_steps} for the encoder"
                )
            self.optimiser_e = torch.optim.Adam(networks["encoder"].parameters(), lr=float(training["encoder_learning_rate"]), betas=betas)

    @property
    def encoder_phase(self) -> bool:
        """True once the next step trains the encoder (never without one)."""
        return self.has_encoder and self.steps_done >= self.gan_steps

    def step(self, images: torch.Tensor) -> Dict[str, float]:
        # The same keys every step (one CSV header); NaN where a phase does not compute a loss.
        losses = dict.fromkeys(("loss_g", "loss_d", "loss_izi"), float("nan")) if self.has_encoder else {}
        losses.update(self._encoder_step(images) if self.encoder_phase else self._gan_step(images))
        self.steps_done += 1
        return losses

    def _encoder_step(self, images: torch.Tensor) -> Dict[str, float]:
        for name in ("generator", "discriminator"):
            network = unwrap(self.networks[name])
            network.eval()  # fixed from here on: batch-norm running statistics as at test time
            network.requires_grad_(False)
        self.networks["encoder"].train()
        loss = izif_losses(self.networks, images, float(self.training["kappa"]), critic_name="discriminator")[0].mean()
        self.optimiser_e.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser_e.step()
        return {"loss_izi": loss.item()}

    def _gan_step(self, images: torch.Tensor) -> Dict[str, float]:
        generator, discriminator = self.networks["generator"], self.networks["discriminator"]
        generator.train()
        discriminator.train()
        z = torch.randn(images.shape[0], unwrap(generator).latent_dim, device=images.device)
        fakes = generator(z)

        loss_d = discriminator_step(discriminator, self.optimiser_d, images, fakes)

        logits_fake, _ = discriminator(fakes)
        loss_g = F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
        self.optimiser_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimiser_g.step()
        return {"loss_g": loss_g.item(), "loss_d": loss_d.item()}

    def validation_loss(self, images: torch.Tensor) -> float:
        """Mean |x − G(z)| after a short latent search on normal slices: how well G represents normal anatomy.

        The search (``validation_mapping_steps`` steps) runs on every ``validation_stride``-th image
        only: it costs about as much per image and step as a training step. D's feature term is left
        out because D changes during training, which would make epochs incomparable.

        With an encoder: +inf during the GAN phase (a checkpoint from then would ship an untrained
        encoder), afterwards the izi_f loss of the encoder on these normal slices.
        """
        if self.has_encoder:
            if self.steps_done <= self.gan_steps:
                return math.inf
            for network in self.networks.values():
                network.eval()
            with torch.no_grad():
                return float(izif_losses(self.networks, images, float(self.training["kappa"]), critic_name="discriminator")[0].mean())
        images = images[:: max(1, int(self.training["validation_stride"]))]
        search = run_search(self.networks, images, self.search, steps=int(self.training["validation_mapping_steps"]))
        return float(search.residual.mean()) / images[0].numel()

    def state_dict(self) -> Dict:
        state = {"optimiser_g": self.optimiser_g.state_dict(), "optimiser_d": self.optimiser_d.state_dict(), "steps_done": self.steps_done}
        if self.optimiser_e is not None:
            state["optimiser_e"] = self.optimiser_e.state_dict()
        return state

    def load_state_dict(self, state: Dict) -> None:
        self.optimiser_g.load_state_dict(state["optimiser_g"])
        self.optimiser_d.load_state_dict(state["optimiser_d"])
        if self.optimiser_e is not None:
            self.optimiser_e.load_state_dict(state["optimiser_e"])
        self.steps_done = int(state.get("steps_done", 0))


METHOD = AnoGAN()
