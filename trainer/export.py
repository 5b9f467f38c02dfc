"""ONNX export: store a bundle's detection forward pass as an ONNX graph inside the bundle.

    python -m trainer export --model M.safetensors                 # adds the graph to M in place
    python -m trainer export --model M.safetensors --out M2.safetensors

The graph is the torch module the torch backend runs (:mod:`AnomalyDetectLib.model_forward`):
for anomaly models images ``(B, C, S, S)`` → map ``(B, S, S)`` of the manifest's map kind
(the reconstruction or translation *and* the map: residual, mGMSD or attention) and, where
the method has one, the image score ``(B,)``; for the landmark classifier patches →
softmax probabilities. The batch size is dynamic; the spatial size is the manifest's
``input_size``, which detection always resamples slices to.

Why inside the bundle (as a uint8 tensor ``onnx/forward``, described by the manifest's ``onnx`` entry)
and not beside it: a model stays one file to share, and the bundle's SHA-256 covers graph
and weights together, so a graph cannot be paired with other weights by mistake. (The
safetensors ``__metadata__`` holds only strings, so the graph's bytes go in the payload.)
The weights appear twice, as tensors for torch and inside the graph; at this project's model
sizes (≤ a few MB) that is cheaper than a second file to keep in step.

Opset 17 (onnxruntime ≥ 1.12, including the 1.19 release that Slicer 5.8's Python 3.9 gets
from pip). The classic TorchScript-based exporter (``dynamo=False``) is used: it needs only
the ``onnx`` package, not onnxscript. The export is checked: onnxruntime must reproduce the
torch outputs on random batches of two sizes before the bundle is written.
"""

from __future__ import annotations

import io
import warnings
from typing import Callable, Dict, Optional

import numpy as np
import torch
from AnomalyDetectLib.backends import ONNX_INPUT, ONNX_MANIFEST_KEY, ONNX_TENSOR, method_traits, needs_torch, torch_runner
from AnomalyDetectLib.bundle import load_bundle, save_bundle
from AnomalyDetectLib.errors import AnomalyDetectError, BundleError
from AnomalyDetectLib.manifest import ANOMALY

OPSET = 17
#: Largest difference allowed between torch and onnxruntime outputs, relative to the outputs' range.
TOLERANCE = 1e-4


def export_bundle(model: str, out: Optional[str] = None, log: Callable[[str], None] = print) -> Dict:
    """Write ``out`` (default: ``model`` itself, atomically) with the ONNX graph added; returns the manifest's ``onnx`` entry."""
    bundle = load_bundle(model)
    manifest = bundle.manifest
    spec = bundle.spec
    reason = needs_torch(spec)
    if reason is not None:
        raise AnomalyDetectError(f"'{model}' cannot be exported to ONNX: {reason}.")
    networks = bundle.build_networks("cpu")
    runner = torch_runner(spec, networks, "cpu")
    module = runner.module.eval()
    size, channels = spec.input_size, spec.channels
    example = torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(0))
    output_names = runner.output_names
    graph = _export(module, example, output_names)
    differences = _compare(graph, runner, output_names, channels, size)
    entry = {
        "opset": OPSET, "input": ONNX_INPUT, "input_shape": ["batch", channels, size, size], "outputs": output_names,
        "exported_with": {"torch": torch.__version__.split("+")[0], "onnx": _onnx_version()},
        "max_relative_difference": max(differences.values()),
    }
    entry["method_traits"] = method_traits(spec).to_json()  # read by detection when torch (and so the method's module) is absent
    if spec.kind == ANOMALY:
        entry["map"] = spec.scoring.map
    tensors = {name: array for name, array in bundle.tensors.items() if not name.startswith("onnx/")}
    tensors[ONNX_TENSOR] = np.frombuffer(graph, dtype=np.uint8)
    save_bundle(out or model, dict(manifest, **{ONNX_MANIFEST_KEY: entry}), tensors)
    log(f"{out or model}: ONNX graph of {len(graph) / 1e6:.2f} MB added ({', '.join(output_names)}; "
        f"largest torch/onnxruntime difference {entry['max_relative_difference']:.1e} of the outputs' range)")
    return entry


def _export(module: torch.nn.Module, example: torch.Tensor, output_names) -> bytes:
    buffer = io.BytesIO()
    dynamic = {ONNX_INPUT: {0: "batch"}, **{name: {0: "batch"} for name in output_names}}
    with warnings.catch_warnings():
        # torch ≥ 2.9 warns that the TorchScript exporter is legacy; it is chosen on purpose (see the module docstring).
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, (example,), buffer, dynamo=False, opset_version=OPSET, input_names=[ONNX_INPUT],
                              output_names=list(output_names), dynamic_axes=dynamic, do_constant_folding=True)
        except ModuleNotFoundError as error:
            raise AnomalyDetectError(f"ONNX export needs the '{error.name}' package: pip install onnx onnxruntime "
                                     "(or pip install -e .[trainer]).") from None
    return buffer.getvalue()


def _compare(graph: bytes, runner, output_names, channels: int, size: int) -> Dict[str, float]:
    """Largest |torch − onnxruntime| per output, relative to the torch output's range, on random batches of 3 and 1."""
    try:
        import onnxruntime
    except ImportError:
        raise AnomalyDetectError("Checking the export needs onnxruntime: pip install onnxruntime.") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a check on small batches: one thread leaves the machine to others
    session = onnxruntime.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
    generator = np.random.default_rng(1)
    worst = dict.fromkeys(output_names, 0.0)
    for batch in (3, 1):
        images = generator.random((batch, channels, size, size), dtype=np.float32)
        expected = runner(images)
        found = session.run(None, {ONNX_INPUT: images})
        for name, want, got in zip(output_names, expected, found):
            if want.shape != got.shape:
                raise BundleError(f"ONNX export failed: output '{name}' has shape {got.shape}, torch gives {want.shape}.")
            spread = float(want.max() - want.min()) or 1.0
            worst[name] = max(worst[name], float(np.abs(want - got).max()) / spread)
    bad = {name: value for name, value in worst.items() if not value <= TOLERANCE}
    if bad:
        raise BundleError(f"ONNX export failed its check: onnxruntime differs from torch by {bad} of the outputs' range "
                          f"(allowed {TOLERANCE}).")
    return worst


def _onnx_version() -> str:
    import onnx

    return onnx.__version__
