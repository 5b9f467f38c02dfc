"""Translation-based anomaly detection: translate a slice into its normal counterpart, compare the two.

Domains: X = normal slices (the training batch x), Y = abnormal slices y, either pseudo-lesioned
copies of x (``domain_y`` "pseudo", no labels; y = x + lesion, see :mod:`AnomalyDetectLib.pseudolesion`)
or real abnormal slices of the training patients (``domain_y`` "weak", image-level labels only).
Generators G = G_{Y→X} ("to_normal", used at test time) and F = G_{X→Y} ("to_abnormal"),
discriminators D_X, D_Y. With a(D(·), t) the adversarial loss against target t (LSGAN: mean
(D − t)²; BCE: binary cross-entropy with logits), summed over a discriminator's outputs
(U-Net D: the global logit and the per-pixel logit map; PatchGAN: the patch logits):

    L_G = w_adv·[a(D_X(G(y)), 1) + a(D_Y(F(x)), 1)]
        + λ_cyc·[‖F(G(y)) − y‖₁ + ‖G(F(x)) − x‖₁]                     cycle consistency
        + λ_id·[‖G(x) − x‖₁ + ‖F(y) − y‖₁]                             identity: normal slices stay unchanged
        + λ_att·[mean A_G(x) + mean A_F(y)] + λ_att_all·[mean A_G(y) + mean A_F(x)]   attention sparsity
        + λ_pair·‖G(y) − x‖₁                                            pseudo mode only: the known pairing
        + λ_les·Σ M·|G(y) − x| / Σ M − λ_sup·Σ M·log A_G(y) / Σ M      pseudo mode only: inside the lesion M
    L_D = ½[a(D_X(x), 1) + a(D_X(G(y)), 0)] + ½[a(D_Y(y), 1) + a(D_Y(F(x)), 0)]

‖·‖₁ is the mean absolute difference. The last two terms (λ_les = 10, λ_sup = 1 by default; 0 for bundles trained before them) use
the pseudo-lesion's own mask M (its blending weight α): the repair error and the attention are
averaged over the lesion instead of the whole slice, where a lesion of 2–5 % of the pixels is a
small part of ‖G(y) − x‖₁. Without them some seeds settle on the identity (A ≈ 0 everywhere; the
sigmoid saturates and the repair gradient vanishes) and never learn to repair. Attention sparsity: an input the generator should leave
alone (its identity input) gets the full weight λ_att, the input it should change the small λ_att_all,
so that the change stays local. Both generators share one Adam optimiser, both discriminators another.
Anomaly map: mGMSD (or residual) between y and G(y), or the attention map A_G(y). See README.md.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...pseudolesion import PseudoLesionConfig, add_pseudo_lesions
from ..base import RECONSTRUCTION_MAPS, GeneratorDiscriminatorState, Method, reconstruction_map
from .networks import ATTENTION_MODES, DISCRIMINATORS, PatchDiscriminator, TranslationGenerator, UNetDiscriminator

DOMAINS_Y = ("pseudo", "weak")
ADVERSARIAL_LOSSES = ("lsgan", "bce")


class Translation(Method):
    NAME = "translation"
    DEFAULT_ARCHITECTURE = {
        "input_size": 64, "channels": 1, "base_channels": 16, "n_downsampling": 2, "n_res_blocks": 4, "attention": "both",
        "discriminator": "unet", "discriminator_channels": 16, "discriminator_depth": 3,
    }
    DEFAULT_TRAINING = {
        "domain_y": "pseudo", "adversarial": "lsgan", "adversarial_weight": 1.0, "cycle_weight": 10.0, "identity_weight": 5.0,
        "attention_weight": 1.0, "attention_weight_all": 0.1, "paired_weight": 10.0, "learning_rate": 2e-4, "beta1": 0.5,
        "pseudo_lesion": {}, "validation_seed": 12345,
        # On by default: without them 2 of 3 LGG seeds settled on the identity (docs/BENCHMARKS.md, "Training seeds").
        "lesion_weight": 10.0, "attention_supervision": 1.0,
    }
    MAPS = RECONSTRUCTION_MAPS + ("attention",)
    DEFAULT_MAP = "mgmsd"
    FULLY_CONVOLUTIONAL = True  # convolutions, interpolated attention, sum-pooled discriminator head

    def build_networks(self, architecture: Dict) -> nn.ModuleDict:
        arch = dict(self.DEFAULT_ARCHITECTURE, **architecture)
        size, channels = int(arch["input_size"]), int(arch["channels"])
        down, depth = int(arch["n_downsampling"]), int(arch["discriminator_depth"])
        if size % 2 ** max(down, depth):
            raise ValueError(f"input_size {size} is not divisible by 2^{max(down, depth)} (n_downsampling {down}, discriminator_depth {depth})")
        if arch["discriminator"] not in DISCRIMINATORS:
            raise ValueError(f"Unknown discriminator '{arch['discriminator']}'; expected one of {DISCRIMINATORS}")
        if arch["attention"] not in ATTENTION_MODES:
            raise ValueError(f"Unknown attention '{arch['attention']}'; expected one of {ATTENTION_MODES}")

        def generator() -> TranslationGenerator:
            return TranslationGenerator(channels, int(arch["base_channels"]), down, int(arch["n_res_blocks"]), arch["attention"])

        def discriminator() -> nn.Module:
            kind = UNetDiscriminator if arch["discriminator"] == "unet" else PatchDiscriminator
            return kind(channels, int(arch["discriminator_channels"]), depth)

        return nn.ModuleDict({"to_normal": generator(), "to_abnormal": generator(), "discriminator_x": discriminator(),
                              "discriminator_y": discriminator()})

    @torch.no_grad()
    def analyse(self, networks: nn.ModuleDict, images: torch.Tensor, map_kind: str):
        """Maps between y and its normal translation G_{Y→X}(y), or A(y) itself for ``"attention"``; no image scores.

        The pipeline's slice score (the mean of the top 1 % of the map over the scoring region) is
        the method's score: a per-image top-1 % here would only repeat it without the foreground restriction.
        """
        translations, _, attention = networks["to_normal"](images)
        if map_kind == "attention":
            if attention is None:
                raise ValueError("The 'attention' map needs a generator with attention; this model was built with attention 'none'.")
            return attention, None
        return reconstruction_map(images, translations, map_kind), None

    def uses_abnormal_slices(self, training: Dict) -> bool:
        """True for weak supervision: the trainer then needs ``set_abnormal_pool`` with the training patients' abnormal slices."""
        return dict(self.DEFAULT_TRAINING, **training)["domain_y"] == "weak"

    def make_trainer(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int = 0) -> TranslationTrainer:
        training = dict(self.DEFAULT_TRAINING, **training)
        if training["domain_y"] not in DOMAINS_Y:
            raise ValueError(f"Unknown domain_y '{training['domain_y']}'; expected one of {DOMAINS_Y}")
        if training["adversarial"] not in ADVERSARIAL_LOSSES:
            raise ValueError(f"Unknown adversarial loss '{training['adversarial']}'; expected one of {ADVERSARIAL_LOSSES}")
        return TranslationTrainer(networks, training, device)


def adversarial_loss(outputs, real: bool, kind: str) -> torch.Tensor:
    """Σ over the discriminator's outputs (a tensor or a tuple of them) of the mean LSGAN or BCE loss against 1 (real) or 0."""
    total = 0.0
    for logits in outputs if isinstance(outputs, (tuple, list)) else (outputs,):
        target = torch.full_like(logits, 1.0 if real else 0.0)
        total = total + (F.mse_loss(logits, target) if kind == "lsgan" else F.binary_cross_entropy_with_logits(logits, target))
    return total


def _inside_lesion(repaired: torch.Tensor, normal: torch.Tensor, attention: Optional[torch.Tensor], lesion: Optional[torch.Tensor]):
    """Repair error Σ M·|G(y) − x| / Σ M and attention term −Σ M·log A / Σ M over the pseudo-lesions' masks M (zeros without)."""
    zero = normal.new_zeros(())
    if lesion is None or float(lesion.sum()) <= 0:
        return zero, zero
    area = lesion.sum()
    repair = ((repaired - normal).abs().mean(dim=1, keepdim=True) * lesion).sum() / area
    if attention is None:
        return repair, zero
    return repair, -(torch.log(attention.clamp_min(1e-6)) * lesion).sum() / area


def _mean_attention(attention: Optional[torch.Tensor], part: slice, like: torch.Tensor) -> torch.Tensor:
    return attention[part].mean() if attention is not None else like.new_zeros(())


class TranslationTrainer(GeneratorDiscriminatorState):
    """CycleGAN-style training; random choices (pseudo-lesions, abnormal batches, their flips) use ``self.generator``.

    That generator is reseeded at every step from torch's global generator, which the trainer
    (``trainer.fit``) seeds per step and process: runs are reproducible and resume exactly.
    """

    def __init__(self, networks: nn.ModuleDict, training: Dict, device):
        self.networks = networks
        self.training = training
        self.device = device
        self.pseudo_lesions = PseudoLesionConfig.from_dict(training["pseudo_lesion"])
        self.generator = torch.Generator()
        self.abnormal_pool: Optional[torch.Tensor] = None
        betas = (float(training["beta1"]), 0.999)
        rate = float(training["learning_rate"])
        generators = list(networks["to_normal"].parameters()) + list(networks["to_abnormal"].parameters())
        discriminators = list(networks["discriminator_x"].parameters()) + list(networks["discriminator_y"].parameters())
        self.optimiser_g = torch.optim.Adam(generators, lr=rate, betas=betas)
        self.optimiser_d = torch.optim.Adam(discriminators, lr=rate, betas=betas)

    @property
    def pseudo(self) -> bool:
        return self.training["domain_y"] == "pseudo"

    def set_abnormal_pool(self, images: torch.Tensor) -> None:
        """Weak mode: the abnormal slices ``(N, C, H, W)`` (images only) that Y batches are drawn from."""
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(f"The abnormal pool must be a non-empty (N, C, H, W) tensor, got shape {tuple(images.shape)}")
        self.abnormal_pool = images.detach().float().cpu()

    def domain_y(self, images: torch.Tensor) -> torch.Tensor:
        """A Y batch as large as the X batch: pseudo-lesioned copies of it, or randomly drawn (and flipped) abnormal slices."""
        return self._domain_y(images)[0]

    def _domain_y(self, images: torch.Tensor):
        """``(y, M)``: M the pseudo-lesions' masks ``(B, 1, H, W)`` (blending weights), None for weak supervision."""
        if self.pseudo:
            return add_pseudo_lesions(images, self.pseudo_lesions, generator=self.generator)
        if self.abnormal_pool is None:
            raise RuntimeError("domain_y 'weak' needs abnormal slices: call set_abnormal_pool() before training (trainer.fit does).")
        indices = torch.randint(len(self.abnormal_pool), (len(images),), generator=self.generator)
        flip = (torch.rand(len(images), generator=self.generator) < 0.5).view(-1, 1, 1, 1)
        batch = self.abnormal_pool[indices]
        return torch.where(flip, batch.flip(-1), batch).to(images.device), None

    def step(self, images: torch.Tensor) -> Dict[str, float]:
        self.generator.manual_seed(int(torch.randint(0, 2**62, (1,))))
        for network in self.networks.values():
            network.train()
        to_normal, to_abnormal = self.networks["to_normal"], self.networks["to_abnormal"]
        discriminator_x, discriminator_y = self.networks["discriminator_x"], self.networks["discriminator_y"]
        w, kind = self.training, self.training["adversarial"]
        x = images
        y, lesion = self._domain_y(x)
        n = len(x)
        first, second = slice(0, n), slice(n, 2 * n)

        # One pass per generator over [input to translate, identity input]; instance norm keeps the halves independent.
        to_x, _, attention_g = to_normal(torch.cat([y, x]))
        to_y, _, attention_f = to_abnormal(torch.cat([x, y]))
        fake_x, fake_y = to_x[first], to_y[first]
        loss_adv = adversarial_loss(discriminator_x(fake_x), True, kind) + adversarial_loss(discriminator_y(fake_y), True, kind)
        loss_cycle = (to_abnormal(fake_x)[0] - y).abs().mean() + (to_normal(fake_y)[0] - x).abs().mean()
        loss_identity = (to_x[second] - x).abs().mean() + (to_y[second] - y).abs().mean()
        loss_attention = _mean_attention(attention_g, second, x) + _mean_attention(attention_f, second, x)
        loss_attention_all = _mean_attention(attention_g, first, x) + _mean_attention(attention_f, first, x)
        loss_paired = (fake_x - x).abs().mean() if self.pseudo else x.new_zeros(())
        loss_lesion, loss_attention_lesion = _inside_lesion(fake_x, x, attention_g[first] if attention_g is not None else None, lesion)
        loss_g = (
            float(w["adversarial_weight"]) * loss_adv + float(w["cycle_weight"]) * loss_cycle + float(w["identity_weight"]) * loss_identity
            + float(w["attention_weight"]) * loss_attention + float(w["attention_weight_all"]) * loss_attention_all
            + float(w["paired_weight"]) * loss_paired
            + float(w["lesion_weight"]) * loss_lesion + float(w["attention_supervision"]) * loss_attention_lesion
        )
        self.optimiser_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimiser_g.step()

        fake_x, fake_y = fake_x.detach(), fake_y.detach()
        loss_d = 0.5 * (adversarial_loss(discriminator_x(x), True, kind) + adversarial_loss(discriminator_x(fake_x), False, kind)
                        + adversarial_loss(discriminator_y(y), True, kind) + adversarial_loss(discriminator_y(fake_y), False, kind))
        self.optimiser_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimiser_d.step()
        losses = {"loss_g": loss_g, "loss_adv": loss_adv, "loss_cycle": loss_cycle, "loss_identity": loss_identity,
                  "loss_attention": loss_attention, "loss_attention_all": loss_attention_all, "loss_paired": loss_paired, "loss_d": loss_d,
                  "loss_lesion": loss_lesion, "loss_attention_lesion": loss_attention_lesion}
        return {name: value.item() for name, value in losses.items()}

    @torch.no_grad()
    def validation_loss(self, images: torch.Tensor) -> float:
        """On NORMAL slices x: ‖G(x) − x‖₁, plus in pseudo mode ‖G(y) − x‖₁ for pseudo-lesions y drawn with a fixed seed
        (and, when ``lesion_weight`` > 0, the repair error averaged inside those lesions).

        No abnormal label is used; in weak mode only the identity error is available.
        """
        to_normal = self.networks["to_normal"]
        to_normal.eval()
        loss = (to_normal(images)[0] - images).abs().mean()
        if self.pseudo:
            lesioned, lesion = add_pseudo_lesions(images, self.pseudo_lesions, seed=int(self.training["validation_seed"]))
            repaired = to_normal(lesioned)[0]
            loss = loss + (repaired - images).abs().mean()
            if float(self.training["lesion_weight"]) > 0:  # selection then also weighs the repair inside the lesions
                loss = loss + _inside_lesion(repaired, images, None, lesion)[0]
        return float(loss)


METHOD = Translation()
