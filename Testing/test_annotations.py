"""Tests of AnomalyDetectLib.annotations: landmark lists in Slicer markups JSON, Slicer .fcsv and plain CSV.

All files are written in ``tmp_path``; the hand-written ones follow what Slicer itself writes. Run with::

    cd /work/main && OMP_NUM_THREADS=1 python -m pytest -q Testing/test_annotations.py
"""

from __future__ import annotations

import csv
import json
import os

import pytest
from AnomalyDetectLib.annotations import (
    MARKUPS_SCHEMA,
    Landmark,
    read_landmarks,
    write_fcsv,
    write_landmarks_csv,
    write_markups_json,
)
from AnomalyDetectLib.errors import AnnotationError, AnomalyDetectError, OutputError

LANDMARKS = [Landmark("nasion", (1.5, -20.25, 33.0)), Landmark("left tragus, upper", (-70.0, 0.0, -4.125)), Landmark("inion", (0.0, 95.5, 12.0))]
WRITERS = {".mrk.json": write_markups_json, ".fcsv": write_fcsv, ".csv": write_landmarks_csv}


def _in_file(ras, system):
    x, y, z = ras
    return [-x + 0.0, -y + 0.0, z] if system == "LPS" else [x, y, z]


def _fcsv_rows(path):
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.reader(lines))


def _markups(tmp_path, points, system="LPS", name="points.mrk.json"):
    markup = {"type": "Fiducial", "controlPoints": points}
    if system is not None:
        markup["coordinateSystem"] = system
    path = tmp_path / name
    path.write_text(json.dumps({"@schema": MARKUPS_SCHEMA, "markups": [markup]}))
    return path


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("system", ["RAS", "LPS"])
@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_round_trip_returns_the_same_ras_points(tmp_path, suffix, system):
    path = tmp_path / f"points{suffix}"
    WRITERS[suffix](LANDMARKS, path, coordinate_system=system)
    assert read_landmarks(path) == LANDMARKS
    assert not [name for name in os.listdir(tmp_path) if name != path.name], "a temporary file was left behind"


@pytest.mark.parametrize("system", ["RAS", "LPS"])
def test_markups_json_stores_the_stated_system_as_slicer_writes_it(tmp_path, system):
    path = tmp_path / "points.mrk.json"
    write_markups_json(LANDMARKS, path, coordinate_system=system)
    document = json.loads(path.read_text())
    assert document["@schema"] == MARKUPS_SCHEMA
    (markup,) = document["markups"]
    assert (markup["type"], markup["coordinateSystem"], markup["coordinateUnits"]) == ("Fiducial", system, "mm")
    identity = [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0] if system == "LPS" else [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    for index, (point, landmark) in enumerate(zip(markup["controlPoints"], LANDMARKS), start=1):
        assert point["id"] == str(index) and point["label"] == landmark.name
        assert point["position"] == _in_file(landmark.ras, system)
        assert point["orientation"] == identity
        assert (point["selected"], point["locked"], point["visibility"], point["positionStatus"]) == (True, False, True, "defined")


@pytest.mark.parametrize("system", ["RAS", "LPS"])
def test_fcsv_stores_the_stated_system_with_slicer_header_and_columns(tmp_path, system):
    path = tmp_path / "points.fcsv"
    write_fcsv(LANDMARKS, path, coordinate_system=system)
    header = path.read_text().splitlines()[:3]
    assert header[0].startswith("# Markups fiducial file version = ")
    assert header[1] == f"# CoordinateSystem = {system}"
    assert header[2] == "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID"
    rows = _fcsv_rows(path)
    assert len(rows) == len(LANDMARKS)
    for row, landmark in zip(rows, LANDMARKS):
        assert len(row) == 14
        assert [float(value) for value in row[1:4]] == _in_file(landmark.ras, system)
        assert row[4:11] == ["0", "0", "0", "1", "1", "1", "0"] and row[11] == landmark.name
    assert '"left tragus, upper"' in path.read_text(), "a label with a comma must be quoted, as Slicer does"


@pytest.mark.parametrize("system", ["RAS", "LPS"])
def test_csv_stores_the_stated_system_in_a_column(tmp_path, system):
    path = tmp_path / "points.csv"
    write_landmarks_csv(LANDMARKS, path, coordinate_system=system)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert [row["name"] for row in rows] == [landmark.name for landmark in LANDMARKS]
    for row, landmark in zip(rows, LANDMARKS):
        assert row["coordinate_system"] == system
        assert [float(row[axis]) for axis in "xyz"] == _in_file(landmark.ras, system)


def test_landmark_coerces_coordinates_to_a_tuple_of_floats():
    assert Landmark("a", [1, 2, 3]).ras == (1.0, 2.0, 3.0)
    with pytest.raises(AnnotationError, match="3 numbers"):
        Landmark("a", (1.0, 2.0))


# --------------------------------------------------------------------------- reading Slicer's files


def test_reads_hand_written_markups_json_in_lps_and_ras(tmp_path):
    point = {"id": "1", "label": "A", "position": [10.0, -20.0, 30.0], "positionStatus": "defined"}
    assert read_landmarks(_markups(tmp_path, [point], "LPS")) == [Landmark("A", (-10.0, 20.0, 30.0))]
    assert read_landmarks(_markups(tmp_path, [point], "RAS")) == [Landmark("A", (10.0, -20.0, 30.0))]


def test_markups_json_without_coordinate_system_is_lps_as_in_slicer(tmp_path):
    point = {"label": "A", "position": [1.0, 2.0, 3.0]}
    assert read_landmarks(_markups(tmp_path, [point], None)) == [Landmark("A", (-1.0, -2.0, 3.0))]


def test_undefined_and_preview_control_points_are_skipped(tmp_path):
    points = [
        {"label": "kept", "position": [1.0, 2.0, 3.0], "positionStatus": "defined"},
        {"label": "unplaced", "position": "", "positionStatus": "undefined"},  # what Slicer writes for an unplaced point
        {"label": "stale", "position": [9.0, 9.0, 9.0], "positionStatus": "undefined"},
        {"label": "moving", "position": [5.0, 5.0, 5.0], "positionStatus": "preview"},
        {"label": "no position"},
    ]
    assert read_landmarks(_markups(tmp_path, points, "RAS")) == [Landmark("kept", (1.0, 2.0, 3.0))]


def test_reads_every_markup_of_the_file(tmp_path):
    path = tmp_path / "two.mrk.json"
    markups = [{"type": "Fiducial", "coordinateSystem": "RAS", "controlPoints": [{"label": "A", "position": [1, 2, 3]}]},
               {"type": "Fiducial", "coordinateSystem": "LPS", "controlPoints": [{"label": "B", "position": [1, 2, 3]}]}]
    path.write_text(json.dumps({"@schema": MARKUPS_SCHEMA, "markups": markups}))
    assert read_landmarks(path) == [Landmark("A", (1.0, 2.0, 3.0)), Landmark("B", (-1.0, -2.0, 3.0))]


@pytest.mark.parametrize(("line", "expected"), [("# CoordinateSystem = 0", (1.0, -2.0, 3.5)), ("# CoordinateSystem = 1", (-1.0, 2.0, 3.5))])
def test_reads_legacy_fcsv_with_numeric_coordinate_system(tmp_path, line, expected):
    path = tmp_path / "legacy.fcsv"
    path.write_text(
        f"# Markups fiducial file version = 4.10\n{line}\n# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
        "vtkMRMLMarkupsFiducialNode_0,1,-2,3.5,0,0,0,1,1,1,0,F-1,,vtkMRMLScalarVolumeNode1\n"
    )
    assert read_landmarks(path) == [Landmark("F-1", expected)]


def test_fcsv_without_coordinate_system_line_is_ras(tmp_path):
    path = tmp_path / "old.fcsv"
    path.write_text("# Markups fiducial file version = 4.4\n# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n"
                    "1,1,-2,3,0,0,0,1,1,1,0,nasion,,\n")
    assert read_landmarks(path) == [Landmark("nasion", (1.0, -2.0, 3.0))]


def test_unversioned_slicer3_fcsv_is_label_x_y_z_in_ras(tmp_path):
    path = tmp_path / "slicer3.fcsv"
    path.write_text("# Fiducial List file slicer3.fcsv\n# name = slicer3\nP1,1,-2,3,1,1\nP2,4,5,-6,0,1\n")
    assert read_landmarks(path) == [Landmark("P1", (1.0, -2.0, 3.0)), Landmark("P2", (4.0, 5.0, -6.0))]


def test_fcsv_columns_line_is_followed(tmp_path):
    path = tmp_path / "reordered.fcsv"
    path.write_text("# Markups fiducial file version = 5.6\n# CoordinateSystem = LPS\n# columns = label,z,y,x\nA,3,2,1\n")
    assert read_landmarks(path) == [Landmark("A", (-1.0, -2.0, 3.0))]


# --------------------------------------------------------------------------- generic CSV


def test_csv_takes_coordinate_system_from_column_or_argument(tmp_path):
    with_column = tmp_path / "column.csv"
    with_column.write_text("label,x,y,z,coordinate_system\nA,1,2,3,LPS\n")
    assert read_landmarks(with_column) == [Landmark("A", (-1.0, -2.0, 3.0))]
    without = tmp_path / "plain.csv"
    without.write_text("Name, X, Y, Z\nA,1,2,3\n\n")
    assert read_landmarks(without, coordinate_system="RAS") == [Landmark("A", (1.0, 2.0, 3.0))]
    assert read_landmarks(without, coordinate_system="LPS") == [Landmark("A", (-1.0, -2.0, 3.0))]


def test_csv_without_stated_coordinate_system_raises(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("name,x,y,z\nA,1,2,3\n")
    with pytest.raises(AnnotationError, match="RAS or LPS") as caught:
        read_landmarks(path)
    assert str(path) in str(caught.value)


def test_csv_column_contradicting_the_argument_raises(tmp_path):
    path = tmp_path / "column.csv"
    path.write_text("name,x,y,z,coordinate_system\nA,1,2,3,LPS\n")
    with pytest.raises(AnnotationError, match="stated RAS"):
        read_landmarks(path, coordinate_system="RAS")


# --------------------------------------------------------------------------- errors


def _json(points, **markup):
    return json.dumps({"markups": [dict(markup, controlPoints=points)]})


A = {"label": "A", "position": [1, 2, 3]}
BAD_FILES = {
    "invalid JSON": ("bad.mrk.json", '{"markups": [', "not valid JSON"),
    "not markups": ("bad.mrk.json", '{"points": []}', "'markups'"),
    "unknown system (json)": ("bad.mrk.json", _json([A], coordinateSystem="IJK"), "'IJK'"),
    "unknown system (fcsv)": ("bad.fcsv", "# Markups fiducial file version = 4.10\n# CoordinateSystem = 2\n1,1,2,3,0,0,0,1,1,1,0,A,,\n", "'2'"),
    "unknown system (csv)": ("bad.csv", "name,x,y,z,coordinate_system\nA,1,2,3,RAI\n", "'RAI'"),
    "non-finite (json)": ("bad.mrk.json", '{"markups": [{"controlPoints": [{"label": "A", "position": [1, NaN, 3]}]}]}', "non-finite"),
    "non-finite (fcsv)": ("bad.fcsv", "# Markups fiducial file version = 5.6\n1,1,inf,3,0,0,0,1,1,1,0,A,,\n", "non-finite"),
    "non-finite (csv)": ("bad.csv", "name,x,y,z\nA,1,2,nan\n", "non-finite"),
    "missing coordinate (fcsv)": ("bad.fcsv", "# Markups fiducial file version = 5.6\n1,1,,3,0,0,0,1,1,1,0,A,,\n", "missing a coordinate"),
    "missing coordinate (csv)": ("bad.csv", "name,x,y,z\nA,1,2\n", "missing a coordinate"),
    "not a number (csv)": ("bad.csv", "name,x,y,z\nA,1,two,3\n", "not a number"),
    "position not numbers (json)": ("bad.mrk.json", '{"markups": [{"controlPoints": [{"label": "A", "position": ["1", 2, 3]}]}]}', "3 numbers"),
    "short position (json)": ("bad.mrk.json", '{"markups": [{"controlPoints": [{"label": "A", "position": [1, 2]}]}]}', "missing a coordinate"),
    "missing columns (csv)": ("bad.csv", "name,x,y\nA,1,2\n", "missing z"),
    "duplicates (json)": ("bad.mrk.json", _json([A, dict(A, label="B"), dict(A, position=[4, 5, 6])]), "duplicate landmark names: A"),
    "duplicates (csv)": ("bad.csv", "name,x,y,z\nA,1,2,3\nB,1,2,3\nB,1,2,3\nA,1,2,3\n", "duplicate landmark names: B, A"),
    "empty (json)": ("bad.mrk.json", _json([]), "no landmarks"),
    "empty (fcsv)": ("bad.fcsv", "# Markups fiducial file version = 5.6\n# CoordinateSystem = LPS\n", "no landmarks"),
    "empty (csv)": ("bad.csv", "name,x,y,z,coordinate_system\n", "no landmarks"),
    "only undefined points": ("bad.mrk.json", _json([dict(A, position="", positionStatus="undefined")]), "no landmarks"),
    "unnamed point": ("bad.mrk.json", _json([{"position": [1, 2, 3]}]), "needs a name"),
    "unknown status": ("bad.mrk.json", _json([dict(A, positionStatus="x")]), "positionStatus"),
    "micrometres": ("bad.mrk.json", _json([A], coordinateUnits="um"), "only mm"),
    "unsupported extension": ("points.json", '{"markups": []}', "unsupported file type"),
    "not UTF-8": ("bad.csv", b"name,x,y,z\n\xff\xfe,1,2,3\n", "Cannot read"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_annotation_error_naming_the_file(tmp_path, case):
    name, content, expected = BAD_FILES[case]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(AnnotationError) as caught:
        read_landmarks(path, coordinate_system="RAS" if name.endswith(".csv") else None)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)
    assert isinstance(caught.value, AnomalyDetectError)


def test_missing_file_raises_annotation_error_naming_it(tmp_path):
    path = tmp_path / "absent.fcsv"
    with pytest.raises(AnnotationError, match="absent.fcsv"):
        read_landmarks(path)


def test_code_in_a_file_is_never_run(tmp_path):
    path = tmp_path / "evil.csv"
    marker = tmp_path / "ran"
    path.write_text(f"name,x,y,z\n__import__('pathlib').Path({str(marker)!r}).touch(),1,2,3\nB,__import__('os').getpid(),2,3\n")
    with pytest.raises(AnnotationError, match="not a number"):
        read_landmarks(path, coordinate_system="RAS")
    assert not marker.exists()


@pytest.mark.parametrize("suffix", sorted(WRITERS))
@pytest.mark.parametrize(
    ("landmarks", "expected"),
    [
        ([], "no landmarks"),
        ([Landmark("A", (1, 2, 3)), Landmark("A", (4, 5, 6))], "duplicate landmark names: A"),
        ([Landmark("A", (1, float("nan"), 3))], "non-finite"),
        ([Landmark("", (1, 2, 3))], "needs a name"),
        ([Landmark("A\nB", (1, 2, 3))], "line break"),
    ],
)
def test_writers_refuse_bad_lists_and_leave_no_file(tmp_path, suffix, landmarks, expected):
    path = tmp_path / f"out{suffix}"
    with pytest.raises(AnnotationError, match=expected) as caught:
        WRITERS[suffix](landmarks, path)
    assert str(path) in str(caught.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_writers_refuse_unknown_coordinate_system(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with pytest.raises(AnnotationError, match="unknown coordinate system 'IJK'") as caught:
        WRITERS[suffix](LANDMARKS, path, coordinate_system="IJK")
    assert str(path) in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path, monkeypatch):
    path = tmp_path / "points.fcsv"
    write_fcsv(LANDMARKS, path)
    before = path.read_text()

    def refuse(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputError, match="No space left"):
        write_fcsv(LANDMARKS[:1], path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["points.fcsv"]


def test_writing_into_a_missing_folder_raises_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_markups_json(LANDMARKS, tmp_path / "nowhere" / "points.mrk.json")
