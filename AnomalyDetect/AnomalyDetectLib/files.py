"""Writing a file whole or not at all, and JSON of numpy values.

Every writer of the package and the trainer (bundles, landmark files, PNG pictures, ROC plots,
checkpoints, metric and benchmark reports, cohort tables) writes into a temporary file beside the
target and renames it into place only when writing succeeded, so a failure (full disk, read-only
folder, a writer's own error) never leaves a half-written file or replaces a good one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from .errors import OutputError


@contextmanager
def atomic_output(path, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; on leaving the block it is renamed to ``path``.

    ``suffix`` is appended to the temporary name for writers that choose a format by extension.
    A missing folder, or an ``OSError`` (or a writer's ``RuntimeError``) inside the block or in the
    rename, raises :class:`OutputError` naming ``path``; the temporary file is removed whenever the
    block does not complete.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"Cannot write '{path}': output folder '{folder}' does not exist.")
    temporary = os.path.join(folder, f".partial-{os.getpid()}-{os.path.basename(path)}{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:
        _remove(temporary)
        detail = getattr(error, "strerror", None) or (str(error).strip().splitlines() or [repr(error)])[-1]
        raise OutputError(f"Cannot write '{path}': {detail}") from None
    except BaseException:
        _remove(temporary)
        raise


def json_value(value):
    """``json.dump(..., default=json_value)``: numpy scalars as Python numbers, arrays as (nested) lists."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _remove(temporary: str) -> None:
    if os.path.exists(temporary):
        os.remove(temporary)
