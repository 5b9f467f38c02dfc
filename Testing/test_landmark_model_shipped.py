"""The shipped head-and-neck CT landmark model: its manifest, and the `landmarks` command with it on a synthetic case.

The case (Testing/data/head_neck_template.nii.gz, see Testing/data/README.md) is the voxel-wise median of the
training patients after aligning them on their landmarks: real-like anatomy that is no single patient.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from AnomalyDetectLib.annotations import read_landmarks
from AnomalyDetectLib.bundle import DEFAULT_LANDMARK_MODEL_FILE, default_landmark_bundle_path, load_bundle, model_card
from AnomalyDetectLib.cli import main as cli_main

pytestmark = pytest.mark.usefixtures("one_thread")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
COMPACT = ("Brainstem", "Mandible", "LeftParotid", "RightParotid", "Larynx")


def test_shipped_landmark_model_says_what_it_finds_and_how_well():
    path = default_landmark_bundle_path()
    assert os.path.basename(path) == DEFAULT_LANDMARK_MODEL_FILE and os.path.getsize(path) < 2_000_000
    manifest = load_bundle(path).manifest
    assert manifest["method"] == "landmarks" and manifest["modality"] == "CT"
    assert sorted(manifest["architecture"]["classes"]) == sorted(COMPACT + ("SpinalCord", "Esophagus"))
    training = manifest["training"]
    assert "OpenKBP" in training["description"] and "data" not in training and "volumes" not in training
    assert "/work" not in json.dumps(manifest) and "openkbp_pt_" not in json.dumps(manifest)  # no local paths, no patient names
    figures = manifest["test_figures"]
    assert figures["patients"] > 0 and 0.0 <= figures["model"]["compact (5)"]["identification_rate_10mm"] <= 1.0
    assert manifest["scoring"]["min_confidence"] == manifest["selection"]["confidence_threshold"]
    card = model_card(manifest)  # what the Slicer panel shows
    assert any(line.startswith("Trained on: OpenKBP") for line in card) and any("Unseen test patients" in line for line in card)


def test_landmarks_command_with_the_shipped_model_finds_the_synthetic_cases_landmarks(tmp_path, capsys):
    """The median template is blurred by anatomical variation, so its confidences are lower than on patients
    (the right parotid's stays under the shipped threshold) and its 'truth' is the population's mean
    centroids: at the shipped threshold four of the five compact landmarks, at 0.5 all five, each within 12 mm."""
    image = os.path.join(DATA, "head_neck_template.nii.gz")
    truth = {p.name: np.asarray(p.ras) for p in read_landmarks(os.path.join(DATA, "head_neck_template_landmarks.csv"))}
    for extra, least in (([], 4), (["--min-confidence", "0.5"], 5)):
        out = tmp_path / f"out{least}"
        assert cli_main(["landmarks", image, "--out", str(out), "--quiet", "--device", "cpu", *extra]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["model"] == default_landmark_bundle_path()
        found = {p.name: np.asarray(p.ras) for p in read_landmarks(str(out / "head_neck_template_landmarks.mrk.json"))}
        errors = {name: float(np.linalg.norm(found[name] - truth[name])) for name in COMPACT if name in found}
        assert len(errors) >= least, f"compact landmarks found: {sorted(errors)}"
        assert all(error <= 12.0 for error in errors.values()), errors
