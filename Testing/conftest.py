"""Shared fixtures: synthetic phantom data sets and a small model trained on them.

The trained bundle is made once per test session (a few seconds on two CPU cores)
with the real trainer, so every test that uses it exercises the shipped code path.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (os.path.join(ROOT, "AnomalyDetect"), ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)

from AnomalyDetectLib.phantom import make_head_phantom  # noqa: E402
from AnomalyDetectLib.volume import write_volume  # noqa: E402

# Small enough to train in ~25 s on two cores; the finer skips are off so the lesion cannot be copied through.
TINY_ARCHITECTURE = {"base_channels": 8, "depth": 3, "skips": [False, False, True]}
TINY_TRAINING = {"learning_rate": 2e-3}


def write_phantom_dataset(folder, count=10, lesion_every=2, shape=(24, 48, 48), seed_offset=0):
    """``count`` phantoms; every ``lesion_every``-th has a lesion. Returns the folder."""
    os.makedirs(folder, exist_ok=True)
    for index in range(count):
        seed = seed_offset + index
        volume, mask = make_head_phantom(seed=seed, shape=shape, lesion=index % lesion_every == 1)
        write_volume(volume, os.path.join(folder, f"case{seed:03d}_flair.nii.gz"))
        write_volume(volume.with_voxels(mask.astype(np.uint8)), os.path.join(folder, f"case{seed:03d}_mask.nii.gz"))
    return str(folder)


@pytest.fixture(scope="session")
def phantom_dataset(tmp_path_factory):
    return write_phantom_dataset(tmp_path_factory.mktemp("phantoms"))


@pytest.fixture(scope="session")
def trained_bundle_path(phantom_dataset, tmp_path_factory):
    import torch

    from trainer.fit import FitConfig, fit

    out = str(tmp_path_factory.mktemp("model") / "tiny.safetensors")
    # One training thread whatever the machine or the test that first asks for this session fixture: float sums
    # in another order train another model (with two threads its lesion/tissue margin fell from 2.3 to 1.85).
    threads = torch.get_num_threads()
    try:
        fit(FitConfig(
            method="skipganomaly", data=phantom_dataset, out=out, input_size=32, epochs=100, batch_size=16, validation_fraction=0.3,
            seed=0, device="cpu", architecture=dict(TINY_ARCHITECTURE), training=dict(TINY_TRAINING), quiet=True, threads=1,
        ))
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="session")
def tiny_bundle_path(trained_bundle_path):
    """The name the Slicer-module tests use for a small valid bundle."""
    return trained_bundle_path


@pytest.fixture
def margin(record_property):
    """``margin(name, value, bound)`` records a statistic a tiny-training test asserts, with its bound as text.

    The end of every run lists them ("margins of the tiny-training tests"), so a CI log on a new torch
    version shows how far each one is from its bound before it tips over. Returns ``value``.
    """

    def record(name, value, bound):
        record_property("margin", (name, float(value), bound))
        return value

    return record


def pytest_terminal_summary(terminalreporter):
    rows = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", None) != "call":
                continue
            rows += [(value, outcome) for key, value in report.user_properties if key == "margin"]
    if rows:
        import torch

        terminalreporter.write_sep("-", f"margins of the tiny-training tests (torch {torch.__version__}, {torch.get_num_threads()} threads)")
        for (name, value, bound), outcome in sorted(rows):
            terminalreporter.write_line(f"{name}: {value:.3f} (required {bound}){'' if outcome == 'passed' else '  FAILED'}")


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a test module (``pytestmark = pytest.mark.usefixtures("one_thread")``).

    The machines running these tests share two cores with other jobs; one thread is then far faster
    than two (no oversubscription) and reproducible. The previous setting is restored afterwards.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)



@pytest.fixture(scope="session")
def plumbing_landmark_bundle_path(tmp_path_factory):
    """A valid landmark bundle with random weights (see ``phantom.write_plumbing_landmark_bundle``)."""
    from AnomalyDetectLib.phantom import write_plumbing_landmark_bundle

    return write_plumbing_landmark_bundle(str(tmp_path_factory.mktemp("landmark_plumbing") / "plumbing_landmarks.safetensors"))


# --- Slicer: real Slicer core (slicer-core wheel) with the Qt stand-in (Testing/slicer_standin) --------

STANDIN_DIR = os.path.join(ROOT, "Testing", "slicer_standin")
MODULE_DIR = os.path.join(ROOT, "AnomalyDetect")


def start_slicer():
    """``slicer`` on real Slicer core (Testing/slicer_core_backend.py), with the module folder first on sys.path.

    Without the slicer-core wheel the test fails, except on Python < 3.10 where the wheel does not exist
    (Slicer 5.8's Python 3.9): there it is skipped with the reason.
    """
    pytest.importorskip("vtk")
    import slicer_core_backend

    if not slicer_core_backend.available():
        if sys.version_info < (3, 10):
            pytest.skip(slicer_core_backend.missingMessage())
        pytest.fail(slicer_core_backend.missingMessage(), pytrace=False)
    if MODULE_DIR in sys.path:
        sys.path.remove(MODULE_DIR)
    sys.path.insert(0, MODULE_DIR)
    return slicer_core_backend.start()


@pytest.fixture(scope="module")
def slicer_module():
    """``(slicer, AnomalyDetect)``: Slicer core with the Qt stand-in, and the module file imported through it."""
    import importlib
    import types

    slicer = start_slicer()
    module = importlib.import_module("AnomalyDetect")
    # What the application does when it loads the module (resourcePath needs slicer.modules.<name>.path).
    slicer.modules.anomalydetect = types.SimpleNamespace(path=os.path.join(MODULE_DIR, "AnomalyDetect.py"))
    return slicer, module


@pytest.fixture
def scene(slicer_module):
    """Slicer's scene, closed before and after the test (parameter nodes removed too: see ``clearScene``)."""
    from slicer_core_backend import clearScene

    slicer, _module = slicer_module
    clearScene(slicer.mrmlScene)
    yield slicer.mrmlScene
    clearScene(slicer.mrmlScene)


@pytest.fixture
def widget(slicer_module, scene):
    """The module widget as Slicer makes it: a parent module panel, setup(), then enter()."""
    slicer, module = slicer_module
    import qt

    parent = slicer.qSlicerScriptedLoadableModuleWidget()
    parent.setLayout(qt.QVBoxLayout())
    parent.setMRMLScene(slicer.mrmlScene)
    instance = module.AnomalyDetectWidget(parent)
    instance.setup()
    parent.enter()
    instance.enter()
    slicer.util._displayedMessages.clear()
    yield instance
    instance.cleanup()
