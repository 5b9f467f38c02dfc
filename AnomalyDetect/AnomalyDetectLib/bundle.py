"""Model bundles: one file holding a trained model's weights and its manifest.

The file is in the safetensors layout (an 8-byte little-endian header length, a JSON
header, then raw little-endian tensor bytes), read and written here with numpy alone:
loading parses JSON and copies bytes, it never unpickles or executes anything from
the file, and the manifest can be shown (e.g. in Slicer's GUI) before torch is even
installed. Standard safetensors tools can open the file too.

The header's ``__metadata__`` holds ``format`` (``"anomalydetect-bundle"``),
``format_version`` and ``manifest``: a JSON document with the method, its
architecture hyper-parameters, input size and channels, modality and normalisation,
thresholds and score calibration fitted on normal validation data, a summary of the
training data, validation metrics, and a SHA-256 of the tensor bytes. Code reads it typed,
through :class:`AnomalyDetectLib.manifest.Manifest` (``bundle.spec``); ``bundle.manifest`` is
the JSON document itself, the one to edit and save.

A bundle may also hold the ONNX graph of its detection forward pass (the uint8 tensor
``onnx/forward``, described by the manifest's ``onnx`` entry; written by ``python -m trainer
export``), which :mod:`AnomalyDetectLib.backends` runs with onnxruntime when torch is
absent. The checksum covers it with the weights.

Example::

    from AnomalyDetectLib.bundle import load_bundle, default_bundle_path
    bundle = load_bundle(default_bundle_path())
    bundle.spec.method, bundle.spec.input_size, bundle.spec.thresholds.slice
    networks = bundle.build_networks(device="cpu")   # torch modules, eval mode
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Dict, List, Union

import numpy as np

from .errors import BundleError
from .files import atomic_output
from .manifest import ANOMALY, LANDMARKS, REQUIRED_KEYS, Manifest, Training, as_manifest  # noqa: F401  (REQUIRED_KEYS: as before)

FORMAT = "anomalydetect-bundle"
FORMAT_VERSION = 1
DEFAULT_MODEL_FILE = "translation_lgg_flair.safetensors"
# The shipped landmark detector: seven head-and-neck CT landmarks (docs/BENCHMARKS.md, "Landmarks on real CT").
DEFAULT_LANDMARK_MODEL_FILE = "landmarks_head_neck_ct.safetensors"
MAX_HEADER_BYTES = 16 * 1024 * 1024

_DTYPES = {
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}


def resources_dir() -> str:
    """``AnomalyDetect/Resources``: beside this package in a checkout and in Slicer."""
    override = os.environ.get("ANOMALYDETECT_RESOURCES")
    if override:
        return override
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Resources")


def default_bundle_path() -> str:
    """Path of the bundled default model; raises BundleError if it is not installed."""
    path = os.path.join(resources_dir(), "Models", DEFAULT_MODEL_FILE)
    if not os.path.isfile(path):
        raise BundleError(
            f"The bundled default model is missing ('{path}'). Install from a checkout with 'pip install -e .', "
            "or give a model file explicitly (--model)."
        )
    return path


def default_landmark_bundle_path() -> str:
    """Path of the shipped head-and-neck CT landmark model; raises BundleError if it is not installed."""
    path = os.path.join(resources_dir(), "Models", DEFAULT_LANDMARK_MODEL_FILE)
    if not os.path.isfile(path):
        raise BundleError(f"The shipped landmark model is missing ('{path}'); give a landmark model file explicitly (--model).")
    return path


@dataclass
class ModelBundle:
    """A loaded bundle: ``manifest`` (the JSON document, a dict) and ``tensors`` (name → numpy array)."""

    manifest: Dict
    tensors: Dict[str, np.ndarray] = field(repr=False)
    path: str = ""

    @property
    def spec(self) -> Manifest:
        """The manifest, typed (parsed from ``manifest`` on each call, so edits of the dict are seen)."""
        try:
            return Manifest.from_json(self.manifest)
        except BundleError as error:
            raise BundleError(f"'{self.path}': {error}") from None

    @property
    def method(self):
        from .models import get_method

        return get_method(self.spec.method)

    def onnx_graph(self):
        """The serialised ONNX graph ``python -m trainer export`` stored in the bundle (bytes), or None."""
        from .backends import ONNX_TENSOR

        graph = self.tensors.get(ONNX_TENSOR)
        return None if graph is None else np.ascontiguousarray(graph, dtype=np.uint8).tobytes()

    def build_networks(self, device="cpu"):
        """The method's torch networks with these weights, in eval mode, on ``device``."""
        import torch

        method = self.method
        architecture = self.spec.architecture
        try:
            networks = method.build_networks(architecture)
        except (TypeError, ValueError, KeyError) as error:
            raise BundleError(f"'{self.path}': architecture {architecture} is invalid for {method.NAME}: {error}") from None
        state = {name: torch.from_numpy(np.array(array, dtype=np.float32 if array.dtype == np.float16 else array.dtype))
                 for name, array in self.tensors.items() if not name.startswith("onnx/")}  # the exported graph is no weight
        try:
            networks.load_state_dict(state, strict=True)
        except RuntimeError as error:
            summary = str(error).strip().splitlines()[0]
            raise BundleError(f"'{self.path}': the weights do not fit the {method.NAME} architecture in its manifest ({summary}).") from None
        return networks.to(device).eval()


def save_bundle(path: str, manifest: Dict, tensors: Dict[str, np.ndarray], half_precision: bool = False) -> None:
    """Write a bundle atomically (a temporary file renamed into place)."""
    try:
        Manifest.from_json(manifest)
    except BundleError as error:
        raise BundleError(f"Cannot save bundle '{path}': {error}") from None
    header: Dict = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        if half_precision and array.dtype == np.float32:
            array = array.astype(np.float16)
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype)
        if array.dtype not in _NAMES:
            raise BundleError(f"Cannot save tensor '{name}' of type {array.dtype} in a bundle.")
        data = array.tobytes()
        header[name] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    payload = b"".join(chunks)
    manifest = dict(manifest, weights_sha256=hashlib.sha256(payload).hexdigest(), format_version=FORMAT_VERSION)
    header["__metadata__"] = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "manifest": json.dumps(manifest, sort_keys=True)}
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with atomic_output(path) as temporary, open(temporary, "wb") as handle:
        handle.write(struct.pack("<Q", len(header_bytes)))
        handle.write(header_bytes)
        handle.write(payload)


def read_manifest(path: str) -> Dict:
    """Only the manifest, as its JSON document (cheap: the weights are not read or checked)."""
    return _read(path, with_tensors=False)[0]


def read_spec(path: str) -> Manifest:
    """Only the manifest, typed (:class:`~AnomalyDetectLib.manifest.Manifest`)."""
    return Manifest.from_json(read_manifest(path))


def load_bundle(path: str) -> ModelBundle:
    """Read and validate a bundle; raises :class:`BundleError` with a one-line reason."""
    manifest, tensors = _read(path, with_tensors=True)
    return ModelBundle(manifest, tensors, os.fspath(path))


def _read(path, with_tensors: bool):
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BundleError(f"Model file '{path}' does not exist.")
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise BundleError(f"Model file '{path}' is truncated or not a model bundle ({size} bytes).")
        (header_length,) = struct.unpack("<Q", prefix)
        if header_length > MAX_HEADER_BYTES or header_length > size - 8:
            raise BundleError(f"Model file '{path}' is not an AnomalyDetect bundle or is truncated (bad header length).")
        try:
            header = json.loads(handle.read(header_length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BundleError(f"Model file '{path}' is corrupt: its header is not valid JSON.") from None
        metadata = header.pop("__metadata__", None) if isinstance(header, dict) else None
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
            raise BundleError(f"'{path}' is not an AnomalyDetect model bundle (a safetensors file without our manifest?).")
        try:
            version = int(metadata.get("format_version", ""))
        except ValueError:
            raise BundleError(f"Model file '{path}' has an invalid format version.") from None
        if version > FORMAT_VERSION:
            raise BundleError(
                f"Model file '{path}' has format version {version}; this AnomalyDetect reads up to {FORMAT_VERSION}. Update AnomalyDetect."
            )
        try:
            manifest = json.loads(metadata["manifest"])
        except (KeyError, TypeError, json.JSONDecodeError):
            raise BundleError(f"Model file '{path}' is corrupt: its manifest is missing or not valid JSON.") from None
        if not isinstance(manifest, dict):
            raise BundleError(f"Model file '{path}' is corrupt: its manifest is not a JSON object.")
        try:
            spec = Manifest.from_json(manifest)
        except BundleError as error:
            raise BundleError(f"Model file '{path}': {error}") from None
        if not with_tensors:
            return manifest, None
        payload_length = size - 8 - header_length
        payload = handle.read(payload_length)
    expected = spec.weights_sha256
    if expected and hashlib.sha256(payload).hexdigest() != expected:
        raise BundleError(f"Model file '{path}' is corrupt or truncated: its weights do not match their checksum.")
    tensors = {}
    for name, entry in header.items():
        try:
            dtype = _DTYPES[entry["dtype"]]
            shape = tuple(int(v) for v in entry["shape"])
            start, end = (int(v) for v in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"Model file '{path}' is corrupt: tensor '{name}' has an invalid description.") from None
        count = int(np.prod(shape)) if shape else 1
        if not 0 <= start <= end <= len(payload) or end - start != count * dtype.itemsize:
            raise BundleError(f"Model file '{path}' is truncated or corrupt: tensor '{name}' lies outside the file.")
        tensors[name] = np.frombuffer(payload, dtype=dtype, count=count, offset=start).reshape(shape)
    return manifest, tensors


def describe(manifest: Union[Manifest, Dict]) -> str:
    """A short human-readable summary of a manifest (for the CLI and the Slicer GUI)."""
    spec = as_manifest(manifest)
    metrics = spec.validation_metrics or {}
    parts = [f"method {spec.method}", f"modality {spec.modality}", f"input {spec.input_size}×{spec.input_size}",
             f"map {spec.scoring.map}" if spec.kind == ANOMALY else f"{len(spec.classes)} landmarks"]
    if metrics.get("slice_auroc") is not None:
        parts.append(f"validation slice AUROC {metrics['slice_auroc']:.3f}")
    return ", ".join(parts)


def model_card(manifest: Union[Manifest, Dict]) -> List[str]:
    """Lines describing a bundle for people (the Slicer panel): what it is, what it was validated on, its thresholds."""
    spec = as_manifest(manifest)
    lines = [f"Method: {spec.method}; modality {spec.modality}; input {spec.input_size}×{spec.input_size}"]
    training = spec.training or Training()
    if spec.kind == LANDMARKS:
        shown = ", ".join(spec.classes[:8]) + (", …" if len(spec.classes) > 8 else "")
        lines.append(f"Landmark detector: {len(spec.classes)} landmarks ({shown})")
        if training.description:
            lines.append(f"Trained on: {training.description}")
        figures = spec.test_figures or {}
        compact = (figures.get("model") or {}).get("compact (5)")
        if compact and compact.get("identification_rate_10mm") is not None:
            lines.append(f"Unseen test patients ({figures.get('patients')}): compact landmarks identified within 10 mm "
                         f"{compact['identification_rate_10mm']:.0%}, median error {compact['median_error_mm']:.1f} mm")
        return lines + [_engine_line(spec)]
    if spec.training is not None and spec.training.to_json():
        lines.append(f"Trained: {'?' if training.epochs is None else training.epochs} epochs on {training.data_name}")
    metrics = spec.validation_metrics or {}
    shown = [f"{label} {metrics[key]:.3f}" for key, label in (("slice_auroc", "slice AUROC"), ("pixel_auroc", "pixel AUROC"),
                                                             ("pixel_dice", "Dice")) if isinstance(metrics.get(key), (int, float))]
    if shown:
        cases = f" ({metrics['cases']} cases)" if metrics.get("cases") else ""
        lines.append("Validation: " + ", ".join(shown) + cases)
    else:
        lines.append("Validation: no figures in the bundle")
    thresholds = spec.thresholds
    if thresholds.slice is not None:
        quantiles = ["?" if value is None else value for value in (thresholds.slice_quantile, thresholds.map_quantile)]
        lines.append(f"Calibrated thresholds: slice {thresholds.slice:.4g}, map {_or_nan(thresholds.map):.4g} "
                     f"(quantiles {quantiles[0]} / {quantiles[1]} of normal validation data)")
    masked = spec.masked_profile
    if masked is not None and masked.thresholds.slice is not None:
        rim = "" if masked.simulated_rim_mm is None else f", fitted with the outer {masked.simulated_rim_mm:g} mm masked away"
        share = "" if masked.weighting is None else f", intensity share {masked.weighting.share:g}"
        lines.append(f"Skull-stripped (masked) volumes: own thresholds, slice {masked.thresholds.slice:.4g}, "
                     f"map {_or_nan(masked.thresholds.map):.4g}{share}{rim}")
    return lines + [_engine_line(spec)]


def _or_nan(value) -> float:
    return float("nan") if value is None else value


def _engine_line(spec: Manifest) -> str:
    """Whether the model can run without PyTorch (it then needs only onnxruntime), for people choosing what to install."""
    if spec.onnx is None:
        return "Runs on: PyTorch (no ONNX graph; python -m trainer export adds one)"
    if spec.onnx.latent_search:
        return "Runs on: PyTorch (latent search)"
    return "Runs on: PyTorch or onnxruntime (ONNX graph inside)"
