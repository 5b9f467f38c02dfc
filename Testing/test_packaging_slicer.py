"""Packaging for Slicer, offline: Extensions Index entry and CMake lists (facts from Slicer/Slicer and
Slicer/ExtensionsIndex sources cited below) and Python 3.9 problems that ast.parse(feature_version=(3, 9)) does not catch.
The dependency installer is tested in test_slicer_dependencies.py."""

import ast
import json
import re
import struct
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "AnomalyDetect"
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


# --- CMake lists every Python file --------------------------------------------------------------


def _cmake_python_scripts():
    """The files listed in MODULE_PYTHON_SCRIPTS of AnomalyDetect/CMakeLists.txt, relative to MODULE_DIR."""
    text = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    block = re.search(r"set\(MODULE_PYTHON_SCRIPTS\s(.*?)\)", text, re.S)
    assert block, "MODULE_PYTHON_SCRIPTS not found in AnomalyDetect/CMakeLists.txt"
    entries = re.sub(r"#.*", "", block.group(1)).split()
    return text, [entry.replace("${MODULE_NAME}", "AnomalyDetect") for entry in entries]


def test_cmakelists_lists_every_python_file():
    # Every .py file under AnomalyDetect/ (module file, AnomalyDetectLib, AnomalyDetectSlicerLib) is listed, and only those.
    text, entries = _cmake_python_scripts()
    present = {p.relative_to(MODULE_DIR).as_posix() for p in MODULE_DIR.rglob("*.py") if "__pycache__" not in p.parts}
    assert present - set(entries) == set(), "Python files missing from AnomalyDetect/CMakeLists.txt (not installed with the extension)"
    assert set(entries) - present == set(), "AnomalyDetect/CMakeLists.txt lists files that do not exist (CMake configure fails)"
    assert len(entries) == len(set(entries)), "AnomalyDetect/CMakeLists.txt lists a file twice"
    assert "AnomalyDetect.py" in entries and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text
