"""Choosing where torch runs: CUDA when present, the CPU otherwise."""

from __future__ import annotations

from .errors import AnomalyDetectError


def resolve_device(name: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is usable, else ``"cpu"``; ``"gpu"`` means ``"cuda"``.

    Asking for CUDA on a machine without it is an error rather than a silent fallback,
    so a user who expects GPU speed learns why it is slow.
    """
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "gpu":
        name = "cuda"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise AnomalyDetectError(f"Device '{name}' was requested but CUDA is not available here; use 'cpu' or 'auto'.")
        return name
    if name == "cpu":
        return name
    raise AnomalyDetectError(f"Unknown device '{name}'; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
