"""Packaging for Slicer, offline: Extensions Index entry and CMake lists (facts from Slicer/Slicer and
Slicer/ExtensionsIndex sources cited below), AnomalyDetectSlicerLib/dependencies.py on the stand-in of
Slicer's API, and Python 3.9 problems that ast.parse(feature_version=(3, 9)) does not catch."""

import ast
import importlib.util
import json
import re
import struct
import sys
import types
from pathlib import Path

import pytest
from conftest import put_standin_first

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "AnomalyDetect"
STANDIN_DIR = REPO / "Testing" / "slicer_standin"
CATALOG_ENTRY = REPO / "docs" / "AnomalyDetect.json"
DEPENDENCIES_FILE = MODULE_DIR / "AnomalyDetectSlicerLib" / "dependencies.py"
RAW_URL = "https://raw.githubusercontent.com/anomalydetect/SlicerAnomalyDetect/main/"


def _cmake_sets(path):
    """{variable: value} of every one-line set(NAME value) in a CMakeLists.txt (quotes and comments removed)."""
    pairs = re.findall(r"^\s*set\((\w+)\s+(.*?)\)\s*(?:#.*)?$", path.read_text(encoding="utf-8"), re.M)
    return {name: value.strip().strip('"') for name, value in pairs}


# --- Extensions Index catalog entry ----------------------------------------------------------------
# Schema: Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json (Slicer/Slicer; the Index validates
# against its copy schemas/slicer-extension-catalog-entry-schema-v1.0.1.json, Slicer/ExtensionsIndex
# commit 00b8d9c914b86fe153543074aa49fe1b21d02c1b, named in its .pre-commit-config.yaml). v1.0.2
# (Slicer/Slicer commit 5767566820c4378c7c28c967d60d114892fb443d) only adds dicom_support_rule.
SCHEMA_URL = "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/slicer-extension-catalog-entry-schema-v1.0.1.json#"
SCHEMA_REQUIRED = ("$schema", "category", "scm_url")
SCHEMA_TYPES = {  # additionalProperties: false, so only these keys
    "$schema": str, "category": str, "scm_url": str, "scm_revision": str, "scm_type": str,
    "build_dependencies": list, "build_subdirectory": str, "enabled": bool, "tier": int,
}


@pytest.fixture(scope="module")
def entry():
    return json.loads(CATALOG_ENTRY.read_text(encoding="utf-8"))


def test_catalog_entry_follows_the_schema(entry):
    assert entry["$schema"] == SCHEMA_URL
    assert set(SCHEMA_REQUIRED) <= set(entry), "required keys missing"
    assert set(entry) <= set(SCHEMA_TYPES), f"keys the schema forbids: {sorted(set(entry) - set(SCHEMA_TYPES))}"
    for key, value in entry.items():
        assert isinstance(value, SCHEMA_TYPES[key]) and not (SCHEMA_TYPES[key] is int and isinstance(value, bool)), key
    assert all(isinstance(item, str) for item in entry.get("build_dependencies", []))
    assert entry.get("scm_type", "git") in ("git", "local") and 1 <= entry.get("tier", 1) <= 5  # schema enum, min/max
    # Index style (AGENTS.md, Slicer/ExtensionsIndex): two-space indentation, multiline arrays; keys sorted as in its entries.
    assert CATALOG_ENTRY.read_text(encoding="utf-8") == json.dumps(entry, indent=2, sort_keys=True) + "\n"


def test_catalog_entry_matches_the_extension(entry):
    # Checks of scripts/check_description_files.py (Slicer/ExtensionsIndex commit 08798e56cd5865fda916b29d869115817f4c14d8).
    top = _cmake_sets(REPO / "CMakeLists.txt")
    project = re.search(r"^project\(\s*([^\s)]+)", (REPO / "CMakeLists.txt").read_text(encoding="utf-8"), re.M).group(1)
    assert CATALOG_ENTRY.stem == project == "AnomalyDetect"  # file name must equal project()
    assert entry["scm_url"] == "https://github.com/anomalydetect/SlicerAnomalyDetect.git" and entry["scm_revision"] == "main"
    assert entry["scm_url"].split("://")[0] in ("git", "https")
    assert "slicer" in Path(entry["scm_url"]).stem.lower()  # repository named Slicer<Name>
    assert entry["category"] == top["EXTENSION_CATEGORY"] == "Quantification"  # one of ACCEPTED_EXTENSION_CATEGORIES
    depends = [] if top["EXTENSION_DEPENDS"] == "NA" else top["EXTENSION_DEPENDS"].replace(";", " ").split()
    assert entry["build_dependencies"] == depends == ["PyTorch"]
    assert any((REPO / name).is_file() for name in ("LICENSE", "LICENCE", "License.txt", "license.txt", "LICENSE.txt", "COPYING"))


# --- top-level CMakeLists.txt (Utilities/Templates/Extensions/Default/CMakeLists.txt, Slicer/Slicer
# commit da65fbce0d9c85f37418a3081bcd1429ba59bdec; CMake/SlicerExtensionCPack.cmake commit b727d9a0) ---

TEMPLATE_METADATA = ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS")


def test_extension_metadata_is_complete():
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    values = _cmake_sets(REPO / "CMakeLists.txt")
    for name in TEMPLATE_METADATA:
        assert values.get(f"EXTENSION_{name}"), f"EXTENSION_{name} is not set"
    assert values["EXTENSION_HOMEPAGE"] + ".git" == json.loads(CATALOG_ENTRY.read_text())["scm_url"]
    # Icon (png, 128x128 per Extensions/CMake/SlicerExtensionDescriptionSpec.cmake) and screenshots: files in this repository.
    urls = [values["EXTENSION_ICONURL"]] + values["EXTENSION_SCREENSHOTURLS"].split()
    for url in urls:
        assert url.startswith(RAW_URL) and (REPO / url[len(RAW_URL):]).is_file(), url
    header = (REPO / values["EXTENSION_ICONURL"][len(RAW_URL):]).read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (128, 128)
    # SlicerExtensionCPack.cmake packages EXTENSION_LICENSE_FILE / EXTENSION_README_FILE, which UseSlicer.cmake
    # defaults to Slicer's own files unless they are set before include(${Slicer_USE_FILE}).
    for name, file in (("EXTENSION_LICENSE_FILE", "LICENSE"), ("EXTENSION_README_FILE", "README.md")):
        assert values[name] == "${CMAKE_CURRENT_SOURCE_DIR}/" + file and (REPO / file).is_file()
        assert text.index(f"set({name}") < re.search(r"^include\(\$\{Slicer_USE_FILE\}\)", text, re.M).start()
    for line in ("add_subdirectory(AnomalyDetect)", "include(${Slicer_EXTENSION_GENERATE_CONFIG})", "include(${Slicer_EXTENSION_CPACK})"):
        assert line in text


# --- AnomalyDetect/CMakeLists.txt (Utilities/Templates/Modules/Scripted/CMakeLists.txt, commit 48419a30) ---


def _module_resources():
    """(explicit entries, glob patterns) of MODULE_PYTHON_RESOURCES, relative to AnomalyDetect/."""
    text = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    block = re.search(r"set\(MODULE_PYTHON_RESOURCES\s(.*?)\)", text, re.S)
    explicit = [e.replace("${MODULE_NAME}", "AnomalyDetect") for e in re.sub(r"#.*", "", block.group(1)).split()]
    patterns = []
    for variable, body in re.findall(r"file\(GLOB\s+(\w+)(.*?)\)", text, re.S):
        if f"list(APPEND MODULE_PYTHON_RESOURCES ${{{variable}}})" in text:
            assert "RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}" in body and "LIST_DIRECTORIES false" in body
            patterns += re.findall(r"\$\{CMAKE_CURRENT_SOURCE_DIR\}/(\S+)", body)
    return text, explicit, patterns


def _glob_regex(pattern):
    # CMake GLOB (not GLOB_RECURSE): '*' and '?' stay within one folder.
    return re.compile("".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern) + r"\Z")


def test_every_resource_file_is_installed():
    _text, explicit, patterns = _module_resources()
    assert "Resources/Icons/AnomalyDetect.png" in explicit
    missing_files = [e for e in explicit if not (MODULE_DIR / e).is_file()]
    assert not missing_files, f"MODULE_PYTHON_RESOURCES lists files that do not exist (build fails): {missing_files}"
    assert "Resources/UI/*.ui" in patterns or "Resources/UI/AnomalyDetect.ui" in explicit
    regexes = [_glob_regex(p) for p in patterns]
    present = [p.relative_to(MODULE_DIR).as_posix() for p in (MODULE_DIR / "Resources").rglob("*") if p.is_file()]
    assert present
    unlisted = [f for f in present if f not in explicit and not any(r.match(f) for r in regexes)]
    assert not unlisted, f"resource files missing from MODULE_PYTHON_RESOURCES (not installed): {unlisted}"


def test_module_build_and_test_registration_follow_the_template():
    text, _explicit, _patterns = _module_resources()
    build = re.search(r"slicerMacroBuildScriptedModule\((.*?)\)", text, re.S).group(1).split()
    assert build == ["NAME", "${MODULE_NAME}", "SCRIPTS", "${MODULE_PYTHON_SCRIPTS}", "RESOURCES", "${MODULE_PYTHON_RESOURCES}",
                     "WITH_GENERIC_TESTS"]
    testing = re.search(r"^if\(BUILD_TESTING\)\n(.*?)^endif\(\)", text, re.S | re.M)
    assert testing, "no if(BUILD_TESTING) ... endif() block"
    body = re.sub(r"#.*", "", testing.group(1))
    assert "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in body
    if "add_subdirectory(Testing)" in body:  # the template's "Additional build-time testing"
        assert (MODULE_DIR / "Testing" / "CMakeLists.txt").is_file()


# --- dependencies.py with the stand-in -------------------------------------------------------------


@pytest.fixture
def deps(monkeypatch):
    """(slicer stand-in, dependencies module, state) in an interactive session: GUI, not testing."""
    slicer = put_standin_first()
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


# --- Python 3.9 (Slicer 5.8) beyond ast.parse(feature_version=(3, 9)) ------------------------------

# (module, attribute): first Python version. Used at run time, these fail on 3.9.
_NEW_BY_VERSION = {
    "3.10": "itertools.pairwise types.NoneType types.UnionType types.EllipsisType inspect.get_annotations sys.orig_argv "
            "sys.stdlib_module_names statistics.correlation statistics.covariance statistics.linear_regression "
            "typing.TypeAlias typing.ParamSpec typing.TypeGuard typing.Concatenate",
    "3.11": "typing.Self typing.Never typing.LiteralString typing.assert_never typing.NotRequired typing.Required enum.StrEnum "
            "contextlib.chdir datetime.UTC math.cbrt math.exp2 hashlib.file_digest asyncio.TaskGroup asyncio.timeout operator.call",
    "3.12": "itertools.batched typing.override",
}
NEW_STDLIB = {tuple(name.split(".")): version for version, names in _NEW_BY_VERSION.items() for name in names.split()}
NEW_MODULES = {"tomllib": "3.11"}
NEW_KEYWORDS = {"zip": {"strict"}, "dataclass": {"slots", "kw_only", "match_args"}, "field": {"kw_only"},
                "bisect": {"key"}, "bisect_left": {"key"}, "bisect_right": {"key"}, "insort": {"key"}}


def _has_bitor(node, none_only=False):
    for sub in ast.walk(node):
        if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr):
            sides = (sub.left, sub.right)
            if not none_only or any(isinstance(s, ast.Constant) and s.value is None for s in sides):
                return True
    return False


def python39_problems(source, strict_annotations=False):
    """(line, message) for 3.10+ features evaluated at run time on Python 3.9."""
    tree = ast.parse(source)
    postponed = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
                    for n in tree.body)
    problems, aliases = [], {}

    def annotation(node, where, evaluated):
        if node is not None and (evaluated or strict_annotations) and _has_bitor(node):
            problems.append((node.lineno, f"'X | Y' {where} annotation is evaluated at run time"))

    def visit(node, scope, wrapper=False):  # scope: "module", "class" or "function"
        if isinstance(node, ast.If) and ("TYPE_CHECKING" in ast.dump(node.test) or "version_info" in ast.dump(node.test)):
            return  # not run on 3.9 (or not at all)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs + [node.args.vararg, node.args.kwarg]
            for arg in filter(None, args):
                annotation(arg.annotation, "argument", not postponed)
            annotation(node.returns, "return", not postponed)
            for child in node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]:
                visit(child, scope)
            for child in node.body:
                visit(child, "function")
            return
        if isinstance(node, ast.ClassDef):
            names = {ast.unparse(d).split("(")[0].split(".")[-1] for d in node.decorator_list}
            wrapped = bool(names & {"parameterNodeWrapper", "parameterPack"})  # Slicer evaluates these annotations
            for child in node.decorator_list + node.bases + node.keywords:
                visit(child, scope)
            for child in node.body:
                visit(child, "class", wrapped)
            return
        if isinstance(node, ast.AnnAssign):
            if scope != "function" and (wrapper or strict_annotations or not postponed) and _has_bitor(node.annotation):
                problems.append((node.lineno, "'X | Y' variable annotation is evaluated at run time"))
            if node.value is not None:
                visit(node.value, scope)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name] = alias.name
                if alias.name in NEW_MODULES:
                    problems.append((node.lineno, f"module {alias.name} is Python {NEW_MODULES[alias.name]}+"))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module in NEW_MODULES:
                problems.append((node.lineno, f"module {node.module} is Python {NEW_MODULES[node.module]}+"))
            for alias in node.names:
                if (node.module, alias.name) in NEW_STDLIB:
                    problems.append((node.lineno, f"{node.module}.{alias.name} is Python {NEW_STDLIB[node.module, alias.name]}+"))
        elif isinstance(node, ast.Attribute):
            key = (aliases.get(node.value.id) if isinstance(node.value, ast.Name) else None, node.attr)
            if key in NEW_STDLIB:
                problems.append((node.lineno, f"{key[0]}.{key[1]} is Python {NEW_STDLIB[key]}+"))
            elif node.attr == "bit_count":
                problems.append((node.lineno, "int.bit_count() is Python 3.10+"))
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else ""
            used = {k.arg for k in node.keywords} & NEW_KEYWORDS.get(name, set())
            if used:
                problems.append((node.lineno, f"{name}({', '.join(sorted(used))}=...) is Python 3.10+"))
            if name in ("isinstance", "issubclass") and len(node.args) == 2 and _has_bitor(node.args[1]):
                problems.append((node.lineno, f"{name}(x, X | Y) is Python 3.10+"))
        elif isinstance(node, ast.BinOp) and _has_bitor(node, none_only=True):
            problems.append((node.lineno, "'X | None' outside annotations is Python 3.10+"))
            return
        for child in ast.iter_child_nodes(node):
            visit(child, scope, wrapper)

    for statement in tree.body:
        visit(statement, "module")
    return sorted(set(problems))


@pytest.mark.parametrize("path", sorted(p for p in MODULE_DIR.rglob("*.py") if "__pycache__" not in p.parts),
                         ids=lambda p: str(p.relative_to(MODULE_DIR)))
def test_no_python_3_10_features_at_run_time(path):
    # parameters.py holds parameterNodeWrapper classes, whose annotations Slicer evaluates even when postponed.
    strict = path == MODULE_DIR / "AnomalyDetectSlicerLib" / "parameters.py"
    problems = python39_problems(path.read_text(encoding="utf-8"), strict_annotations=strict)
    assert not problems, f"{path.name}: {problems}"


def test_python39_check_finds_what_it_should():
    bad = """
import itertools as it
from typing import Optional, Self
def f(a: int | None) -> list[int]:
    local: int | None = None
    return [x.bit_count() for x in zip(a, a, strict=True)] + list(it.pairwise(a)) + [isinstance(a, int | str)]
class C:
    x: "str | None" = None
    y: str | None = None
@parameterNodeWrapper
class P:
    z: Optional[int]
    w: int | None
T = int | None
"""
    lines = [line for line, _message in python39_problems(bad)]
    assert lines == [3, 4, 6, 6, 6, 6, 9, 13, 14]
    future = "from __future__ import annotations\ndef f(a: int | None) -> str | None: pass\nclass C:\n    y: str | None = None\n"
    assert python39_problems(future) == []
    assert [line for line, _m in python39_problems(future, strict_annotations=True)] == [2, 2, 4]
    ok = "FLAGS = 1 | 2\nif TYPE_CHECKING:\n    from typing import Self\ns = 'abc'.removeprefix('a')\nd: dict[str, int] = {}\n"
    assert python39_problems(ok) == []


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
