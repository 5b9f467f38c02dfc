"""The Slicer module's dependency installer (AnomalyDetectSlicerLib/dependencies.py) on the stand-in of
Slicer's API: what is asked for (torch or onnxruntime), how it is installed, what happens when it fails,
versions that are too old, and that the requirements match what the core imports."""

import ast
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest
from conftest import start_slicer

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "AnomalyDetect"
DEPENDENCIES_FILE = MODULE_DIR / "AnomalyDetectSlicerLib" / "dependencies.py"

# --- dependencies.py with the stand-in -------------------------------------------------------------


@pytest.fixture
def deps(monkeypatch):
    """(slicer stand-in, dependencies module, state) in an interactive session: GUI, not testing."""
    slicer = start_slicer()
    spec = importlib.util.spec_from_file_location("_anomalydetect_dependencies", DEPENDENCIES_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    state = types.SimpleNamespace(missing=set(), asked=[], answer=True, pip=[], ensure=[], torch=[], errors=[])
    original = importlib.util.find_spec
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name, *a: None if name in state.missing else original(name, *a))
    monkeypatch.setattr(slicer.app, "_testingEnabled", False)
    monkeypatch.setattr(slicer.util, "mainWindow", lambda verbose=True: object())
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda text, *a, **kw: state.asked.append(text) or state.answer)
    monkeypatch.setattr(slicer.util, "errorDisplay", lambda text, *a, **kw: state.errors.append(text))

    def install(requirements):  # what pip would do: the named packages become importable
        state.missing -= {name for name, req in module.REQUIREMENTS if req in requirements.split()}

    monkeypatch.setattr(slicer.util, "pip_install", lambda requirements: state.pip.append(requirements) or install(requirements))
    import slicer.packaging  # the stand-in's (Slicer 5.11+)
    state.standin_pip_ensure = slicer.packaging.pip_ensure
    monkeypatch.setattr(slicer.packaging, "pip_ensure", lambda reqs, **kw: state.ensure.append((reqs, kw)) or install(" ".join(reqs)))
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # the PyTorch extension is not installed
    return slicer, module, state


def _fake_pytorchutils(state, succeed=True):
    class PyTorchUtilsLogic:  # the API of PyTorchUtils/PyTorchUtils.py (fepegar/SlicerPyTorch, commit f677db99)
        def installTorch(self, askConfirmation=False, forceComputationBackend=None, torchVersionRequirement=None,
                         torchvisionVersionRequirement=None):
            state.torch.append({"askConfirmation": askConfirmation, "torchVersionRequirement": torchVersionRequirement})
            if not succeed:
                return None  # what installTorch returns when the user declines
            state.missing.discard("torch")
            return types.ModuleType("torch")

    return types.SimpleNamespace(PyTorchUtilsLogic=PyTorchUtilsLogic)


def test_nothing_missing_returns_true_without_asking(deps, monkeypatch):
    slicer, module, state = deps
    monkeypatch.setattr(slicer.app, "_testingEnabled", True)  # also in testing mode: nothing to ask
    assert module.ensureDependencies() is True and module.missingRequirements() == []
    assert state.asked == state.pip == state.ensure == []


@pytest.mark.parametrize("situation", ["testing", "no main window", "no application"])
def test_missing_packages_raise_where_nobody_can_answer(deps, monkeypatch, situation):
    slicer, module, state = deps
    state.missing = {"torch", "scipy"}
    if situation == "testing":
        monkeypatch.setattr(slicer.app, "_testingEnabled", True)
    elif situation == "no main window":
        monkeypatch.setattr(slicer.util, "mainWindow", lambda verbose=True: None)
    else:
        monkeypatch.delattr(slicer, "app")  # PythonSlicer: no slicer.app
    with pytest.raises(module.MissingDependenciesError) as raised:
        module.ensureDependencies(backend="torch")
    assert raised.value.requirements == ["torch>=2.0", "scipy>=1.7"] and "torch>=2.0, scipy>=1.7" in str(raised.value)
    assert state.asked == state.pip == state.ensure == []


def test_declined_installs_nothing(deps):
    _slicer, module, state = deps
    state.missing, state.answer = {"torch", "SimpleITK"}, False
    assert module.ensureDependencies(backend="torch") is False
    assert len(state.asked) == 1 and "torch>=2.0" in state.asked[0] and "SimpleITK>=2.2" in state.asked[0]
    assert state.pip == state.ensure == state.torch == []


def test_accepted_on_slicer_before_5_11_uses_util_pip_install(deps, monkeypatch):
    _slicer, module, state = deps
    monkeypatch.setitem(sys.modules, "slicer.packaging", None)  # Slicer 5.8 / 5.10: no slicer.packaging
    state.missing = {"torch", "numpy", "SimpleITK", "scipy"}
    assert module.ensureDependencies(backend="torch") is True
    assert len(state.asked) == 1 and state.pip == ["torch>=2.0", "numpy>=1.21 SimpleITK>=2.2 scipy>=1.7"]
    assert state.ensure == state.errors == []


def test_accepted_uses_pytorch_extension_and_slicer_packaging(deps, monkeypatch):
    _slicer, module, state = deps
    monkeypatch.setitem(sys.modules, "PyTorchUtils", _fake_pytorchutils(state))
    state.missing = {"torch", "scipy"}
    assert module.ensureDependencies(backend="torch") is True
    assert "PyTorch extension" in state.asked[0]
    assert state.torch == [{"askConfirmation": False, "torchVersionRequirement": ">=2.0"}]  # asked once, above
    assert state.ensure == [(["scipy>=1.7"], {"prompt_install": False, "requester": "AnomalyDetect"})]
    assert state.pip == state.errors == []
    monkeypatch.setitem(sys.modules, "PyTorchUtils", _fake_pytorchutils(state, succeed=False))  # installTorch -> None: stop
    state.missing, state.torch, state.ensure = {"torch", "numpy"}, [], []
    assert module.ensureDependencies(backend="torch") is False
    assert len(state.torch) == 1 and state.ensure == state.pip == []


def test_failed_or_incomplete_installation_reports_an_error(deps, monkeypatch):
    slicer, module, state = deps
    state.missing = {"numpy"}

    def fail(requirements, **kwargs):
        raise RuntimeError("pip exited with code 1")

    monkeypatch.setattr(slicer.packaging, "pip_ensure", fail)
    assert module.ensureDependencies() is False
    assert "pip exited with code 1" in state.errors[-1]
    monkeypatch.setattr(slicer.packaging, "pip_ensure", lambda reqs, **kw: None)  # "succeeds" but numpy stays missing
    assert module.ensureDependencies() is False
    assert "numpy>=1.21" in state.errors[-1] and "Restart Slicer" in state.errors[-1]


def test_without_torch_an_exported_model_needs_only_onnxruntime(deps, tmp_path):
    _slicer, module, state = deps
    state.missing = {"torch", "onnxruntime", "scipy"}
    assert module.requiredPackages() == ["onnxruntime", "numpy", "SimpleITK", "scipy"]  # the bundled model has its ONNX graph
    assert module.ensureDependencies() is True
    assert len(state.asked) == 1 and "torch" not in state.asked[0] and "tens of MB" in state.asked[0]
    assert state.ensure == [(["onnxruntime>=1.16", "scipy>=1.7"], {"prompt_install": False, "requester": "AnomalyDetect"})]
    assert state.torch == state.pip == [] and state.missing == {"torch"}


def test_torch_is_asked_for_when_chosen_installed_or_needed_by_a_model(deps, tmp_path):
    from AnomalyDetectLib.bundle import default_bundle_path, load_bundle, save_bundle

    _slicer, module, state = deps
    bundled = load_bundle(default_bundle_path())
    without_graph = str(tmp_path / "no_graph.safetensors")
    save_bundle(without_graph, {k: v for k, v in bundled.manifest.items() if k != "onnx"},
                {k: v for k, v in bundled.tensors.items() if not k.startswith("onnx/")})
    latent_search = str(tmp_path / "latent.safetensors")
    traits = dict(bundled.manifest["onnx"]["method_traits"], latent_search=True)
    save_bundle(latent_search, dict(bundled.manifest, onnx=dict(bundled.manifest["onnx"], method_traits=traits)), dict(bundled.tensors))
    state.missing = {"torch"}
    assert "torch" in module.requiredPackages([None, without_graph]) and "onnxruntime" not in module.requiredPackages([without_graph])
    assert "torch" in module.requiredPackages([latent_search])
    assert "torch" in module.requiredPackages(backend="torch") and "torch" not in module.requiredPackages(backend="onnx")
    assert module.missingRequirements([None]) == [] and module.missingRequirements([without_graph]) == ["torch>=2.0"]
    state.missing = set()  # torch installed: "auto" runs on it, so onnxruntime is not needed
    assert "torch" in module.requiredPackages() and "onnxruntime" not in module.requiredPackages()


def _pyproject_dependencies():
    """{distribution: requirement} of [project] dependencies and of the "onnx" extra (onnxruntime: detection without torch)."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    blocks = [re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M).group(1), re.search(r"^onnx = \[(.*?)\]", text, re.M).group(1)]
    return {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower(): d for block in blocks for d in re.findall(r'"([^"]+)"', block)}


def test_required_packages_are_what_the_core_imports():
    if not hasattr(sys, "stdlib_module_names"):  # Python 3.10+
        pytest.skip("needs sys.stdlib_module_names")
    tree_imports = set()  # top-level names of every absolute import, at any depth
    for path in (MODULE_DIR / "AnomalyDetectLib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                tree_imports |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                tree_imports.add(node.module.split(".")[0])
    third_party = tree_imports - set(sys.stdlib_module_names) - {"AnomalyDetectLib"}
    spec = importlib.util.spec_from_file_location("_anomalydetect_dependencies_list", DEPENDENCIES_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # only stdlib at file scope: safe without Slicer
    assert {name for name, _req in module.REQUIREMENTS} == third_party  # nothing more is ever installed
    pyproject = _pyproject_dependencies()
    for _name, requirement in module.REQUIREMENTS:
        distribution = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        assert distribution in pyproject, f"{requirement}: the module would install a package pyproject.toml does not declare"
        assert requirement == pyproject[distribution], "version range differs from pyproject.toml"


def test_dependencies_file_imports_only_stdlib_at_file_scope():
    tree = ast.parse(DEPENDENCIES_FILE.read_text(encoding="utf-8"))
    top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top |= {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    assert top <= {"importlib", "logging", "re", "sys"}
    ensure = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "ensureDependencies")
    assert len(ensure.args.defaults) == len(ensure.args.args) and not ensure.args.kwonlyargs  # ensureDependencies() -> bool still works


def test_standin_packaging_mirrors_slicer(deps):
    _slicer, _module, state = deps
    pip_ensure = state.standin_pip_ensure
    source = pip_ensure.__slicer_source__
    assert source.startswith("Base/Python/slicer/packaging.py: def pip_ensure(")
    declared = ast.parse(source.split(": ", 1)[1] + ": pass").body[0].args
    assert [a.arg for a in declared.args] == list(pip_ensure.__code__.co_varnames[: pip_ensure.__code__.co_argcount])
    assert [ast.literal_eval(d) for d in declared.defaults] == list(pip_ensure.__defaults__)



def _installed(monkeypatch, module, versions):
    """Pretend these distributions are installed in these versions (the others as they are)."""
    original = module.importlib.metadata.version
    monkeypatch.setattr(module.importlib.metadata, "version", lambda name: versions[name] if name in versions else original(name))


def test_an_installed_torch_older_than_2_0_counts_as_missing(deps, monkeypatch):
    slicer, module, state = deps
    _installed(monkeypatch, module, {"torch": "1.13.1+cu117"})
    assert module.missingRequirements() == ["torch>=2.0"]
    monkeypatch.setattr(slicer.app, "_testingEnabled", True)
    with pytest.raises(module.MissingDependenciesError, match=r"torch>=2\.0"):
        module.ensureDependencies()
    _installed(monkeypatch, module, {"torch": "2.0.0", "numpy": "1.21.6"})  # exactly the minimum is enough
    assert module.missingRequirements() == []
    _installed(monkeypatch, module, {"numpy": "1.20.3"})
    assert module.missingRequirements() == ["numpy>=1.21"]


def test_an_old_torch_is_upgraded_and_a_restart_is_asked_for(deps, monkeypatch):
    slicer, module, state = deps
    versions = {"torch": "1.12.0"}
    _installed(monkeypatch, module, versions)
    monkeypatch.setattr(slicer.util, "pip_install", lambda requirements: state.pip.append(requirements) or versions.update(torch="2.3.1"))
    pytest.importorskip("torch")  # imported in this session: the old version would stay loaded until a restart
    assert module.ensureDependencies() is False
    assert "upgrading the installed 1.12.0" in state.asked[0] and state.pip == ["torch>=2.0"]
    assert len(state.errors) == 1 and "restart Slicer" in state.errors[0]
    assert module.missingRequirements() == []
