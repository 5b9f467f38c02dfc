"""python -m AnomalyDetectLib detect: files written, geometry kept, errors for people."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from AnomalyDetectLib.bundle import default_bundle_path, read_manifest
from AnomalyDetectLib.cli import main, sample_volume_path
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.volume import read_volume, write_volume
from conftest import ROOT


@pytest.fixture()
def phantom_file(tmp_path):
    angle = np.deg2rad(12.0)
    rotation = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(angle), -np.sin(angle)], [0.0, np.sin(angle), np.cos(angle)]])
    oblique = np.eye(4)
    oblique[:3, :3] = rotation @ np.diag([-0.9, -0.9, 3.0])
    oblique[:3, 3] = [10.0, 20.0, -5.0]
    volume, _ = make_head_phantom(seed=77, shape=(14, 48, 40), lesion=True, ijk_to_ras=oblique)
    path = str(tmp_path / "input" / "patient7_flair.nrrd")
    os.makedirs(os.path.dirname(path))
    write_volume(volume, path)
    return path


def test_detect_writes_all_outputs_on_the_input_grid(phantom_file, trained_bundle_path, tmp_path):
    before = open(phantom_file, "rb").read()
    out = str(tmp_path / "out")
    assert main(["detect", phantom_file, "--model", trained_bundle_path, "--out", out, "--device", "cpu", "--quiet"]) == 0
    assert sorted(os.listdir(out)) == sorted(
        ["patient7_flair_anomaly.nii.gz", "patient7_flair_slices.csv", "patient7_flair_overview.png", "patient7_flair_summary.json"]
    )
    source, anomaly = read_volume(phantom_file), read_volume(os.path.join(out, "patient7_flair_anomaly.nii.gz"))
    assert anomaly.shape == source.shape
    np.testing.assert_allclose(anomaly.ijk_to_ras, source.ijk_to_ras, atol=1e-4)
    rows = list(csv.reader(open(os.path.join(out, "patient7_flair_slices.csv"))))
    assert rows[0] == ["slice", "position_mm", "score", "flagged", "skipped"]
    assert [int(r[0]) for r in rows[1:]] == list(range(source.shape[0]))
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], source.slice_positions_mm(), atol=1e-3)
    summary = json.load(open(os.path.join(out, "patient7_flair_summary.json")))
    assert summary["flagged_slices"] == [int(r[0]) for r in rows[1:] if r[3] == "1"]
    assert all(r[4] == "0" for r in rows[1:]), "no region of interest: nothing skipped"
    assert open(phantom_file, "rb").read() == before, "the input file is untouched"


def test_unreadable_input_gives_a_clear_error_and_writes_nothing(tmp_path, trained_bundle_path, capsys):
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"this is not an image")
    out = tmp_path / "out"
    assert main(["detect", str(bad), "--model", trained_bundle_path, "--out", str(out), "--quiet"]) == 2
    assert "Cannot read" in capsys.readouterr().err and "broken.nii.gz" in capsys.readouterr().err + str(bad)
    assert os.listdir(out) == []


def test_unwritable_output_folder(tmp_path, phantom_file, trained_bundle_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["detect", phantom_file, "--model", trained_bundle_path, "--out", str(blocker / "sub"), "--quiet"]) == 2
    assert "Cannot create output folder" in capsys.readouterr().err


def test_corrupt_model_gives_a_clear_error(tmp_path, phantom_file, capsys):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"\x00" * 64)
    assert main(["detect", phantom_file, "--model", str(model), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "model.safetensors" in capsys.readouterr().err


def test_info_prints_the_manifest(trained_bundle_path, capsys):
    assert main(["info", "--model", trained_bundle_path]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "skipganomaly"


def test_bundled_default_runs_on_the_bundled_sample(tmp_path):
    """The README's run command, as a user types it, from a fresh process."""
    manifest = read_manifest(default_bundle_path())
    assert manifest["method"] == "translation" and manifest["modality"] == "MR"
    out = tmp_path / "out"
    completed = subprocess.run([sys.executable, "-m", "AnomalyDetectLib", "detect", "--out", str(out), "--quiet"],
                               cwd=str(tmp_path), capture_output=True, text=True, timeout=600,
                               env=dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "AnomalyDetect"), ROOT])))
    assert completed.returncode == 0, completed.stderr
    name = os.path.basename(sample_volume_path()).replace(".nii.gz", "")
    rows = list(csv.reader(open(out / f"{name}_slices.csv")))
    assert len(rows) - 1 == read_volume(sample_volume_path()).shape[0]
    summary = json.load(open(out / f"{name}_summary.json"))
    assert summary["model"] == os.path.abspath(default_bundle_path())


def test_batch_size_and_roi_margin_defaults_have_one_home(phantom_file, trained_bundle_path, tmp_path, monkeypatch):
    from AnomalyDetectLib import pipeline
    from AnomalyDetectLib.cli import build_parser
    from AnomalyDetectLib.defaults import ROI_MARGIN_MM
    from AnomalyDetectLib.models.anogan.method import AnoGAN
    from AnomalyDetectLib.roi import RegionOfInterest

    arguments = build_parser().parse_args(["detect"])
    assert arguments.batch_size is None, "no CLI default overriding a method's own detect batch (AnoGAN: 64)"
    assert AnoGAN.DETECT_BATCH_SIZE == 64
    assert arguments.roi_margin == ROI_MARGIN_MM
    roi = RegionOfInterest.between({"a": (0, 0, 0), "b": (0, 0, 10)}, "a", "b")
    assert (roi.lower[2], roi.upper[2]) == (-ROI_MARGIN_MM, 10 + ROI_MARGIN_MM)
    seen = []
    original = pipeline.Detector.run
    monkeypatch.setattr(pipeline.Detector, "run", lambda self, *a, **k: seen.append(k.get("batch_size")) or original(self, *a, **k))
    assert main(["detect", phantom_file, "--model", trained_bundle_path, "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert seen == [None], "the method's DETECT_BATCH_SIZE applies"
