"""HQ-AnoGAN (Sato et al., IJCARS 2023): StyleGAN2-ADA on normal slices, a pSp encoder into W+,
and an anomaly score from the reconstruction and the W+ code. See README.md in this folder.

Test time, for a slice x:
    w⁺ = E(x)                       (optionally refined by ``refine_steps`` of AnoGAN's latent search in W+)
    x̂ = G_ema(w⁺)                   (the EMA generator, fixed noise), clamped to [0, 1]
    R(x) = (1/n)‖x − x̂‖²            (reconstruction term)
    M(x) = Σ_l ‖W_l·(w⁺_l − μ_l)/σ_l‖² / (num_ws·w_dim)   (Mahalanobis term, statistics of normal training codes)
    A(x) = (R − m_R)/s_R + λ_lat·(M − m_M)/s_M            (``image_score: "combined"``)
with m, s the mean and standard deviation of R and M over the normal validation slices at the kept
checkpoint (no anomalous label is involved). ``image_score`` "reconstruction" or "latent" keep one
term. The maps compare x with x̂ (:func:`..base.reconstruction_map`).

The scoring settings change no weight; they live in the bundle's ``architecture`` and are
attached to the networks by ``build_networks`` (as AnoGAN's search settings are).
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from ..anogan import search_latent
from ..base import RECONSTRUCTION_MAPS, Method, reconstruction_map
from .encoder import LatentStatistics, PSPEncoder
from .networks import Discriminator, Generator

IMAGE_SCORES = ("combined", "reconstruction", "latent")
SCORE_DEFAULTS = {"image_score": "combined", "latent_weight": 1.0, "refine_steps": 0, "refine_learning_rate": 0.01, "refine_lambda": 0.1}


class _WPlusGenerator(nn.Module):
    """AnoGAN's search moves a flat latent vector: here the W+ code, flattened to ``num_ws · w_dim`` values."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator
        self.latent_dim = generator.num_ws * generator.w_dim
        self.train(generator.training)  # the search restores this module's mode, which must be the generator's

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator.synthesise(z.reshape(z.shape[0], self.generator.num_ws, self.generator.w_dim))


def score_settings(architecture: Dict) -> Dict:
    """The scoring settings of an architecture dict (defaults filled in, values checked)."""
    settings = {key: architecture.get(key, default) for key, default in SCORE_DEFAULTS.items()}
    if settings["image_score"] not in IMAGE_SCORES:
        raise ValueError(f"image_score '{settings['image_score']}' is not one of {IMAGE_SCORES}")
    if int(settings["refine_steps"]) < 0 or not 0.0 <= float(settings["refine_lambda"]) <= 1.0:
        raise ValueError("refine_steps must be ≥ 0 and refine_lambda in [0, 1]")
    return settings


def score_terms(networks: nn.ModuleDict, images: torch.Tensor, ws: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """``(B, 2)``: the reconstruction term R and the Mahalanobis term M per image."""
    reconstruction = (images - reconstructions).pow(2).flatten(1).mean(1)
    return torch.stack([reconstruction, networks["latent_statistics"].distance(ws)], dim=1)


def combine(networks: nn.ModuleDict, terms: torch.Tensor, settings: Dict) -> torch.Tensor:
    if settings["image_score"] == "reconstruction":
        return terms[:, 0]
    if settings["image_score"] == "latent":
        return terms[:, 1]
    statistics = networks["latent_statistics"]
    standardised = (terms - statistics.score_centre) / statistics.score_spread
    return standardised[:, 0] + float(settings["latent_weight"]) * standardised[:, 1]


class HQAnoGAN(Method):
    NAME = "hqanogan"
    DEFAULT_ARCHITECTURE = {
        "input_size": 64, "channels": 1, "z_dim": 128, "w_dim": 128, "mapping_layers": 4, "channel_base": 1024, "channel_max": 64,
        "encoder_width": 16, **SCORE_DEFAULTS,
    }
    DEFAULT_TRAINING = {
        "learning_rate": 0.0025, "beta1": 0.0, "beta2": 0.99, "r1_gamma": 0.0256, "r1_interval": 16, "mixing_probability": 0.9,
        "ema_kimg": 10.0, "ema_rampup": 0.05, "ada": True, "ada_target": 0.6, "ada_interval": 4, "ada_kimg": 10.0,
        "gan_fraction": 0.7, "gan_steps": None, "encoder_learning_rate": 5e-4, "perceptual_weight": 0.8,
        "latent_momentum": 0.02, "latent_shrinkage": 0.1,
    }
    MAPS = RECONSTRUCTION_MAPS
    DEFAULT_MAP = "residual"

    def build_networks(self, architecture: Dict) -> nn.ModuleDict:
        arch = dict(self.DEFAULT_ARCHITECTURE, **architecture)
        size, channels = int(arch["input_size"]), int(arch["channels"])
        widths = {"channel_base": int(arch["channel_base"]), "channel_max": int(arch["channel_max"])}
        generator_options = dict(z_dim=int(arch["z_dim"]), w_dim=int(arch["w_dim"]), mapping_layers=int(arch["mapping_layers"]),
                                 resolution=size, channels=channels, **widths)
        generator = Generator(**generator_options)
        average = Generator(**generator_options)
        average.load_state_dict(generator.state_dict())
        average.requires_grad_(False)  # updated by the trainer's moving average, never by an optimiser
        networks = nn.ModuleDict({
            "generator": generator,
            "generator_ema": average,
            "discriminator": Discriminator(size, channels, **widths),
            "encoder": PSPEncoder(channels, size, generator.num_ws, int(arch["w_dim"]), int(arch["encoder_width"])),
            "latent_statistics": LatentStatistics(generator.num_ws, int(arch["w_dim"])),
        })
        networks.score_settings = score_settings(arch)
        return networks

    @torch.no_grad()
    def analyse(self, networks: nn.ModuleDict, images: torch.Tensor, map_kind: str):
        """Maps of x against G_ema(E(x)) (or its refined code) and the configured image score."""
        settings = getattr(networks, "score_settings", None) or score_settings({})
        ws, reconstructions = encode_and_reconstruct(networks, images, settings)
        scores = combine(networks, score_terms(networks, images, ws, reconstructions), settings)
        return reconstruction_map(images, reconstructions, map_kind), scores

    def make_trainer(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int = 0):
        from .training import HQAnoGANTrainer

        return HQAnoGANTrainer(networks, dict(self.DEFAULT_TRAINING, **training), device, total_steps)


def encode_and_reconstruct(networks: nn.ModuleDict, images: torch.Tensor, settings: Dict):
    """(W+ codes ``(B, num_ws, w_dim)``, reconstructions in [0, 1]) with the networks in their current modes."""
    ws = networks["encoder"](images)
    generator = networks["generator_ema"]
    if int(settings["refine_steps"]) > 0:  # AnoGAN's latent search, started from E(x), in W+ instead of z
        search = search_latent(_WPlusGenerator(generator), networks["discriminator"], images, steps=int(settings["refine_steps"]),
                               learning_rate=float(settings["refine_learning_rate"]), lam=float(settings["refine_lambda"]),
                               initial_z=ws.flatten(1))
        ws, reconstructions = search.z.reshape(ws.shape), search.reconstructions
    else:
        reconstructions = generator.synthesise(ws)
    return ws, reconstructions.clamp(0.0, 1.0)


METHOD = HQAnoGAN()
