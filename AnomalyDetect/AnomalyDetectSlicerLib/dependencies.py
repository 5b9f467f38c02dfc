"""Python packages AnomalyDetect needs in Slicer's Python, and installing the missing ones.

``ensureDependencies(modelPaths, backend)`` is called by the module widget before it runs
detection, and works from the Python console too::

    from AnomalyDetectSlicerLib.dependencies import ensureDependencies
    ensureDependencies()                                  # for the bundled model, backend "auto"

What a run needs: numpy, SimpleITK and scipy, plus one inference engine. PyTorch is asked
for only when it is chosen (backend "torch"), already installed (backend "auto" then uses
it), or a model needs it (no exported ONNX graph, or AnoGAN's latent search); otherwise
onnxruntime (tens of MB instead of PyTorch's hundreds to thousands) runs the ONNX graph
stored in the bundle. Training always needs torch and is done outside Slicer.

It finds what is missing with ``importlib.util.find_spec`` and what is too old with
``importlib.metadata.version`` (nothing is imported here; an installed torch 1.x, say, counts
as missing and is upgraded), asks once, naming every package it would install, and then installs:

* torch through the PyTorch extension (``PyTorchUtils``, a dependency of this extension)
  when it is installed, since it picks a build that fits the GPU driver; otherwise with
  ``slicer.util.pip_install``;
* the other packages with ``slicer.packaging.pip_ensure`` (Slicer 5.11 and later), or
  ``slicer.util.pip_install`` on older Slicer (5.8, 5.10).

In testing mode (``--testing``) or without a main window nobody can answer, so nothing
is asked or installed: a MissingDependenciesError names the missing packages instead.

Only what AnomalyDetectLib imports is listed: scikit-image and scikit-learn (in
pyproject.toml for the trainer) and safetensors (bundles are read with numpy) are never
installed in Slicer. Testing/test_packaging_slicer.py checks the list against the imports
of AnomalyDetectLib and the version ranges against pyproject.toml.
"""

import importlib
import importlib.metadata
import importlib.util
import logging
import re
import sys

#: (import name, pip requirement) of every third-party package AnomalyDetectLib imports.
#: Version ranges are those of pyproject.toml (onnxruntime: its "onnx" extra). A run needs
#: either torch or onnxruntime, not both (``requiredPackages``).
REQUIREMENTS = (
    ("torch", "torch>=2.0"),
    ("onnxruntime", "onnxruntime>=1.16"),
    ("numpy", "numpy>=1.21"),
    ("SimpleITK", "SimpleITK>=2.2"),
    ("scipy", "scipy>=1.7"),
)

REQUESTER = "AnomalyDetect"


class MissingDependenciesError(RuntimeError):
    """Packages are missing or too old and nobody can be asked to install them (testing mode, no GUI)."""

    def __init__(self, requirements):
        self.requirements = list(requirements)
        super().__init__(
            "AnomalyDetect needs Python packages that are not installed (or too old) in Slicer's Python: "
            + ", ".join(self.requirements)
            + ". Install them from the Python console, for example: slicer.util.pip_install("
            + repr(" ".join(self.requirements))
            + "), or torch through the PyTorch extension (PyTorch Utils module)."
        )


def _found(name):
    return importlib.util.find_spec(name) is not None


def _modelNeedsTorch(path):
    """True when the bundle at ``path`` (None: the bundled model) has no ONNX graph or searches a latent space at test time.

    An unreadable file counts as not needing torch: detection then reports what is wrong with it.
    """
    try:
        from AnomalyDetectLib.bundle import default_bundle_path, read_spec

        graph = read_spec(path or default_bundle_path()).onnx
    except Exception:  # numpy not installed yet, or a missing or foreign file: decided when the model is loaded
        return False
    return graph is None or graph.latent_search


def requiredPackages(modelPaths=(None,), backend="auto"):
    """Import names a detection run needs: numpy, SimpleITK, scipy, and torch or onnxruntime.

    ``modelPaths``: the bundles the run uses (None = the bundled model); ``backend``: "auto",
    "torch" or "onnx". Torch is needed when chosen, when already installed under "auto" (the
    run then uses it), or when a model cannot run without it; onnxruntime otherwise.
    """
    importlib.invalidate_caches()
    if backend == "torch" or (backend == "auto" and _found("torch")):
        engine = "torch"
    else:
        engine = "torch" if any(_modelNeedsTorch(path) for path in modelPaths) else "onnxruntime"
    return [name for name, _requirement in REQUIREMENTS if name not in ("torch", "onnxruntime") or name == engine]


def _versionTuple(text):
    """(2, 1, 0) from '2.1.0+cu118' or '2.1': the leading release numbers (pre/post/local parts dropped)."""
    match = re.match(r"\s*(\d+(?:\.\d+)*)", text or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def installedVersion(name):
    """The installed distribution's version string (e.g. '2.1.0+cu118'), or None when its metadata is missing."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _tooOld(name, requirement):
    """True when ``name`` is installed in a version below the requirement's minimum (``>=``)."""
    minimum = requirement[len(name):].strip()
    if not minimum.startswith(">="):
        return False
    installed = installedVersion(name)
    if installed is None:  # importable but without metadata (e.g. a source checkout on sys.path): trust it
        return False
    wanted, have = _versionTuple(minimum[2:]), _versionTuple(installed)
    width = max(len(wanted), len(have))
    return have + (0,) * (width - len(have)) < wanted + (0,) * (width - len(wanted))


def _missing(modelPaths=(None,), backend="auto"):
    """(import name, requirement) of the needed packages that cannot be found; nothing is imported."""
    needed = requiredPackages(modelPaths, backend)
    return [(name, requirement) for name, requirement in REQUIREMENTS
            if name in needed and (not _found(name) or _tooOld(name, requirement))]


def missingRequirements(modelPaths=(None,), backend="auto"):
    """Pip requirements of the needed packages that cannot be found, e.g. ['onnxruntime>=1.16']."""
    return [requirement for _name, requirement in _missing(modelPaths, backend)]


def _versionRange(requirement, name):
    """'>=2.0' from 'torch>=2.0' (empty when there is no range)."""
    return requirement[len(name):]


def _pyTorchUtils():
    """The PyTorch extension's module, or None when that extension is not installed."""
    try:
        import PyTorchUtils
    except ImportError:
        return None
    return PyTorchUtils


def _slicerPackaging():
    """``slicer.packaging`` when it has pip_ensure (Slicer 5.11+), else None."""
    try:
        import slicer.packaging as packaging
    except ImportError:
        return None
    return packaging if hasattr(packaging, "pip_ensure") else None


def _canAsk(slicer):
    app = getattr(slicer, "app", None)  # not set in PythonSlicer (no application)
    if app is None or app.testingEnabled():
        return False
    return slicer.util.mainWindow() is not None


def _confirmationText(missing, pyTorchUtils):
    lines = []
    for name, requirement in missing:
        installed = installedVersion(name) if importlib.util.find_spec(name) is not None else None
        upgrade = f" (upgrading the installed {installed})" if installed else ""
        if name == "torch" and pyTorchUtils is not None:
            lines.append(f"  {requirement}{upgrade} (through the PyTorch extension, which also installs torchvision)")
        else:
            lines.append(f"  {requirement}{upgrade}")
    return (
        "AnomalyDetect needs these Python packages, which are not installed in Slicer's Python:\n\n"
        + "\n".join(lines)
        + ("\n\nInstall them now? The download can be large (PyTorch is several hundred MB) and take several minutes."
           if "torch" in dict(missing) else "\n\nInstall them now? The download is some tens of MB.")
    )


def _installTorch(requirement, pyTorchUtils, slicer):
    if pyTorchUtils is None:
        slicer.util.pip_install(requirement)
        return True
    # installTorch returns the torch module, or None when the installation was declined.
    torch = pyTorchUtils.PyTorchUtilsLogic().installTorch(
        askConfirmation=False, torchVersionRequirement=_versionRange(requirement, "torch")
    )
    return torch is not None


def _installOthers(requirements, slicer):
    if not requirements:
        return
    packaging = _slicerPackaging()
    if packaging is not None:
        # Already confirmed above: no second prompt; Slicer offers a restart if needed.
        packaging.pip_ensure(list(requirements), prompt_install=False, requester=REQUESTER)
    else:
        slicer.util.pip_install(" ".join(requirements))


def ensureDependencies(modelPaths=(None,), backend="auto"):
    """True when every package a run needs (``requiredPackages``) can be imported, after offering to install the missing ones.

    False when the user declines or the installation fails (an error is shown). Raises
    MissingDependenciesError when packages are missing in testing mode or without a main
    window, where nobody can be asked.
    """
    missing = _missing(modelPaths, backend)
    if not missing:
        return True
    requirements = [requirement for _name, requirement in missing]

    import slicer

    if not _canAsk(slicer):
        raise MissingDependenciesError(requirements)
    upgrading = [name for name, _requirement in missing if importlib.util.find_spec(name) is not None]
    torchRequirement = dict(missing).get("torch")
    pyTorchUtils = _pyTorchUtils() if torchRequirement else None
    if not slicer.util.confirmOkCancelDisplay(_confirmationText(missing, pyTorchUtils), windowTitle="AnomalyDetect: install Python packages"):
        logging.info("AnomalyDetect: installation of %s declined", ", ".join(requirements))
        return False

    try:
        if torchRequirement and not _installTorch(torchRequirement, pyTorchUtils, slicer):
            logging.info("AnomalyDetect: PyTorch was not installed")
            return False
        _installOthers([requirement for name, requirement in missing if name != "torch"], slicer)
    except Exception as error:
        logging.exception("AnomalyDetect: installing %s failed", ", ".join(requirements))
        slicer.util.errorDisplay(f"Installing Python packages for AnomalyDetect failed: {error}")
        return False

    stillMissing = missingRequirements(modelPaths, backend)
    if stillMissing:
        slicer.util.errorDisplay(
            "These Python packages are still not available: " + ", ".join(stillMissing) + ". Restart Slicer and try again."
        )
        return False
    upgradedInUse = [name for name in upgrading if name in sys.modules]
    if upgradedInUse:  # the old version stays imported in this session
        slicer.util.errorDisplay(", ".join(upgradedInUse) + " were upgraded; restart Slicer to use the new version.")
        return False
    return True
