"""HQ-AnoGAN training: StyleGAN2-ADA, then the pSp encoder with the generator frozen.

Phase 1, the first ``gan_fraction`` of the planned steps or ``gan_steps`` steps; each step (z ~ N(0, I),
A the ADA augmentation at the current p, applied to every image D sees):
    L_D = softplus(D(A(G(z)))) + softplus(−D(A(x)))  [+ every ``r1_interval``-th step:
          r1_interval · (γ/2)·‖∇_x D(A(x))‖², γ = ``r1_gamma`` for images in [−1, 1]]   (lazy R1)
    L_G = softplus(−D(A(G(z'))))                       (non-saturating logistic loss, style mixing)
then G_ema ← β·G_ema + (1 − β)·G with a half-life of min(ema_kimg·1000, ema_rampup·images seen)
images, and p is adjusted every ``ada_interval`` steps from r_t = E[sign(D(A(x)))] (augment.py).
Lazy R1 scales D's learning rate by c = k/(k+1) and its betas to β^c (k = r1_interval), as in
StyleGAN2, so the regularised optimiser moves as fast as an unregularised one.

Phase 2, the remaining steps (G_ema and D frozen; only the encoder E learns):
    L_E = (1/n)‖x − G_ema(E(x))‖² + λ_p·F(x, G_ema(E(x)))
with F the channel-normalised feature distance of D's blocks (networks.feature_distance) in place of
pSp's LPIPS, whose ImageNet weights are not available offline. The W+ codes of the training batches
update the running code moments (``latent_statistics``). Checkpoints are selected on L_E over the
normal validation slices; each validation pass also sets the whitening matrices from the moments and
the mean and spread of the two score terms over those normal slices (method.py).
"""

from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ..dcgan import unwrap
from .augment import AdaptiveProbability, augment
from .method import score_terms
from .networks import feature_distance

NAN = float("nan")
LOSS_KEYS = ("loss_d", "loss_g", "r1", "ada_p", "ada_rt", "loss_e", "loss_e_pixel", "loss_e_perceptual")


class HQAnoGANTrainer:
    """Steps 1 … gan_steps train StyleGAN2-ADA, the rest the encoder (split as in f-AnoGAN's trainer)."""

    def __init__(self, networks: nn.ModuleDict, training: Dict, device, total_steps: int):
        self.networks, self.training, self.device = networks, training, device
        if training.get("gan_steps") is not None:
            self.gan_steps, rule = int(training["gan_steps"]), f"gan_steps {training['gan_steps']}"
        else:
            self.gan_steps, rule = int(round(float(training["gan_fraction"]) * total_steps)), f"gan_fraction {training['gan_fraction']}"
        if not 0 < self.gan_steps < total_steps:
            raise ValueError(f"HQ-AnoGAN needs steps for both phases: {total_steps} planned steps with {rule} "
                             f"leave {self.gan_steps} for the GAN and {total_steps - self.gan_steps} for the encoder")
        self.steps_done = 0
        self.images_seen = 0
        rate, betas = float(training["learning_rate"]), (float(training["beta1"]), float(training["beta2"]))
        lazy = int(training["r1_interval"]) / (int(training["r1_interval"]) + 1.0)
        self.optimiser_g = torch.optim.Adam(networks["generator"].parameters(), lr=rate, betas=betas)
        self.optimiser_d = torch.optim.Adam(networks["discriminator"].parameters(), lr=rate * lazy, betas=(betas[0] ** lazy, betas[1] ** lazy))
        self.optimiser_e = torch.optim.Adam(networks["encoder"].parameters(), lr=float(training["encoder_learning_rate"]), betas=(0.9, 0.999))
        self.ada = AdaptiveProbability(float(training["ada_target"]), int(training["ada_interval"]), float(training["ada_kimg"]),
                                       adaptive=bool(training["ada"]))
        self._validated_at = -1
        self._term_sums = torch.zeros(3, dtype=torch.float64)  # n, Σ terms (2) … see _accumulate
        self._term_squares = torch.zeros(2, dtype=torch.float64)

    @property
    def encoder_phase(self) -> bool:
        return self.steps_done >= self.gan_steps

    def step(self, images: torch.Tensor) -> Dict[str, float]:
        # Every step reports the same keys (one CSV header); NaN = not computed in this phase.
        losses = dict.fromkeys(LOSS_KEYS, NAN)
        losses.update(self._encoder_step(images) if self.encoder_phase else self._gan_step(images))
        self.steps_done += 1
        return losses

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        return augment(images, self.ada.probability)

    def _gan_step(self, images: torch.Tensor) -> Dict[str, float]:
        generator, discriminator = self.networks["generator"], self.networks["discriminator"]
        generator.train()
        discriminator.train()
        batch, z_dim = images.shape[0], unwrap(generator).z_dim
        mixing = float(self.training["mixing_probability"])
        with torch.no_grad():
            fakes = generator(torch.randn(batch, z_dim, device=images.device), mixing)
        real_logits, _ = discriminator(self._augment(images))
        fake_logits, _ = discriminator(self._augment(fakes))
        loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        losses = {"r1": NAN}
        interval = int(self.training["r1_interval"])
        if self.steps_done % interval == 0:
            reals = images.detach().requires_grad_(True)
            logits, _ = discriminator(self._augment(reals))
            (gradients,) = torch.autograd.grad(logits.sum(), reals, create_graph=True)
            # γ is stated for images in [−1, 1]; x here is in [0, 1], so ‖∇_x‖² is 4× the [−1, 1] value.
            penalty = gradients.pow(2).flatten(1).sum(1).mean() / 4.0
            loss_d = loss_d + interval * 0.5 * float(self.training["r1_gamma"]) * penalty + 0.0 * logits.mean()
            losses["r1"] = penalty.item()
        self.optimiser_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimiser_d.step()

        fake_logits, _ = discriminator(self._augment(generator(torch.randn(batch, z_dim, device=images.device), mixing)))
        loss_g = F.softplus(-fake_logits).mean()
        self.optimiser_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimiser_g.step()
        self.optimiser_d.zero_grad(set_to_none=True)  # D's gradients from L_G are not used

        self.images_seen += batch
        self._update_average(batch)
        self.ada.observe(real_logits)
        rt = self.ada.adjust() if (self.steps_done + 1) % self.ada.interval == 0 else None
        losses.update(loss_d=loss_d.item(), loss_g=loss_g.item(), ada_p=self.ada.probability, ada_rt=NAN if rt is None else rt)
        return losses

    @torch.no_grad()
    def _update_average(self, batch: int) -> None:
        """G_ema ← lerp(G, G_ema, β) with the ramped-up half-life; buffers (w_avg, fixed noise) copied."""
        half_life = min(float(self.training["ema_kimg"]) * 1000.0, float(self.training["ema_rampup"]) * self.images_seen)
        beta = 0.5 ** (batch / max(half_life, 1e-8))
        source, average = unwrap(self.networks["generator"]), unwrap(self.networks["generator_ema"])
        for mine, theirs in zip(average.parameters(), source.parameters()):
            mine.copy_(theirs.detach().lerp(mine, beta))
        for mine, theirs in zip(average.buffers(), source.buffers()):
            mine.copy_(theirs)

    def _frozen(self):
        generator, discriminator = unwrap(self.networks["generator_ema"]), unwrap(self.networks["discriminator"])
        for network in (generator, discriminator):
            network.eval()
            network.requires_grad_(False)
        return generator, discriminator

    def _encoder_losses(self, images: torch.Tensor):
        generator, discriminator = self._frozen()
        ws = self.networks["encoder"](images)
        reconstructions = generator.synthesise(ws)
        pixel = (images - reconstructions).pow(2).flatten(1).mean(1)
        perceptual = feature_distance(discriminator, images, reconstructions)
        return pixel + float(self.training["perceptual_weight"]) * perceptual, pixel, perceptual, ws, reconstructions

    def _encoder_step(self, images: torch.Tensor) -> Dict[str, float]:
        if self.steps_done == self.gan_steps:  # pSp predicts offsets from the generator's average w
            unwrap(self.networks["encoder"]).w_avg.copy_(unwrap(self.networks["generator_ema"]).mapping.w_avg)
        self.networks["encoder"].train()
        loss, pixel, perceptual, ws, _ = self._encoder_losses(images)
        loss = loss.mean()
        self.optimiser_e.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser_e.step()
        unwrap(self.networks["latent_statistics"]).observe(ws, float(self.training["latent_momentum"]))
        return {"loss_e": loss.item(), "loss_e_pixel": pixel.mean().item(), "loss_e_perceptual": perceptual.mean().item(),
                "ada_p": self.ada.probability}

    @torch.no_grad()
    def validation_loss(self, images: torch.Tensor) -> float:
        """L_E on normal validation slices once the encoder trains (+inf before: no checkpoint with an untrained encoder).

        Side effect, per validation pass (the calls after one training step): the whitening matrices are
        refreshed from the running moments, and the score terms' mean and spread over the normal slices
        seen in this pass are stored in ``latent_statistics`` (so the checkpoint kept carries its own).
        """
        if self.steps_done <= self.gan_steps:
            return math.inf
        statistics = unwrap(self.networks["latent_statistics"])
        if self._validated_at != self.steps_done:
            self._validated_at = self.steps_done
            statistics.finalise(float(self.training["latent_shrinkage"]))
            self._term_sums.zero_()
            self._term_squares.zero_()
        self.networks["encoder"].eval()
        loss, _, _, ws, reconstructions = self._encoder_losses(images)
        terms = score_terms(self.networks, images, ws, reconstructions.clamp(0.0, 1.0)).double().cpu()
        self._term_sums += torch.cat([torch.tensor([float(len(terms))], dtype=torch.float64), terms.sum(0)])
        self._term_squares += terms.pow(2).sum(0)
        count = self._term_sums[0]
        mean = self._term_sums[1:] / count
        spread = (self._term_squares / count - mean.pow(2)).clamp(min=0).sqrt().clamp(min=1e-8)
        statistics.score_centre.copy_(mean)
        statistics.score_spread.copy_(spread)
        return float(loss.mean())

    def state_dict(self) -> Dict:
        return {"optimiser_g": self.optimiser_g.state_dict(), "optimiser_d": self.optimiser_d.state_dict(),
                "optimiser_e": self.optimiser_e.state_dict(), "steps_done": self.steps_done, "images_seen": self.images_seen,
                "ada": self.ada.state_dict()}

    def load_state_dict(self, state: Dict) -> None:
        self.optimiser_g.load_state_dict(state["optimiser_g"])
        self.optimiser_d.load_state_dict(state["optimiser_d"])
        self.optimiser_e.load_state_dict(state["optimiser_e"])
        self.steps_done, self.images_seen = int(state["steps_done"]), int(state["images_seen"])
        self.ada.load_state_dict(state["ada"])
