"""Model bundles: round trip, and a one-line BundleError for every kind of bad file."""

from __future__ import annotations

import json
import os
import pickle
import struct

import numpy as np
import pytest
from AnomalyDetectLib.bundle import FORMAT, load_bundle, read_manifest, save_bundle
from AnomalyDetectLib.errors import BundleError
from AnomalyDetectLib.models import get_method

ARCHITECTURE = {"input_size": 32, "channels": 1, "base_channels": 4, "depth": 3, "skips": [True, True, True]}


def _manifest(**changes):
    manifest = {
        "method": "skipganomaly", "architecture": ARCHITECTURE, "input_size": 32, "channels": 1, "modality": "MR",
        "normalisation": {"kind": "mr_percentile"}, "thresholds": {"slice": 1.0, "pixel": 0.5},
        "scoring": {"map": "mgmsd"},
    }
    manifest.update(changes)
    return manifest


def _tensors():
    networks = get_method("skipganomaly").build_networks(ARCHITECTURE)
    return {name: value.detach().numpy() for name, value in networks.state_dict().items()}


@pytest.fixture()
def bundle_file(tmp_path):
    path = str(tmp_path / "model.safetensors")
    save_bundle(path, _manifest(), _tensors())
    return path


def test_round_trip_keeps_manifest_and_weights(bundle_file):
    tensors = _tensors()
    bundle = load_bundle(bundle_file)
    assert bundle.manifest["method"] == "skipganomaly"
    assert bundle.manifest["thresholds"] == {"slice": 1.0, "pixel": 0.5}
    assert set(bundle.tensors) == set(tensors)
    networks = bundle.build_networks("cpu")
    assert not networks.training
    assert read_manifest(bundle_file)["weights_sha256"] == bundle.manifest["weights_sha256"]


def test_round_trip_weights_are_exact_in_full_precision(tmp_path):
    tensors = _tensors()
    path = str(tmp_path / "m.safetensors")
    save_bundle(path, _manifest(), tensors)
    loaded = load_bundle(path).tensors
    for name, value in tensors.items():
        np.testing.assert_array_equal(loaded[name], value)


def test_half_precision_bundle_loads_as_float32_networks(tmp_path):
    path = str(tmp_path / "half.safetensors")
    save_bundle(path, _manifest(), _tensors(), half_precision=True)
    networks = load_bundle(path).build_networks("cpu")
    assert all(p.dtype.is_floating_point and p.dtype.itemsize == 4 for p in networks.parameters())


def _expect(path, fragment):
    with pytest.raises(BundleError) as caught:
        load_bundle(path)
    message = str(caught.value)
    assert fragment in message and os.fspath(path) in message and "\n" not in message
    return message


def test_missing_file(tmp_path):
    _expect(str(tmp_path / "nope.safetensors"), "does not exist")


def test_truncated_file(bundle_file, tmp_path):
    data = open(bundle_file, "rb").read()
    for cut in (4, 100, len(data) - 10):
        path = str(tmp_path / f"cut{cut}.safetensors")
        open(path, "wb").write(data[:cut])
        with pytest.raises(BundleError, match="truncated|corrupt"):
            load_bundle(path)


def test_flipped_weight_byte_fails_checksum(bundle_file, tmp_path):
    data = bytearray(open(bundle_file, "rb").read())
    data[-3] ^= 0xFF
    path = str(tmp_path / "flipped.safetensors")
    open(path, "wb").write(bytes(data))
    _expect(path, "checksum")


def test_garbage_header(tmp_path):
    path = str(tmp_path / "garbage.safetensors")
    body = b"{not json" + b" " * 7
    open(path, "wb").write(struct.pack("<Q", len(body)) + body)
    _expect(path, "not valid JSON")


def test_random_bytes(tmp_path):
    path = str(tmp_path / "random.safetensors")
    open(path, "wb").write(np.random.default_rng(0).bytes(4096))
    _expect(path, "not an AnomalyDetect bundle")


def test_plain_safetensors_without_manifest(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = str(tmp_path / "plain.safetensors")
    open(path, "wb").write(struct.pack("<Q", len(header)) + header + b"\0\0\0\0")
    _expect(path, "not an AnomalyDetect model bundle")


def _rewrite_metadata(source, target, edit):
    data = open(source, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    edit(header["__metadata__"])
    body = json.dumps(header).encode()
    open(target, "wb").write(struct.pack("<Q", len(body)) + body + data[8 + length :])


def test_newer_format_version(bundle_file, tmp_path):
    path = str(tmp_path / "newer.safetensors")
    _rewrite_metadata(bundle_file, path, lambda meta: meta.update(format_version="99"))
    _expect(path, "format version 99")


def test_unknown_method(bundle_file, tmp_path):
    path = str(tmp_path / "unknown.safetensors")

    def edit(meta):
        manifest = json.loads(meta["manifest"])
        manifest["method"] = "magicgan"
        meta["manifest"] = json.dumps(manifest)

    _rewrite_metadata(bundle_file, path, edit)
    _expect(path, "magicgan")


def test_incomplete_manifest(bundle_file, tmp_path):
    path = str(tmp_path / "incomplete.safetensors")

    def edit(meta):
        manifest = json.loads(meta["manifest"])
        del manifest["normalisation"]
        meta["manifest"] = json.dumps(manifest)

    _rewrite_metadata(bundle_file, path, edit)
    _expect(path, "normalisation")


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    path = str(tmp_path / "mismatch.safetensors")
    bigger = dict(ARCHITECTURE, base_channels=8)
    save_bundle(path, _manifest(architecture=bigger), _tensors())
    bundle = load_bundle(path)
    with pytest.raises(BundleError, match="do not fit"):
        bundle.build_networks("cpu")


class _Exploit:
    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_pickle_file_is_rejected_without_running_code(tmp_path):
    marker = str(tmp_path / "pwned")
    exploit = _Exploit()
    exploit.marker = marker
    path = str(tmp_path / "evil.safetensors")
    with open(path, "wb") as handle:
        pickle.dump({"weights": exploit}, handle)
    with pytest.raises(BundleError):
        load_bundle(path)
    assert not os.path.exists(marker)


def test_save_is_atomic_and_validates(tmp_path):
    with pytest.raises(BundleError, match="lacks"):
        save_bundle(str(tmp_path / "x.safetensors"), {"method": "skipganomaly"}, {})
    assert os.listdir(tmp_path) == []


def test_header_identifies_format(bundle_file):
    data = open(bundle_file, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    assert json.loads(data[8 : 8 + length])["__metadata__"]["format"] == FORMAT


def test_the_shipped_bundle_carries_no_local_path():
    import re

    from AnomalyDetectLib.bundle import default_bundle_path, read_manifest

    strings = []

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            strings.append(value)

    manifest = read_manifest(default_bundle_path())
    walk(manifest)
    assert not [s for s in strings if s.startswith(("/", "~")) or re.match(r"[A-Za-z]:[\\/]", s)], "absolute paths in the bundled manifest"
    data = manifest["training"]["data"]
    assert data["name"] == "lgg_flair" and data["volumes"] == 80 and len(data["file_list_sha256"]) == 64
