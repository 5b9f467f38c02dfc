"""Landmark detector: training on phantoms through the CLI, localisation, absent landmarks, geometry, cancel, evaluation."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from AnomalyDetectLib.annotations import Landmark, write_fcsv, write_markups_json
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.errors import AnomalyDetectError, BundleError, Cancelled, VolumeError
from AnomalyDetectLib.landmark_detection import LandmarkDetector
from AnomalyDetectLib.patches import extract_planes_25d
from AnomalyDetectLib.phantom import make_landmark_phantom
from AnomalyDetectLib.pipeline import Detector
from AnomalyDetectLib.volume import Volume, write_volume

from trainer.cli import main as trainer_main
from trainer.landmark_eval import leave_one_out
from trainer.landmarks import LandmarkFitConfig, discover_landmark_cases

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = {"positives": 16, "body_negatives": 32, "hard_negatives": 32, "hard_pool": 400, "shell_mm": 20.0}
DETECTION = {"extent_mm": 32.0, "grid_mm": 6.0}


def _write_case(folder, seed, writer=write_markups_json, **phantom):
    rng = np.random.default_rng(seed)
    phantom.setdefault("spacing", tuple(rng.uniform(1.2, 2.6, 3)))
    volume, centres = make_landmark_phantom(seed, **phantom)
    write_volume(volume, os.path.join(folder, f"case{seed}.nii.gz"))
    suffix = ".mrk.json" if writer is write_markups_json else ".fcsv"
    writer([Landmark(name, point) for name, point in centres.items()], os.path.join(folder, f"case{seed}{suffix}"))
    return volume, centres


@pytest.fixture(scope="module")
def landmark_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("landmark_data")
    for seed in range(5):
        _write_case(str(folder), seed, writer=write_fcsv if seed % 2 else write_markups_json)
    out = str(tmp_path_factory.mktemp("landmark_model") / "landmarks.safetensors")
    code = trainer_main(["fit", "--method", "landmarks", "--data", str(folder), "--out", out, "--modality", "CT", "--epochs", "6",
                         "--training", json.dumps(SMALL), "--scoring", json.dumps(DETECTION), "--quiet"])
    assert code == 0
    return out


def test_detector_finds_phantom_landmarks_within_a_few_mm(landmark_model, margin):
    detector = LandmarkDetector.from_bundle(load_bundle(landmark_model), "cpu")
    assert detector.classes == ["ball", "rod", "shell"]
    oblique = np.array([[0.0, -1.0, 0.0], [0.94, 0.0, 0.34], [-0.34, 0.0, 0.94]])  # rows/columns swapped, tilted 20°
    for seed, geometry in ((200, {"spacing": (1.3, 1.3, 2.4)}), (201, {"spacing": (2.2, 1.4, 1.6), "direction": oblique})):
        volume, centres = make_landmark_phantom(seed, **geometry)
        result = detector.detect(volume)
        assert sorted(f.name for f in result.found) == ["ball", "rod", "shell"]
        for name, centre in centres.items():
            error = np.linalg.norm(result.position(name) - np.asarray(centre))
            margin(f"landmarks seed {seed} {name} error (mm)", error, "< 4")
            assert error < 4.0, f"seed {seed}: {name} found {error:.1f} mm from its centre"


def test_an_absent_landmark_is_not_reported(landmark_model, margin):
    detector = LandmarkDetector.from_bundle(load_bundle(landmark_model), "cpu")
    volume, centres = make_landmark_phantom(202, spacing=(1.6, 1.6, 2.5), present=("ball", "shell"))
    result = detector.detect(volume)
    margin("landmarks absent rod: best confidence / min_confidence", result.best_confidence["rod"] / detector.settings["min_confidence"], "< 1")
    assert "rod" in result.absent and result.position("rod") is None
    assert result.best_confidence["rod"] < detector.settings["min_confidence"]
    assert sorted(f.name for f in result.found) == ["ball", "shell"]


def test_final_centring_follows_the_manifest_and_bad_settings_are_refused(landmark_model):
    import copy

    bundle = load_bundle(landmark_model)
    volume, centres = make_landmark_phantom(204, spacing=(1.5, 1.5, 2.0))

    def detector_with(**settings):
        manifest = copy.deepcopy(bundle.manifest)
        manifest["scoring"].update(settings)
        return LandmarkDetector(manifest, bundle.build_networks("cpu"), "cpu")

    unmoved = detector_with(centre_iterations=0).detect(volume)
    centred = detector_with(centre_window=0.5, centre_iterations=3).detect(volume)
    assert LandmarkDetector.from_bundle(bundle, "cpu").settings["centre_iterations"] == 3, "absent from the file: the method's default"
    shifts = [np.linalg.norm(np.subtract(centred.position(n), unmoved.position(n))) for n in centres]
    assert max(shifts) > 0.1, "the mean shift moves points off the refinement grid"
    for name, centre in centres.items():
        assert np.linalg.norm(centred.position(name) - np.asarray(centre)) < 4.0
    with pytest.raises(AnomalyDetectError, match="centre_window"):
        detector_with(centre_window=5.0).detect(volume)
    with pytest.raises(BundleError, match="centre_iterations"):
        detector_with(centre_iterations="three")


def test_progress_cancel_and_the_wrong_kind_of_bundle(landmark_model, trained_bundle_path):
    bundle = load_bundle(landmark_model)
    detector = LandmarkDetector.from_bundle(bundle, "cpu")
    volume, _ = make_landmark_phantom(203, spacing=(1.5, 1.5, 2.0))
    calls = []
    detector.detect(volume, progress=lambda fraction, message: calls.append(fraction))
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)
    with pytest.raises(Cancelled):
        detector.detect(volume, should_cancel=lambda: True)
    with pytest.raises(BundleError, match="not an anomaly model"):
        Detector.from_bundle(bundle, "cpu")
    with pytest.raises(BundleError, match="not a landmark detector"):
        LandmarkDetector.from_bundle(load_bundle(trained_bundle_path), "cpu")
    with pytest.raises(BundleError, match="does not know"):
        detector.detect(volume, names=["liver"])


def test_evaluate_reports_errors_and_warns_about_training_volumes(landmark_model, tmp_path, capsys, margin):
    folder = tmp_path / "held_out"
    folder.mkdir()
    _write_case(str(folder), 210)
    _write_case(str(folder), 211, present=("ball", "shell"))
    out_json = tmp_path / "metrics.json"
    assert trainer_main(["evaluate", "--model", landmark_model, "--data", str(folder), "--out-json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    assert "warning" not in printed and "identification rate" in printed
    metrics = json.loads(out_json.read_text())
    assert metrics["annotated_landmarks"] == 5 and metrics["false_reports"] == 0
    margin("landmarks evaluate median error (mm)", metrics["median_error_mm"], "< 4")
    margin("landmarks evaluate patch top-1 accuracy", metrics["patch_top1_accuracy"], ">= 0.9")
    assert metrics["identification_rate_10mm"] == 1.0 and metrics["median_error_mm"] < 4.0
    assert metrics["patch_top1_accuracy"] >= 0.9
    seen = tmp_path / "seen"
    seen.mkdir()
    _write_case(str(seen), 0)  # the very volume the model trained on (same seed), in another folder
    assert trainer_main(["evaluate", "--model", landmark_model, "--data", str(seen)]) == 0
    assert "1 of these volumes were used to train the model (case0)" in capsys.readouterr().out


def test_leave_one_out_trains_once_per_volume(tmp_path):
    for seed in range(3):
        _write_case(str(tmp_path), 300 + seed, present=("ball", "shell") if seed == 2 else ("ball", "shell", "rod"), shape=(32, 52, 52))
    cases = discover_landmark_cases(str(tmp_path))
    config = LandmarkFitConfig(data=str(tmp_path), out="", epochs=1, detection=DETECTION, **SMALL)
    logged = []
    metrics = leave_one_out(config, cases, str(tmp_path), log=logged.append)
    assert len(logged) == 3
    assert metrics["annotated_landmarks"] == 8 and metrics["untrainable"] == [] and metrics["skipped_folds"] == []
    assert {r["volume"] for r in metrics["records"]} <= {"case300", "case301", "case302"}


def test_landmark_data_sources_and_their_errors(tmp_path):
    _write_case(str(tmp_path), 400)
    (tmp_path / "unannotated.nii.gz").write_bytes((tmp_path / "case400.nii.gz").read_bytes())
    cases = discover_landmark_cases(str(tmp_path))
    assert [(c.patient, os.path.basename(c.annotations)) for c in cases] == [("case400", "case400.mrk.json")]
    manifest = tmp_path / "cases.csv"
    manifest.write_text("image,landmarks,patient\ncase400.nii.gz,case400.mrk.json,p1\n")
    assert [c.patient for c in discover_landmark_cases(str(manifest))] == ["p1"]
    manifest.write_text("image,patient\ncase400.nii.gz,p1\n")
    with pytest.raises(AnomalyDetectError, match="'landmarks' columns"):
        discover_landmark_cases(str(manifest))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AnomalyDetectError, match="No volume with a landmark file"):
        discover_landmark_cases(str(empty))


def test_rotated_planes_match_a_rotated_volume():
    """A 90° rotation about S of the sampling planes equals sampling a volume rotated the other way."""
    rng = np.random.default_rng(0)
    voxels = rng.normal(size=(9, 11, 11)).astype(np.float32)
    matrix = np.diag([1.0, 1.0, 1.0, 1.0])
    volume = Volume(voxels, matrix)
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # The same voxels under ijk->RAS = Q·ijk: axis-aligned planes through ijk c read voxels at c + Qᵀ·offset,
    # which is what planes rotated by Qᵀ read in the identity-geometry volume.
    rotated_matrix = np.eye(4)
    rotated_matrix[:3, :3] = quarter.T
    plain = extract_planes_25d(Volume(voxels, rotated_matrix), [[5, 5, 4]], size=5, extent_mm=5.0)
    turned = extract_planes_25d(volume, [[5, 5, 4]], size=5, extent_mm=5.0, rotation=quarter)
    np.testing.assert_allclose(turned, plain, atol=1e-5)
    assert not np.allclose(turned[0, 0], extract_planes_25d(volume, [[5, 5, 4]], size=5, extent_mm=5.0)[0, 0])
    with pytest.raises(VolumeError, match="rotation"):
        extract_planes_25d(volume, [[5, 5, 4]], size=5, extent_mm=5.0, rotation=np.diag([2.0, 1.0, 1.0]))
    with pytest.raises(VolumeError, match="millimetre mode"):
        extract_planes_25d(volume, [[5, 5, 4]], size=5, rotation=quarter)


def test_detect_cli_bounds_the_anomaly_search_by_two_landmarks(landmark_model, trained_bundle_path, tmp_path):
    from AnomalyDetectLib.annotations import read_landmarks
    from AnomalyDetectLib.cli import main as cli_main

    volume, centres = make_landmark_phantom(220, spacing=(1.5, 1.5, 2.0))
    path = tmp_path / "body.nii.gz"
    write_volume(volume, str(path))
    out = tmp_path / "out"
    code = cli_main(["detect", str(path), "--model", trained_bundle_path, "--out", str(out), "--quiet", "--landmark-model", landmark_model,
                     "--roi-between", "ball", "shell", "--roi-margin", "4"])
    assert code == 0
    summary = json.loads((out / "body_summary.json").read_text())
    written = {p.name: np.asarray(p.ras) for p in read_landmarks(str(out / "body_landmarks.mrk.json"))}
    assert sorted(written) == ["ball", "shell"] and [entry["name"] for entry in summary["landmarks"]] == ["ball", "shell"]
    low = min(written["ball"][2], written["shell"][2]) - 4
    high = max(written["ball"][2], written["shell"][2]) + 4
    z = volume.slice_positions_mm()
    half = volume.spacing[2] / 2  # a slice counts when its slab (centre ± half the spacing) meets the range
    expected = [k for k in range(volume.shape[0]) if not (z[k] + half > low and z[k] - half < high)]
    assert summary["skipped_slices"] == expected and 0 < len(expected) < volume.shape[0]
    assert summary["roi"]["source"].startswith("between landmarks ball and shell")
    assert cli_main(["detect", str(path), "--model", trained_bundle_path, "--out", str(tmp_path / "o2"), "--quiet",
                     "--roi-between", "ball", "shell"]) == 2


def _check_markups_schema_fields(document):
    """The fields Slicer's markups schema (markups-schema-v1.0.3.json) requires or types, for a point list."""
    from AnomalyDetectLib.annotations import MARKUPS_SCHEMA

    assert document["@schema"] == MARKUPS_SCHEMA and isinstance(document["markups"], list) and len(document["markups"]) == 1
    markup = document["markups"][0]
    assert markup["type"] == "Fiducial" and markup["coordinateSystem"] in ("LPS", "RAS") and markup["coordinateUnits"] == "mm"
    for point in markup["controlPoints"]:
        assert all(isinstance(point[key], str) for key in ("id", "label", "description", "associatedNodeID"))
        assert len(point["position"]) == 3 and all(isinstance(v, float) for v in point["position"])
        assert len(point["orientation"]) == 9 and point["positionStatus"] in ("undefined", "preview", "defined")
        assert all(isinstance(point[key], bool) for key in ("selected", "locked", "visibility"))


def test_landmarks_command_writes_markups_and_csv(landmark_model, tmp_path, capsys):
    import csv

    from AnomalyDetectLib.annotations import read_landmarks
    from AnomalyDetectLib.cli import main as cli_main

    volume, centres = make_landmark_phantom(230, spacing=(1.4, 1.7, 2.2))
    path = tmp_path / "neck.nii.gz"
    write_volume(volume, str(path))
    before = path.read_bytes()
    out = tmp_path / "out"
    assert cli_main(["landmarks", str(path), "--model", landmark_model, "--out", str(out), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert sorted(os.listdir(out)) == ["neck_landmarks.csv", "neck_landmarks.mrk.json"] and path.read_bytes() == before
    document = json.loads((out / "neck_landmarks.mrk.json").read_text())
    _check_markups_schema_fields(document)
    marked = {p.name: np.asarray(p.ras) for p in read_landmarks(str(out / "neck_landmarks.mrk.json"))}
    assert sorted(marked) == ["ball", "rod", "shell"] == sorted(entry["name"] for entry in summary["landmarks"])
    for name, centre in centres.items():
        assert np.linalg.norm(marked[name] - np.asarray(centre)) < 4.0, name
    # CSV round trip: the project's reader gives the same points; the confidence matches the markups description.
    tabled = {p.name: np.asarray(p.ras) for p in read_landmarks(str(out / "neck_landmarks.csv"))}
    assert all(np.allclose(tabled[name], marked[name], atol=1e-6) for name in marked)
    with open(out / "neck_landmarks.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["name", "x", "y", "z", "coordinate_system", "confidence"]
    described = {p["label"]: p["description"] for p in document["markups"][0]["controlPoints"]}
    for row in rows:
        assert row["coordinate_system"] == "LPS" and 0.5 <= float(row["confidence"]) <= 1.0
        assert described[row["name"]] == f"confidence {float(row['confidence']):.2f}"


def test_landmarks_command_errors_write_nothing(landmark_model, trained_bundle_path, tmp_path, capsys):
    from AnomalyDetectLib.cli import main as cli_main

    volume, _ = make_landmark_phantom(231, spacing=(1.5, 1.5, 2.0))
    path = tmp_path / "case.nii.gz"
    write_volume(volume, str(path))
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a volume")
    water = tmp_path / "water.nii.gz"  # a body without any of the landmarks
    write_volume(make_landmark_phantom(232, spacing=(1.5, 1.5, 2.0), present=())[0], str(water))
    cases = [([str(broken), "--model", landmark_model], "broken.nii.gz"),
             ([str(path), "--model", trained_bundle_path], "not a landmark detector"),
             ([str(water), "--model", landmark_model], "No landmark of the model was found")]
    for arguments, message in cases:
        out = tmp_path / f"out_{len(os.listdir(tmp_path))}"
        assert cli_main(["landmarks", *arguments, "--out", str(out), "--quiet"]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists() or os.listdir(out) == []


def test_training_resumes_from_its_checkpoint(tmp_path):
    import dataclasses

    from trainer.landmarks import checkpoint_path, fit_landmarks

    for seed in range(2):
        _write_case(str(tmp_path), 400 + seed, shape=(32, 52, 52))
    cases = discover_landmark_cases(str(tmp_path))
    out = str(tmp_path / "model.safetensors")
    config = LandmarkFitConfig(data=str(tmp_path), out=out, epochs=1, detection=DETECTION, quiet=True, **SMALL)
    first = fit_landmarks(config, cases)
    assert os.path.isfile(checkpoint_path(out)) and first["training"]["epochs"] == 1
    resumed = fit_landmarks(dataclasses.replace(config, epochs=2, resume=True), cases)
    assert [row["epoch"] for row in resumed["training"]["history"]] == [0, 1]
    assert resumed["training"]["training_seconds"] >= first["training"]["training_seconds"]
    with pytest.raises(AnomalyDetectError, match="learnt the landmarks"):
        fit_landmarks(dataclasses.replace(config, epochs=3, resume=True, classes=["ball", "shell"]), cases)
    with pytest.raises(AnomalyDetectError, match="no checkpoint"):
        fit_landmarks(dataclasses.replace(config, out=str(tmp_path / "other.safetensors"), resume=True), cases)
