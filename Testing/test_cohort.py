"""Cohort runs of ``python -m AnomalyDetectLib detect`` (AnomalyDetectLib/cohort.py).

Covers: several inputs with a failing volume in the middle (recorded, the rest go on, exit 1),
``--resume`` keeping completed volumes and redoing the rest, a folder holding two DICOM series
and a volume file, a CSV manifest with ids and relative paths, one model load for the cohort,
and that one input still makes a single-volume run.
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from AnomalyDetectLib.cli import main
from AnomalyDetectLib.cohort import COHORT_COLUMNS, plan_cohort
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.volume import write_volume

OUTPUT_SUFFIXES = ("_anomaly.nii.gz", "_slices.csv", "_overview.png", "_summary.json")


def _phantom(folder, name, seed, shape=(10, 40, 40)):
    volume, _ = make_head_phantom(seed=seed, shape=shape, lesion=True)
    path = os.path.join(str(folder), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_volume(volume, path)
    return path


def _table(out):
    with open(os.path.join(str(out), "cohort.csv"), newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COHORT_COLUMNS
        return list(reader)


def _outputs(out, item_id, name):
    return [os.path.join(str(out), item_id, name + suffix) for suffix in OUTPUT_SUFFIXES]


def test_a_failing_volume_in_the_middle_is_recorded_and_the_rest_go_on(tmp_path, trained_bundle_path, capsys, monkeypatch):
    from AnomalyDetectLib import pipeline

    first = _phantom(tmp_path / "in", "alpha_flair.nii.gz", 1)
    broken = tmp_path / "in" / "broken_flair.nii.gz"
    broken.write_bytes(b"not an image at all")
    last = _phantom(tmp_path / "in", "gamma_flair.nrrd", 2)
    builds = []
    original = pipeline.Detector.from_bundle.__func__
    monkeypatch.setattr(pipeline.Detector, "from_bundle", classmethod(lambda cls, *a, **k: builds.append(1) or original(cls, *a, **k)))
    out = tmp_path / "out"

    code = main(["detect", first, str(broken), last, "--model", trained_bundle_path, "--out", str(out), "--device", "cpu", "--quiet"])

    assert code == 1, "the exit code says that a volume failed"
    assert builds == [1], "the model is loaded once for the cohort"
    rows = _table(out)
    assert [row["id"] for row in rows] == ["alpha_flair", "broken_flair", "gamma_flair"]
    assert [row["status"] for row in rows] == ["done", "failed", "done"]
    assert "Cannot read" in rows[1]["error"] and "broken_flair.nii.gz" in rows[1]["error"]
    assert rows[1]["volume_score"] == "" and not os.path.exists(out / "broken_flair"), "nothing is left of the failed volume"
    for row, name in ((rows[0], "alpha_flair"), (rows[2], "gamma_flair")):
        assert all(os.path.isfile(path) for path in _outputs(out, row["id"], name))
        assert row["error"] == "" and float(row["seconds"]) > 0 and row["input"] == os.path.abspath(first if name == "alpha_flair" else last)
        with open(_outputs(out, row["id"], name)[1], newline="") as handle:
            slices = [(int(r["slice"]), float(r["score"]), r["flagged"] == "1", r["skipped"] == "1") for r in csv.DictReader(handle)]
        scored = [(score, k) for k, score, _, skipped in slices if not skipped]
        assert float(row["volume_score"]) == pytest.approx(max(scored)[0], rel=1e-4)
        assert int(row["flagged_slices"]) == sum(flagged for _, _, flagged, _ in slices)
        assert int(row["skipped_slices"]) == 0 and row["profile"] == "default", "the tiny bundle has no masked profile"
        top = int(row["max_slice"])
        assert float(row["max_slice_score"]) == pytest.approx(slices[top][1], rel=1e-4) and slices[top][1] == max(scored)[0]
    assert "1 failed (broken_flair)" in capsys.readouterr().out


def test_resume_keeps_completed_volumes_and_redoes_the_rest(tmp_path, trained_bundle_path):
    folder = tmp_path / "study"
    _phantom(folder, "p1_flair.nii.gz", 3)
    _phantom(folder, "p2_flair.nii.gz", 4)
    _phantom(folder, "p3_flair.nii.gz", 5)
    (folder / "p1_mask.nii.gz").write_bytes(b"a mask companion is not an input")
    out = tmp_path / "out"
    arguments = ["detect", str(folder), "--model", trained_bundle_path, "--out", str(out), "--device", "cpu", "--quiet"]
    assert main(arguments) == 0
    assert [row["id"] for row in _table(out)] == ["p1_flair", "p2_flair", "p3_flair"]
    kept = {path: os.stat(path).st_mtime_ns for path in _outputs(out, "p1_flair", "p1_flair")}
    os.remove(_outputs(out, "p2_flair", "p2_flair")[0])  # as if a run had been killed while writing p2 (incomplete)
    os.remove(_outputs(out, "p3_flair", "p3_flair")[3])

    assert main(arguments + ["--resume"]) == 0

    rows = _table(out)
    assert [row["status"] for row in rows] == ["resumed", "done", "done"]
    assert rows[0]["volume_score"] != "" and rows[0]["max_slice"] != ""
    assert {path: os.stat(path).st_mtime_ns for path in kept} == kept, "completed outputs are not rewritten"
    assert all(os.path.isfile(path) for i in (2, 3) for path in _outputs(out, f"p{i}_flair", f"p{i}_flair"))
    assert main(arguments) == 0 and [row["status"] for row in _table(out)] == ["done"] * 3, "without --resume everything runs again"


def test_resume_redoes_volumes_analysed_with_another_model(tmp_path, trained_bundle_path):
    import shutil

    inputs = [_phantom(tmp_path / "in", f"v{i}.nii.gz", 6 + i) for i in range(2)]
    other = str(tmp_path / "other.safetensors")
    shutil.copy(trained_bundle_path, other)
    out = str(tmp_path / "out")
    assert main(["detect", *inputs, "--model", trained_bundle_path, "--out", out, "--device", "cpu", "--quiet"]) == 0
    assert main(["detect", *inputs, "--model", other, "--out", out, "--device", "cpu", "--quiet", "--resume"]) == 0
    assert [row["status"] for row in _table(out)] == ["done", "done"]


def test_a_folder_with_two_dicom_series_and_a_volume_file(tmp_path, trained_bundle_path):
    from test_volume_dicom import SERIES_A, SERIES_B, write_dicom_series

    folder = tmp_path / "exam"
    for seed, uid, prefix in ((10, SERIES_A, "a"), (11, SERIES_B, "b")):
        volume, _ = make_head_phantom(seed=seed, shape=(8, 40, 40), lesion=True)
        write_dicom_series(folder / "dicom", volume.voxels.astype(np.int16), spacing=(1.0, 1.0, 2.0), series_uid=uid, prefix=prefix,
                           modality="MR")
    _phantom(folder, "extra.nii.gz", 12)
    items = plan_cohort([str(folder)])
    assert [(item.id, item.series_uid) for item in items] == [("extra", None), ("dicom_series1", SERIES_A), ("dicom_series2", SERIES_B)]
    out = tmp_path / "out"

    assert main(["detect", str(folder), "--model", trained_bundle_path, "--out", str(out), "--device", "cpu", "--quiet"]) == 0

    rows = _table(out)
    assert [(row["id"], row["series_uid"], row["status"]) for row in rows] == [
        ("extra", "", "done"), ("dicom_series1", SERIES_A, "done"), ("dicom_series2", SERIES_B, "done")]
    assert rows[1]["volume_score"] != rows[2]["volume_score"], "each series is read, not the largest one twice"
    for row in rows[1:]:
        assert all(os.path.isfile(path) for path in _outputs(out, row["id"], "dicom"))
    # One series in a folder, or --series-uid, is the single-volume run it always was.
    assert plan_cohort([str(folder / "dicom")], series_uid=SERIES_A) is None


def test_a_csv_manifest_names_ids_and_relative_paths(tmp_path, trained_bundle_path):
    _phantom(tmp_path / "data", "scan_a.nii.gz", 13)
    _phantom(tmp_path / "data", "scan_b.nii.gz", 14)
    manifest = tmp_path / "cohort_in.csv"
    manifest.write_text("id,image\nsubject 1,data/scan_a.nii.gz\n,data/scan_b.nii.gz\nsubject 1,data/scan_b.nii.gz\n")
    out = tmp_path / "out"
    assert main(["detect", str(manifest), "--model", trained_bundle_path, "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    rows = _table(out)
    assert [row["id"] for row in rows] == ["subject_1", "scan_b", "subject_1-2"], "ids are folder-safe and unique"
    assert rows[0]["input"] == str(tmp_path / "data" / "scan_a.nii.gz")
    assert all(os.path.isfile(path) for path in _outputs(out, "subject_1-2", "scan_b"))

    bad = tmp_path / "no_image_column.csv"
    bad.write_text("path\nx.nii.gz\n")
    with pytest.raises(AnomalyDetectError, match="'image' column"):
        plan_cohort([str(bad)])
    assert main(["detect", str(bad), "--model", trained_bundle_path, "--out", str(out), "--quiet"]) == 2


def test_one_input_is_still_a_single_run_and_an_empty_folder_is_an_error(tmp_path):
    path = _phantom(tmp_path / "in", "one.nii.gz", 15)
    assert plan_cohort([path]) is None
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnomalyDetectError, match="No volume files or DICOM series"):
        plan_cohort([str(tmp_path / "empty")])
    with pytest.raises(AnomalyDetectError, match="does not exist"):
        plan_cohort([path, str(tmp_path / "missing.nii.gz")])
