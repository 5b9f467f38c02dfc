"""Anatomical landmark point lists: read and write Slicer markups JSON, Slicer ``.fcsv`` and plain CSV.

Every coordinate handed in or out is in patient RAS millimetres, as Slicer uses internally; a file in LPS stores
x and y negated. Files are parsed as plain JSON/CSV text: nothing in them is ever executed.

Formats checked against Slicer's source (github.com/Slicer/Slicer, Modules/Loadable/Markups/): the schemas
Resources/Schema/markups-schema-v1.0.3.json and -v1.0.4.json; MRML/vtkMRMLMarkupsJsonStorageNode.cxx (the "@schema"
URL and keys it writes, default "LPS", ``"position": ""`` for undefined points, orientation rows 1-2 negated in LPS);
MRML/vtkMRMLMarkupsFiducialStorageNode.cxx and vtkMRMLMarkupsStorageNode.cxx (fcsv header lines, column order,
"RAS"/"LPS" and the legacy codes 0 = RAS / 1 = LPS, quoting of labels holding commas or quotes).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

from .errors import AnnotationError
from .files import atomic_output

# What vtkMRMLMarkupsJsonStorageNode writes (kept at v1.0.3 by Slicer for compatibility with Slicer < 5.1).
MARKUPS_SCHEMA = "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#"
# Slicer only checks that a version line is there: files without one are read as Slicer 3 "label,x,y,z,sel,vis".
FCSV_VERSION = "4.11"
FCSV_COLUMNS = ("id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label", "desc", "associatedNodeID")
SLICER3_FCSV_COLUMNS = ("label", "x", "y", "z", "sel", "vis")  # unversioned .fcsv (Slicer 3), always RAS
_LEGACY_CODES = {"0": "RAS", "1": "LPS"}
_ORIENTATION = {"RAS": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], "LPS": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0]}


@dataclass(frozen=True)
class Landmark:
    """One named point; ``ras`` is (x, y, z) in patient RAS millimetres."""

    name: str
    ras: tuple

    def __post_init__(self):
        try:
            ras = tuple(float(value) for value in self.ras)
        except (TypeError, ValueError):
            ras = ()
        if len(ras) != 3:
            raise AnnotationError(f"Landmark '{self.name}': ras must be 3 numbers (x, y, z), got {self.ras!r}.")
        object.__setattr__(self, "ras", ras)


def read_landmarks(path, coordinate_system: Optional[str] = None) -> List[Landmark]:
    """The landmarks in a ``.mrk.json``, ``.fcsv`` or ``.csv`` file, in RAS millimetres, in file order.

    ``coordinate_system`` ("RAS" or "LPS") is only used for a ``.csv`` without a ``coordinate_system``
    column; Slicer files state their own (markups JSON defaults to LPS, an ``.fcsv`` without the line to RAS).
    """
    path = os.fspath(path)
    readers = {".mrk.json": _read_markups_json, ".fcsv": _read_fcsv, ".csv": _read_csv}
    reader = next((read for suffix, read in readers.items() if path.lower().endswith(suffix)), None)
    if reader is None:
        raise AnnotationError(f"Cannot read landmarks from '{path}': unsupported file type (use .mrk.json, .fcsv or .csv).")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise AnnotationError(f"Cannot read landmark file '{path}': {reason}.") from None
    landmarks = reader(path, text, coordinate_system)
    _check_list(f"Landmark file '{path}'", landmarks)
    return landmarks


def write_markups_json(landmarks: Iterable[Landmark], path, coordinate_system: str = "LPS",
                       descriptions: Optional[Sequence[str]] = None) -> None:
    """A Slicer markups JSON point list (``.mrk.json``), laid out as Slicer itself writes one.

    ``descriptions`` (one per landmark, e.g. "confidence 0.93") fill the control points' description field.
    """
    path, landmarks, system = _prepare(landmarks, path, coordinate_system)
    descriptions = _per_landmark(path, "descriptions", descriptions, landmarks, "")
    points = [
        {"id": str(index), "label": item.name, "description": str(description), "associatedNodeID": "",
         "position": _to_file(item.ras, system), "orientation": list(_ORIENTATION[system]), "selected": True, "locked": False,
         "visibility": True, "positionStatus": "defined"}
        for index, (item, description) in enumerate(zip(landmarks, descriptions), start=1)
    ]
    markup = {"type": "Fiducial", "coordinateSystem": system, "coordinateUnits": "mm", "locked": False, "fixedNumberOfControlPoints": False,
              "labelFormat": "%N-%d", "lastUsedControlPointNumber": len(points), "controlPoints": points, "measurements": []}
    _write_text(path, json.dumps({"@schema": MARKUPS_SCHEMA, "markups": [markup]}, indent=4, allow_nan=False) + "\n")


def write_fcsv(landmarks: Iterable[Landmark], path, coordinate_system: str = "LPS") -> None:
    """A Slicer fiducial CSV (``.fcsv``) with the version, CoordinateSystem and columns header lines."""
    path, landmarks, system = _prepare(landmarks, path, coordinate_system)
    out = io.StringIO()
    out.write(f"# Markups fiducial file version = {FCSV_VERSION}\n# CoordinateSystem = {system}\n# columns = {','.join(FCSV_COLUMNS)}\n")
    rows = csv.writer(out, lineterminator="\n")
    for index, item in enumerate(landmarks, start=1):
        rows.writerow([str(index), *(repr(value) for value in _to_file(item.ras, system)), 0, 0, 0, 1, 1, 1, 0, item.name, "", ""])
    _write_text(path, out.getvalue())


def write_landmarks_csv(landmarks: Iterable[Landmark], path, coordinate_system: str = "RAS",
                        confidences: Optional[Sequence[float]] = None) -> None:
    """A plain CSV ``name,x,y,z,coordinate_system``; the last column makes the file self-describing.

    With ``confidences`` (one per landmark, 0–1) a ``confidence`` column follows; readers ignore it.
    """
    path, landmarks, system = _prepare(landmarks, path, coordinate_system)
    extra = _per_landmark(path, "confidences", confidences, landmarks, None)
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["name", "x", "y", "z", "coordinate_system"] + (["confidence"] if confidences is not None else []))
    for item, confidence in zip(landmarks, extra):
        rows.writerow([item.name, *(repr(value) for value in _to_file(item.ras, system)), system]
                      + ([f"{float(confidence):.4f}"] if confidences is not None else []))
    _write_text(path, out.getvalue())


# --------------------------------------------------------------------------- reading


def _read_markups_json(path: str, text: str, _unused: Optional[str]) -> List[Landmark]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise AnnotationError(f"Landmark file '{path}' is not valid JSON: {error}.") from None
    markups = document.get("markups") if isinstance(document, dict) else None
    if not isinstance(markups, list):
        raise AnnotationError(f"Landmark file '{path}' is not a Slicer markups file (no 'markups' list).")
    landmarks = []
    for markup in markups:
        if not isinstance(markup, dict):
            raise AnnotationError(f"Landmark file '{path}': an entry of 'markups' is not an object.")
        system = _system(path, markup.get("coordinateSystem", "LPS"))
        units = markup.get("coordinateUnits", "mm")
        if (units[0] if isinstance(units, list) and units else units) != "mm":
            raise AnnotationError(f"Landmark file '{path}': coordinateUnits {units!r} are not supported (only mm).")
        points = markup.get("controlPoints", [])
        for number, point in enumerate(points if isinstance(points, list) else [points], start=1):
            where = f"control point {number}"
            if not isinstance(point, dict):
                raise AnnotationError(f"Landmark file '{path}': {where} is not an object.")
            status, position = point.get("positionStatus", "defined"), point.get("position")
            if status not in ("defined", "preview", "undefined"):
                raise AnnotationError(f"Landmark file '{path}': {where} has an unknown positionStatus {status!r}.")
            # Slicer writes "position": "" for undefined points; a preview point is one still being placed.
            if status != "defined" or position is None or position == "":
                continue
            name = point.get("label", "")
            if not isinstance(name, str):
                raise AnnotationError(f"Landmark file '{path}': {where} has a label that is not text.")
            if not isinstance(position, list) or any(isinstance(value, bool) or not isinstance(value, (int, float)) for value in position):
                raise AnnotationError(f"Landmark file '{path}': {where} ('{name}') has a position that is not a list of 3 numbers.")
            landmarks.append(Landmark(name, _to_ras(path, f"{where} ('{name}')", position, system)))
    return landmarks


def _read_fcsv(path: str, text: str, _unused: Optional[str]) -> List[Landmark]:
    system, version, columns, rows = "RAS", None, None, []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            key, equals, value = line[1:].partition("=")
            key, value = key.strip(), value.strip()
            if not equals:
                continue
            if key == "CoordinateSystem":
                system = _system(path, _LEGACY_CODES.get(value, value))
            elif key == "Markups fiducial file version":
                version = value
            elif key == "columns":
                columns = tuple(column.strip() for column in value.split(","))
        elif line.strip():
            rows.append((number, line))
    columns = columns or (FCSV_COLUMNS if version else SLICER3_FCSV_COLUMNS)
    if not {"label", "x", "y", "z"} <= set(columns):
        raise AnnotationError(f"Landmark file '{path}': the '# columns' line must name label, x, y and z.")
    landmarks = []
    for number, line in rows:
        record = dict(zip(columns, next(csv.reader([line]))))
        name = record.get("label", "")
        landmarks.append(Landmark(name, _to_ras(path, f"line {number} ('{name}')", [record.get(axis) for axis in "xyz"], system)))
    return landmarks


def _read_csv(path: str, text: str, coordinate_system: Optional[str]) -> List[Landmark]:
    stated = None if coordinate_system is None else _system(path, coordinate_system)
    reader = csv.reader(io.StringIO(text))
    header = [column.strip().lower() for column in next(reader, [])]
    name_column = "name" if "name" in header else "label"
    missing = [column for column in (name_column, "x", "y", "z") if column not in header]
    if missing:
        raise AnnotationError(f"Landmark file '{path}': the header must have columns name (or label), x, y, z; missing {', '.join(missing)}.")
    landmarks = []
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue
        record = dict(zip(header, (field.strip() for field in fields)))
        where = f"line {reader.line_num} ('{record.get(name_column, '')}')"
        system = record.get("coordinate_system") or stated
        if system is None:
            raise AnnotationError(
                f"Landmark file '{path}' does not say whether its coordinates are RAS or LPS: add a 'coordinate_system' column "
                "or state it (coordinate_system='RAS' or 'LPS')."
            )
        system = _system(path, system)
        if stated is not None and system != stated:
            raise AnnotationError(f"Landmark file '{path}': {where} is in {system}, but the caller stated {stated}.")
        landmarks.append(Landmark(record.get(name_column, ""), _to_ras(path, where, [record.get(axis) for axis in "xyz"], system)))
    return landmarks


# --------------------------------------------------------------------------- shared


def _prepare(landmarks, path, coordinate_system):
    path, landmarks = os.fspath(path), list(landmarks)
    what = f"Cannot write landmark file '{path}'"
    _check_list(what, landmarks)
    return path, landmarks, _system(path, coordinate_system, what)


def _per_landmark(path: str, what: str, values, landmarks: List[Landmark], default) -> list:
    """``values`` as a list as long as ``landmarks`` (``default`` for each when None)."""
    if values is None:
        return [default] * len(landmarks)
    values = list(values)
    if len(values) != len(landmarks):
        raise AnnotationError(f"Cannot write landmark file '{path}': {len(values)} {what} for {len(landmarks)} landmarks.")
    return values


def _system(path: str, name, what: Optional[str] = None) -> str:
    system = name.strip().upper() if isinstance(name, str) else None
    if system not in ("RAS", "LPS"):
        what = what or f"Landmark file '{path}'"
        raise AnnotationError(f"{what}: unknown coordinate system {name!r} (expected RAS or LPS).")
    return system


def _to_ras(path: str, where: str, values, system: str) -> tuple:
    if len(values) != 3 or any(value is None or value == "" for value in values):
        raise AnnotationError(f"Landmark file '{path}': {where} is missing a coordinate (x, y and z are needed).")
    try:
        x, y, z = (float(value) for value in values)
    except (TypeError, ValueError):
        raise AnnotationError(f"Landmark file '{path}': {where} has a coordinate that is not a number: {list(values)}.") from None
    if not all(math.isfinite(value) for value in (x, y, z)):
        raise AnnotationError(f"Landmark file '{path}': {where} has a non-finite coordinate: {[x, y, z]}.")
    return (-x + 0.0, -y + 0.0, z) if system == "LPS" else (x, y, z)


def _to_file(ras, system: str) -> List[float]:
    x, y, z = ras
    return [-x + 0.0, -y + 0.0, z] if system == "LPS" else [x, y, z]  # + 0.0 keeps -0.0 out of files


def _check_list(what: str, landmarks: List[Landmark]) -> None:
    """``what`` starts the message: "Landmark file '<path>'" or "Cannot write landmark file '<path>'"."""
    if not landmarks:
        raise AnnotationError(f"{what}: there are no landmarks (the list is empty).")
    names, repeated = set(), []
    for item in landmarks:
        if not isinstance(item, Landmark) or not isinstance(item.name, str) or not item.name.strip():
            raise AnnotationError(f"{what}: every landmark needs a name, got {item!r}.")
        if "\n" in item.name or "\r" in item.name:
            raise AnnotationError(f"{what}: landmark name {item.name!r} contains a line break.")
        if not all(math.isfinite(value) for value in item.ras):
            raise AnnotationError(f"{what}: landmark '{item.name}' has a non-finite coordinate: {list(item.ras)}.")
        if item.name in names and item.name not in repeated:
            repeated.append(item.name)
        names.add(item.name)
    if repeated:
        raise AnnotationError(f"{what}: duplicate landmark names: {', '.join(repeated)}.")


def _write_text(path: str, text: str) -> None:
    with atomic_output(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
