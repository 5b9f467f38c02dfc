"""Multi-process training under ``torchrun``: process group, data sharding and keeping ranks in step.

    torchrun --nproc_per_node 4 -m trainer fit --method skipganomaly --data DIR --out model.safetensors
    torchrun --nnodes 2 --node_rank R --nproc_per_node 8 --rdzv_endpoint HOST:PORT -m trainer fit ...

``fit`` calls :func:`setup`, which reads torchrun's ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``. Without them (or with ``WORLD_SIZE=1``) everything here is a no-op and
training is the single-process path, bit for bit. With them:

* the process group uses NCCL with rank r on ``cuda:LOCAL_RANK`` when the device resolves
  to CUDA, and gloo on the CPU (``--device cpu``);
* every rank computes the same slice permutation from ``(seed, epoch)`` and takes its share
  as ``torch.utils.data.DistributedSampler`` does (padded by repeating the start so every
  rank has ``ceil(n / world_size)`` slices and takes the same number of steps);
  ``--batch-size`` is per rank, so the global batch is ``world_size × batch_size``;
* each sub-network of the method's ``ModuleDict`` is wrapped in
  ``DistributedDataParallel`` for training only (:meth:`DistributedContext.training_view`);
  the unwrapped ``ModuleDict`` stays the one that is validated, checkpointed and saved;
* batch-norm running statistics are not broadcast at each forward (``broadcast_buffers=False``,
  which would also overwrite them several times per GAN step); each rank keeps its own and
  they are averaged at every validation and checkpoint step and at the end, so the selected
  and saved weights are the same on every rank (running statistics are exponential moving
  averages, hence linear: averaging them early or late gives the same result);
* the validation loss is averaged over all ranks' shards of the validation slices, so every
  rank selects the same checkpoint; only rank 0 writes the loss log, checkpoints and the
  bundle, and only rank 0 calibrates (the other ranks leave once training is done).

Why DDP works for the GAN steps (Testing/test_distributed.py runs Skip-GANomaly, a
feature-matching step and a WGAN-GP step in two gloo processes): a method's ``step`` runs
several forward passes of one sub-network per backward (Skip-GANomaly: the discriminator on x̂ with gradients and on x
under ``no_grad`` for the generator loss, on x and x̂ for the discriminator loss), and the
generator loss back-propagates into the discriminator too. DDP's reducer copes: autograd sums
the gradients of a parameter used in several passes before its one gradient-ready hook fires,
a pass under ``no_grad`` never arms the reducer, and a pass that is never back-propagated
leaves nothing pending. What plain DDP cannot take is a backward that reaches only PART of a
wrapped network, as in feature-matching generator losses (GANomaly's adversarial loss uses the
discriminator's features, not its classifier): the next forward then fails with "Expected to
have finished reduction in the prior iteration". ``find_unused_parameters=True`` handles that
(the reducer checks which parameters the running backward actually reaches) at the cost of
one graph traversal per backward, small for these networks; torch logs a one-time warning
when a method never leaves parameters unused, which is expected. A WGAN-GP gradient penalty
(``torch.autograd.grad`` with ``create_graph=True``) also works. The discriminator's gradients
from the generator loss are all-reduced needlessly (they are zeroed before the
discriminator's own backward) - a small price for leaving the methods untouched. The
steps themselves need no explicit gradient all-reduce; the one below is a fallback for
networks called outside their wrapper.

Safety nets, for what DDP cannot see. A method that calls a sub-module directly (the
network inside the wrapper, ``networks["encoder"].module(x)``) trains it unsynchronised: before
every step of the trainer's optimisers a pre-hook compares a fingerprint of the gradients over
ranks (one small all-reduce) and, only when they differ, averages them explicitly
(:meth:`DistributedContext.guard_optimisers`; the count is logged once). And decisions a method
takes on each rank's own loss (Skip-GANomaly re-initialises its discriminator when it wins
outright) can still move ranks apart: at every validation step the parameters are compared
with rank 0's; ranks that differ take rank 0's values and a warning is logged.

Several nodes: the data must be readable at the same path on every node, the output folder
only on rank 0's; ``--resume`` reads the checkpoint on every rank (a shared file system, or a
copy on each node) and needs the world size that wrote it.

Debugging: with ``ANOMALYDETECT_DEBUG_RANK_STATE=DIR`` every rank writes
``DIR/rank<r>.pt`` after training (final and selected weights, step, selected validation loss,
how often each safety net acted, whether it wrote outputs), so tests can check that the ranks
ended identical. Nothing reads these files.
"""

from __future__ import annotations

import datetime
import inspect
import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

DEBUG_STATE_VARIABLE = "ANOMALYDETECT_DEBUG_RANK_STATE"
# Collectives wait for the slowest rank (rank 0 writing a checkpoint, a rank still loading data); generous.
PROCESS_GROUP_TIMEOUT = datetime.timedelta(hours=2)
CLOSE_WAIT = datetime.timedelta(seconds=60)
# Rank r's per-step random streams are offset by r · RANK_SEED_STRIDE (rank 0: the single-process streams).
RANK_SEED_STRIDE = 2**40


@dataclass
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size`` on ``device``; single-process when ``world_size == 1``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    backend: Optional[str] = None
    owns_group: bool = False
    realignments: int = 0  # validation steps at which some rank had drifted (see align_parameters)
    gradient_fallbacks: int = 0  # optimiser steps whose gradients DDP had not synchronised (see guard_optimisers)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def seed_offset(self) -> int:
        return self.rank * RANK_SEED_STRIDE

    def describe(self) -> Dict:
        return {"world_size": self.world_size, "backend": self.backend} if self.enabled else {"world_size": 1}

    def shard(self, order: np.ndarray) -> np.ndarray:
        """This rank's share of ``order`` (DistributedSampler semantics, ``drop_last=False``)."""
        return shard(order, self.rank, self.world_size)

    def shard_size(self, count: int) -> int:
        return -(-count // self.world_size)

    def training_view(self, networks: nn.ModuleDict) -> nn.ModuleDict:
        """The ``ModuleDict`` the method's trainer should train: each sub-network with parameters in DDP.

        The wrappers share parameters and buffers with ``networks``, so optimisers built on
        the view update ``networks``; keep using ``networks`` for ``state_dict`` and saving.
        """
        if not self.enabled:
            return networks
        from torch.nn.parallel import DistributedDataParallel

        # find_unused_parameters: feature-matching losses back-propagate into part of a network (module docstring).
        options = {"device_ids": [torch.device(self.device).index] if self.device.startswith("cuda") else None,
                   "find_unused_parameters": True}
        # Newer torch renames broadcast_buffers (and deprecates the old name); both mean "no buffer sync per forward".
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:
            options["forward_sync_buffers"] = False
        else:
            options["broadcast_buffers"] = False
        wrapped = {}
        for name, module in networks.items():
            if any(p.requires_grad for p in module.parameters()):
                module = DistributedDataParallel(module, **options)
            wrapped[name] = module
        return nn.ModuleDict(wrapped)

    def guard_optimisers(self, trainer) -> int:
        """Before every step of the trainer's optimisers, make sure their gradients agree across ranks.

        DDP synchronises what goes through its wrappers; a method that calls a wrapped network's
        ``.module`` (or a sub-module of it) trains that part unsynchronised. A step pre-hook
        compares a fingerprint of the gradients (which parameters have one, their sum and sum
        of squares) over ranks - one small all-reduce - and only when they differ averages the
        gradients explicitly, so every optimiser step sees the global batch's gradient either
        way. Optimisers are found among the trainer's attributes; returns how many.
        """
        if not self.enabled:
            return 0
        optimisers = [value for value in _attribute_values(trainer) if isinstance(value, torch.optim.Optimizer)]
        for optimiser in optimisers:
            optimiser.register_step_pre_hook(self._before_optimiser_step)
        if not optimisers:
            logger.warning("No optimisers found on the %s trainer; gradients are synchronised by DDP alone.", type(trainer).__name__)
        return len(optimisers)

    def _before_optimiser_step(self, optimiser, args, kwargs) -> None:
        import torch.distributed as dist

        parameters = [p for group in optimiser.param_groups for p in group["params"]]
        gradients = [p.grad for p in parameters if p.grad is not None]
        with torch.no_grad():
            fingerprint = torch.zeros(len(parameters) + 2, dtype=torch.float64, device=self.device)
            fingerprint[: len(parameters)] = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float64)
            for gradient in gradients:
                fingerprint[-2] += gradient.double().sum()
                fingerprint[-1] += gradient.double().pow(2).sum()
            extremes = torch.cat([fingerprint, -fingerprint])
            dist.all_reduce(extremes, op=dist.ReduceOp.MAX)  # [max over ranks, -min over ranks]: the same on every rank
            count = len(fingerprint)
            if torch.equal(extremes[:count], -extremes[count:]):
                return
            self.gradient_fallbacks += 1
            if self.gradient_fallbacks == 1 and self.is_main:
                logger.warning("Gradients of a %s step differed between ranks (a network called outside its DDP wrapper?); "
                               "averaging them explicitly before each such step.", type(optimiser).__name__)
            with_gradient = [p for p, anywhere in zip(parameters, extremes[: len(parameters)].tolist()) if anywhere > 0]
            if not with_gradient:
                return
            for parameter in with_gradient:
                if parameter.grad is None:
                    parameter.grad = torch.zeros_like(parameter)
            flat = torch.cat([p.grad.reshape(-1) for p in with_gradient])
            dist.all_reduce(flat)
            flat /= self.world_size
            _unflatten_into(flat, [p.grad for p in with_gradient])

    def average_buffers(self, networks: nn.Module) -> None:
        """Average floating-point buffers (batch-norm running statistics) over ranks; others from rank 0."""
        if not self.enabled:
            return
        import torch.distributed as dist

        buffers = list(networks.buffers())
        floating = [b for b in buffers if b.is_floating_point()]
        if floating:
            flat = torch.cat([b.detach().reshape(-1).double() for b in floating])
            dist.all_reduce(flat)
            flat /= self.world_size
            _unflatten_into(flat, floating)
        others = [b for b in buffers if not b.is_floating_point()]
        if others:
            flat = torch.cat([b.detach().reshape(-1).long() for b in others])
            dist.broadcast(flat, src=0)
            _unflatten_into(flat, others)

    def align_parameters(self, networks: nn.Module) -> int:
        """Give every rank rank 0's parameters; returns how many ranks had differed (0 when in step)."""
        if not self.enabled:
            return 0
        import torch.distributed as dist

        groups: Dict[torch.dtype, List[torch.Tensor]] = {}
        for parameter in networks.parameters():
            groups.setdefault(parameter.dtype, []).append(parameter)
        differed = False
        for tensors in groups.values():
            mine = torch.cat([t.detach().reshape(-1) for t in tensors])
            reference = mine.clone()
            dist.broadcast(reference, src=0)
            if not torch.equal(mine, reference):
                differed = True
                with torch.no_grad():
                    _unflatten_into(reference, tensors)
        count = torch.tensor([int(differed)], device=self.device)
        dist.all_reduce(count)
        self.realignments += int(count.item() > 0)
        return int(count.item())

    def weighted_mean(self, total: float, count: int) -> float:
        """``Σ total / Σ count`` over ranks (the validation loss of all ranks' shards); same value on every rank."""
        if not self.enabled:
            return float(total / count)
        import torch.distributed as dist

        sums = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
        dist.all_reduce(sums)
        return float(sums[0].item() / sums[1].item())

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (e.g. "the time budget is spent"), so all ranks stop at the same step."""
        if not self.enabled:
            return flag
        import torch.distributed as dist

        value = torch.tensor([int(flag)], device=self.device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def close(self) -> None:
        """Leave the process group if :func:`setup` made it.

        With gloo the ranks first wait for each other (at most ``CLOSE_WAIT``): a rank that tore
        its connections down while another was still finishing its last collective made that one
        abort ("terminate called without an active exception"). A rank that died is not waited
        for longer than ``CLOSE_WAIT``.
        """
        if self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                if dist.get_backend() == "gloo":
                    try:
                        dist.monitored_barrier(timeout=CLOSE_WAIT)
                    except RuntimeError as error:  # another rank failed or left: leave anyway
                        logger.warning("leaving the process group without the other ranks: %s", error)
                dist.destroy_process_group()
            self.owns_group = False


def shard(order: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s share of ``order``: pad by repeating from the start to a multiple of ``world_size``, take every world_size-th."""
    if world_size == 1:
        return order
    per_rank = -(-len(order) // world_size)
    return np.resize(order, per_rank * world_size)[rank::world_size]


def torchrun_environment() -> Optional[Dict[str, int]]:
    """``{"world_size", "rank", "local_rank"}`` from torchrun's variables, or None outside a multi-process launch."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return None
    if world_size <= 1:
        return None
    rank = int(os.environ["RANK"])
    return {"world_size": world_size, "rank": rank, "local_rank": int(os.environ.get("LOCAL_RANK", rank))}


def setup(device: str) -> DistributedContext:
    """Join torchrun's process group when launched by it; ``device`` is the resolved single-process device.

    Under torchrun a CUDA device becomes ``cuda:LOCAL_RANK`` (NCCL); the CPU uses gloo.
    A process group that the caller already initialised is used as it is.
    """
    import torch.distributed as dist

    environment = torchrun_environment()
    if environment is None and not (dist.is_available() and dist.is_initialized()):
        return DistributedContext(device=device)
    if not dist.is_available():
        from AnomalyDetectLib.errors import AnomalyDetectError

        raise AnomalyDetectError("This torch build has no torch.distributed; run without torchrun.")
    if environment is None:
        environment = {"world_size": dist.get_world_size(), "rank": dist.get_rank(), "local_rank": dist.get_rank()}
    local_rank = environment["local_rank"]
    if device.startswith("cuda"):
        if device not in ("cuda", f"cuda:{local_rank}"):
            logger.warning("Device %s ignored under torchrun: rank %d uses cuda:%d.", device, environment["rank"], local_rank)
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    owns_group = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=PROCESS_GROUP_TIMEOUT)
        owns_group = True
    return DistributedContext(environment["rank"], dist.get_world_size(), local_rank, device, dist.get_backend(), owns_group)


def write_debug_state(context: DistributedContext, networks: nn.Module, selected: Optional[Dict], extra: Dict) -> None:
    """Under ``ANOMALYDETECT_DEBUG_RANK_STATE=DIR``: this rank's final state to ``DIR/rank<r>.pt`` (see the module docstring)."""
    folder = os.environ.get(DEBUG_STATE_VARIABLE)
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    payload = {"rank": context.rank, "world_size": context.world_size, "realignments": context.realignments,
               "gradient_fallbacks": context.gradient_fallbacks,
               "final": _cpu_state(networks.state_dict()), "selected": _cpu_state(selected or {}), **extra}
    torch.save(payload, os.path.join(folder, f"rank{context.rank}.pt"))


def _attribute_values(instance):
    """An object's attribute values, and the items of its list, tuple and dict attributes."""
    for value in vars(instance).values():
        if isinstance(value, (list, tuple)):
            yield from value
        elif isinstance(value, dict):
            yield from value.values()
        else:
            yield value


def _cpu_state(state: Dict) -> Dict:
    return {name: value.detach().cpu().clone() for name, value in state.items()}


def _unflatten_into(flat: torch.Tensor, tensors: List[torch.Tensor]) -> None:
    offset = 0
    for tensor in tensors:
        count = tensor.numel()
        tensor.copy_(flat[offset : offset + count].view_as(tensor))
        offset += count
