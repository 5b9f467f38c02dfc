"""Where a model's forward pass runs: PyTorch, or onnxruntime on the ONNX graph stored in the bundle.

Both backends are *runners*: called with one float32 input batch (numpy), they return the
model's outputs as a list of numpy arrays, so the rest of detection (reading, orientation,
resampling, scoring, outputs) is shared. Anomaly models return ``[maps (B, H, W)]`` or
``[maps, image_scores (B,)]``; the landmark classifier ``[probabilities (B, K + 1)]``.

* ``"torch"``: the bundle's networks built with torch (:mod:`AnomalyDetectLib.model_forward`).
* ``"onnx"``: the graph ``python -m trainer export`` stored in the bundle (the same
  modules, traced), run by onnxruntime; no torch needed. Methods that search a latent
  space at test time (AnoGAN) have no graph and need torch.
* ``"auto"``: torch when it can be imported, otherwise onnxruntime.

Example::

    from AnomalyDetectLib.backends import open_runner
    runner = open_runner(load_bundle(path), backend="onnx", device="cpu")
    maps, scores = runner(images)      # images (B, C, S, S) float32 in [0, 1]

Why running a graph from a bundle is safe: an ONNX graph is data (a protobuf list of
standard operators and their weights), not code; onnxruntime runs only its own built-in
kernels and loads no custom-operator library unless the caller registers one (we never
do). The one way a graph can reach outside itself, tensors stored in *external* files,
is refused before onnxruntime sees the graph (:func:`check_self_contained`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Union

import numpy as np

from .errors import AnomalyDetectError, BundleError
from .manifest import ANOMALY, LANDMARKS, Manifest, as_manifest

ManifestLike = Union[Manifest, Dict]

BACKENDS = ("auto", "torch", "onnx")
#: Bundle tensor holding the serialised ONNX graph (uint8), and the manifest entry describing it.
ONNX_TENSOR = "onnx/forward"
ONNX_MANIFEST_KEY = "onnx"
ONNX_INPUT = "input"


def torch_available() -> bool:
    """True when torch imports (a failed import, e.g. a broken install, counts as absent)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def map_kind(manifest: ManifestLike) -> str:
    """The anomaly map detection computes for this (anomaly) manifest: its scoring's ``map``, or the default."""
    return as_manifest(manifest).scoring.map


@dataclass(frozen=True)
class MethodTraits:
    """What detection needs to know about a model's method, available without torch.

    With torch the method object answers (``method`` is set); without it, the copy that
    ``python -m trainer export`` stored in the manifest's ``onnx.method_traits`` does
    (``method`` is None: the methods' modules import torch).
    """

    task: str  # "anomaly" or "landmarks": the manifest's kind (Manifest.kind), recorded in exported graphs
    detect_batch_size: Optional[int]  # the method's slices per forward pass, None = the pipeline's default
    latent_search: bool  # detection optimises a latent code with autograd (AnoGAN): torch only
    default_detection: Optional[Dict] = None  # landmark detection settings not given in the manifest
    method: object = None

    def to_json(self) -> Dict:
        return {"task": self.task, "detect_batch_size": self.detect_batch_size, "latent_search": self.latent_search,
                "default_detection": self.default_detection}


def method_traits(manifest: ManifestLike) -> MethodTraits:
    """The :class:`MethodTraits` of ``manifest``'s method; raises :class:`AnomalyDetectError` naming torch when it is needed."""
    from .models import get_method

    spec = as_manifest(manifest)
    try:
        method = get_method(spec.method)
    except ImportError as error:
        stored = spec.onnx.method_traits if spec.onnx is not None else None
        if getattr(error, "name", "") != "torch" or not isinstance(stored, dict):
            raise AnomalyDetectError(
                f"This {spec.method} model needs PyTorch (torch), which is not installed ({error}). Install torch "
                "(pip install torch, or in Slicer the PyTorch extension); a one-pass model can instead be exported once with "
                "python -m trainer export --model MODEL and run by onnxruntime."
            ) from None
        return MethodTraits(spec.kind, stored.get("detect_batch_size"), bool(stored.get("latent_search")), stored.get("default_detection"))
    return MethodTraits(spec.kind, method.DETECT_BATCH_SIZE, bool(method.LATENT_SEARCH), method.DEFAULT_DETECTION, method)


def needs_torch(manifest: ManifestLike) -> Optional[str]:
    """Why this model cannot run without torch (a sentence), or None when an exported graph can run it."""
    spec = as_manifest(manifest)
    if method_traits(spec).latent_search:
        return f"{spec.method} searches the latent space by gradient descent for every slice, which needs PyTorch (torch)"
    return None


def resolve_backend(bundle, backend: str = "auto") -> str:
    """``"torch"`` or ``"onnx"`` for ``bundle``; raises :class:`AnomalyDetectError` naming what to install or run."""
    backend = (backend or "auto").strip().lower()
    if backend not in BACKENDS:
        raise AnomalyDetectError(f"Unknown backend '{backend}'; use {', '.join(BACKENDS)}.")
    reason = needs_torch(bundle.spec)
    if backend == "torch" or (backend == "auto" and torch_available()):
        if not torch_available():
            raise AnomalyDetectError("The torch backend was requested but PyTorch (torch) is not installed: pip install torch, "
                                     "or use --backend onnx with an exported model.")
        return "torch"
    if reason is not None:
        remedy = "choose the torch backend" if backend == "onnx" and torch_available() else \
            "install it (pip install torch, or in Slicer the PyTorch extension)"
        raise AnomalyDetectError(f"'{bundle.path}': {reason}; it has no ONNX form. To run this model, {remedy}.")
    if bundle.onnx_graph() is None:
        raise AnomalyDetectError(f"'{bundle.path}' holds no ONNX graph and PyTorch (torch) is not installed or not chosen. "
                                 "Install torch, or add the graph once with: python -m trainer export --model MODEL.")
    return "onnx"


def open_runner(bundle, backend: str = "auto", device: str = "auto"):
    """A runner for ``bundle`` on the chosen backend and device (``auto``, ``cpu``, ``cuda`` or ``cuda:N``)."""
    if resolve_backend(bundle, backend) == "torch":
        from .device import resolve_device

        resolved = resolve_device(device)
        return torch_runner(bundle.spec, bundle.build_networks(resolved), resolved)
    return OnnxRunner(bundle, device)


def torch_runner(manifest: ManifestLike, networks, device: str):
    """A torch runner over ``networks`` (used by reference: a model still training is seen as it is now)."""
    from .model_forward import AnalyseForward, ClassifierForward
    from .models import get_method

    spec = as_manifest(manifest)
    if spec.kind == LANDMARKS:
        return TorchRunner(ClassifierForward(networks), device)
    return TorchRunner(AnalyseForward(get_method(spec.method), networks, spec.scoring.map, spec.channels, spec.input_size), device)


def as_runner(manifest: ManifestLike, networks, device: str):
    """``networks`` itself when it is already a runner, else a torch runner over these torch networks."""
    return networks if isinstance(networks, (TorchRunner, OnnxRunner)) else torch_runner(manifest, networks, device)


class TorchRunner:
    backend = "torch"

    def __init__(self, module, device: str):
        self.module = module
        self.device = str(device)

    @property
    def output_names(self) -> List[str]:
        return list(self.module.output_names)

    def __call__(self, inputs: np.ndarray) -> List[np.ndarray]:
        import torch

        with torch.no_grad():
            outputs = self.module(torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.device))
        return [output.cpu().numpy() for output in outputs]


class OnnxRunner:
    """onnxruntime over the bundle's graph. Threads: ``OMP_NUM_THREADS`` when set (as for torch), else onnxruntime's default."""

    backend = "onnx"

    def __init__(self, bundle, device: str = "auto"):
        try:
            import onnxruntime
        except ImportError:
            raise AnomalyDetectError("Running a model without PyTorch needs onnxruntime, which is not installed: pip install onnxruntime "
                                     "(or install torch).") from None
        spec = bundle.spec
        entry = spec.onnx
        graph = bundle.onnx_graph()
        if graph is None or entry is None or not entry.to_json():
            raise BundleError(f"'{bundle.path}' holds no ONNX graph; add it with: python -m trainer export --model MODEL.")
        if spec.kind == ANOMALY and entry.map != spec.scoring.map:
            raise BundleError(f"'{bundle.path}': its ONNX graph computes the '{entry.map}' map but the manifest now asks for "
                              f"'{spec.scoring.map}'; export it again: python -m trainer export --model MODEL.")
        check_self_contained(graph, bundle.path)
        providers, self.device = _providers(onnxruntime, device)
        options = onnxruntime.SessionOptions()
        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit() and int(threads) > 0:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        try:
            self.session = onnxruntime.InferenceSession(graph, sess_options=options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types, not importable by a stable name
            raise BundleError(f"'{bundle.path}': onnxruntime cannot load its ONNX graph ({str(error).splitlines()[0]}).") from None
        self.output_names = [output.name for output in self.session.get_outputs()]
        if self.output_names != list(entry.outputs or ()):
            raise BundleError(f"'{bundle.path}': its ONNX graph has outputs {self.output_names}, the manifest lists {_listed(entry.outputs)}.")

    def __call__(self, inputs: np.ndarray) -> List[np.ndarray]:
        return self.session.run(None, {ONNX_INPUT: np.ascontiguousarray(inputs, dtype=np.float32)})


def _providers(onnxruntime, device: str):
    """(onnxruntime execution providers, a device description) for ``auto``, ``cpu``, ``cuda`` / ``gpu`` or ``cuda:N``."""
    name = (device or "auto").strip().lower()
    name = "cuda" if name == "gpu" else name
    has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    if name == "cpu" or (name == "auto" and not has_cuda):
        return ["CPUExecutionProvider"], "cpu (onnxruntime)"
    if name == "auto" or name.startswith("cuda"):
        index = name.partition(":")[2] or "0"
        if not has_cuda or not index.isdigit():
            raise AnomalyDetectError(f"Device '{device}' was requested but this onnxruntime has no CUDA support; use 'cpu' or 'auto' "
                                     "(or install onnxruntime-gpu).")
        return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"], f"cuda:{index} (onnxruntime)"
    raise AnomalyDetectError(f"Unknown device '{device}'; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")


# Field numbers of onnx.proto3 that can hold tensors or nested graphs (the format's stable wire layout).
_MODEL_GRAPH, _MODEL_FUNCTIONS = 7, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_NODE_ATTRIBUTE = 5
_ATTRIBUTE_TENSOR, _ATTRIBUTE_GRAPH, _ATTRIBUTE_TENSORS, _ATTRIBUTE_GRAPHS = 5, 6, 10, 11
_ATTRIBUTE_SPARSE, _ATTRIBUTE_SPARSES = 22, 23
_FUNCTION_NODE, _FUNCTION_ATTRIBUTE = 7, 11
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 13, 14


def check_self_contained(graph: bytes, path: str = "") -> None:
    """Raise :class:`BundleError` unless every tensor of the ONNX ``graph`` is stored inside it.

    Tensors with external data name a file to read; a graph from a model file must not make
    onnxruntime open files (old onnxruntime versions did not confine such paths). The
    protobuf is walked with its wire format alone, so the check needs no onnx package.
    """
    try:
        _check_model(bytes(graph))
    except _ExternalData:
        raise BundleError(f"'{path}': its ONNX graph refers to external data files; only self-contained graphs are run.") from None
    except (ValueError, IndexError):
        raise BundleError(f"'{path}': its ONNX graph is corrupt (not a valid protobuf).") from None


class _ExternalData(Exception):
    pass


def _varint(data: bytes, position: int):
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: bytes):
    """(field number, wire type, value) of one protobuf message; value is an int or bytes."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        wire = key & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, position = data[position : position + size], position + size
        elif wire == 2:
            size, position = _varint(data, position)
            value, position = data[position : position + size], position + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if position > len(data):
            raise ValueError("message truncated")
        yield key >> 3, wire, value


def _nested(data: bytes, wanted: Dict[int, object]) -> None:
    for number, wire, value in _fields(data):
        if wire == 2 and number in wanted:
            wanted[number](value)


def _check_model(data: bytes) -> None:
    _nested(data, {_MODEL_GRAPH: _check_graph, _MODEL_FUNCTIONS: _check_function})


def _check_graph(data: bytes) -> None:
    _nested(data, {_GRAPH_NODE: _check_node, _GRAPH_INITIALIZER: _check_tensor, _GRAPH_SPARSE_INITIALIZER: _check_sparse})


def _check_function(data: bytes) -> None:
    _nested(data, {_FUNCTION_NODE: _check_node, _FUNCTION_ATTRIBUTE: _check_attribute})


def _check_node(data: bytes) -> None:
    _nested(data, {_NODE_ATTRIBUTE: _check_attribute})


def _check_attribute(data: bytes) -> None:
    _nested(data, {_ATTRIBUTE_TENSOR: _check_tensor, _ATTRIBUTE_TENSORS: _check_tensor, _ATTRIBUTE_GRAPH: _check_graph,
                   _ATTRIBUTE_GRAPHS: _check_graph, _ATTRIBUTE_SPARSE: _check_sparse, _ATTRIBUTE_SPARSES: _check_sparse})


def _check_sparse(data: bytes) -> None:
    _nested(data, {_SPARSE_VALUES: _check_tensor, _SPARSE_INDICES: _check_tensor})


def _check_tensor(data: bytes) -> None:
    for number, wire, value in _fields(data):
        if number == _TENSOR_EXTERNAL_DATA or (number == _TENSOR_DATA_LOCATION and wire == 0 and value != 0):
            raise _ExternalData()


def _listed(names) -> Optional[List[str]]:
    return None if names is None else list(names)
