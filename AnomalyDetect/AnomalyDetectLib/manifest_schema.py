"""The checks and the typed-section base behind :mod:`AnomalyDetectLib.manifest`.

Each check takes ``(value, "where.key")``, returns the value as stored (a tuple for a list of names)
and raises :class:`BundleError` naming the entry when the value has the wrong type.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from typing import Callable, Dict, Tuple

from .errors import BundleError


# Checks: each takes (value, "where.key") and returns the value as stored (a tuple for a list of names).
def _problem(where: str, expected: str, value) -> BundleError:
    return BundleError(f"manifest entry '{where}' must be {expected}, not {value!r} ({type(value).__name__}).")


def _number(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _problem(where, "a number", value)
    return value


def _integer(value, where):
    if isinstance(value, bool) or not isinstance(value, int):
        raise _problem(where, "an integer", value)
    return value


def _positive_integer(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _problem(where, "a positive integer", value)
    return value


def _text(value, where):
    if not isinstance(value, str):
        raise _problem(where, "a string", value)
    return value


def _flag(value, where):
    if not isinstance(value, bool):
        raise _problem(where, "true or false", value)
    return value


def _object(value, where):
    if not isinstance(value, dict):
        raise _problem(where, "a JSON object", value)
    return value


def _names(value, where):
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _problem(where, "a list of strings", value)
    return tuple(value)


def _list(value, where):
    if not isinstance(value, list):
        raise _problem(where, "a list", value)
    return value


def _or_null(check: Callable) -> Callable:
    return lambda value, where: None if value is None else check(value, where)


def _data_description(value, where):
    """A data description (name, counts, checksum of the file list); bundles before it held the data folder's path."""
    return value if value is None or isinstance(value, (dict, str)) else _object(value, where)


def _plain(value):
    """A field's value as JSON: sections through their ``to_json``, tuples as lists, containers copied."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, tuple):
        return list(value)
    return copy.deepcopy(value)


class _Section:
    """A typed JSON object. Subclasses are dataclasses whose ``SCHEMA`` maps field → (JSON key, check);
    ``extra`` holds the keys not in the schema, ``given`` the schema keys the JSON had (a field is written
    back when it was given or differs from its default, so absent keys stay absent)."""

    SCHEMA: Dict[str, Tuple[str, Callable]] = {}

    @classmethod
    def from_json(cls, data, where: str):
        """The section of JSON object ``data`` (copied: later edits of ``data`` do not reach it); ``where``: its key, for messages."""
        data = copy.deepcopy(_object(data, where))
        known = {key for key, _ in cls.SCHEMA.values()}
        values = {name: check(data[key], f"{where}.{key}" if where else key) for name, (key, check) in cls.SCHEMA.items() if key in data}
        return cls(**values, extra={key: value for key, value in data.items() if key not in known},
                   given=frozenset(key for key in data if key in known))

    def to_json(self) -> Dict:
        defaults = {f.name: f.default for f in fields(self)}
        out = {key: _plain(getattr(self, name)) for name, (key, _) in self.SCHEMA.items()
               if key in self.given or getattr(self, name) != defaults[name]}
        out.update(copy.deepcopy(self.extra))
        return out
