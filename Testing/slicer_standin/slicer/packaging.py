"""Stand-in for ``slicer.packaging`` (Base/Python/slicer/packaging.py in Slicer/Slicer, Slicer 5.11+).

Why a stand-in: Slicer's packaging.py is not in the slicer-core wheel (and installs nothing in tests).

Only ``pip_ensure`` is provided (signature checked against packaging.py at commit 4bf416c).
Nothing is installed in tests: like ``slicer.util.pip_install`` of the stand-in, it raises,
and tests replace it to record calls. To act as a Slicer older than 5.11 (no
``slicer.packaging``), a test sets ``sys.modules["slicer.packaging"] = None``.
"""

from ._mirror import mirrors as _mirrors


@_mirrors(
    "Base/Python/slicer/packaging.py: def pip_ensure(requirements: str | Requirement | list[str | Requirement], "
    "constraints: str | Path | None = None, skip_packages: list[str] | None = None, prompt_install: bool = True, "
    "prompt_restart: bool = True, requester: str | None = None, skip_in_testing: bool = True, show_progress: bool = True)"
)
def pip_ensure(requirements, constraints=None, skip_packages=None, prompt_install=True, prompt_restart=True, requester=None,
               skip_in_testing=True, show_progress=True):
    raise RuntimeError(f"pip_ensure({requirements!r}) is not available in the Slicer stand-in used for tests.")
