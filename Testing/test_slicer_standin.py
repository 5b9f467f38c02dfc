"""The Qt stand-in (Testing/slicer_standin) keeps to what it mirrors: every public member records the Slicer or Qt
source it follows, and Python signatures match that source. Fixtures come from ``Testing/conftest.py``.
"""

import ast
import inspect
import re
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STANDIN_DIR = REPO / "Testing" / "slicer_standin"


# --- the stand-in mirrors Slicer ---------------------------------------------------------------

_SOURCE_PATTERN = re.compile(r"^(Base|Libs|Modules)/[\w/.]+\.(h|py)\b|^Qt: ")


def _public_members(namespace):
    return {name: value for name, value in vars(namespace).items() if not name.startswith("_")}


def _from_standin(obj):
    try:
        path = inspect.getsourcefile(obj)
    except TypeError:  # built-in (VTK) classes and functions
        return False
    return path is not None and Path(path).resolve().is_relative_to(STANDIN_DIR.resolve())


def _mirrored_objects(slicer, qt):
    """(qualified name, object) for every public function, class, method and property of the stand-in (Qt side only:
    MRML, logics and the rest of ``slicer.util`` are Slicer's own, from the slicer-core wheel)."""
    import ctk
    import slicer._application
    import slicer._gui_util
    import slicer._widgets
    import slicer.packaging

    found = []
    modules = [
        ("slicer", slicer),
        ("slicer.util", slicer._gui_util),
        ("slicer.app", slicer._application),
        ("slicer", slicer._widgets),
        ("slicer.ScriptedLoadableModule", slicer.ScriptedLoadableModule),
        ("slicer.i18n", slicer.i18n),
        ("slicer.packaging", slicer.packaging),
        ("qt", qt),
        ("ctk", ctk),
        ("slicer.parameterNodeWrapper", slicer.parameterNodeWrapper),
    ]
    for module_name, module in modules:
        for name, value in _public_members(module).items():
            if isinstance(value, types.ModuleType) or name in ("app", "mrmlScene", "__all__", "mirrors") or not _from_standin(value):
                continue
            if inspect.isclass(value):
                found.append((f"{module_name}.{name}", value))
                for member_name, member in vars(value).items():
                    # Python base classes' __init__ are mirrored; other private members are the stand-in's own.
                    python_class = module_name in ("slicer.ScriptedLoadableModule", "qt", "ctk", "slicer.parameterNodeWrapper")
                    if member_name.startswith("_") and not (member_name == "__init__" and python_class):
                        continue
                    if isinstance(member, property):
                        member = member.fget
                    if callable(member):
                        found.append((f"{module_name}.{name}.{member_name}", member))
            elif callable(value):
                found.append((f"{module_name}.{name}", value))
    return found


def test_standin_members_record_the_slicer_source_they_mirror(slicer_module):
    slicer, _module = slicer_module
    import qt

    members = _mirrored_objects(slicer, qt)
    assert len(members) > 60
    missing = [name for name, obj in members if not _SOURCE_PATTERN.match(getattr(obj, "__slicer_source__", ""))]
    assert not missing, f"stand-in members without a recorded Slicer source: {missing}"


def _declared_parameters(source):
    """Parameter names and defaults of 'def name(...)' / 'Class.name(...)' recorded from Slicer's Python source."""
    if ".py: " not in source:
        return None  # C++ headers and Qt: checked by reading them, not here
    match = re.search(r"(?:def\s+|\.)\w+\((.*)\)\s*$", source.split(": ", 1)[1])
    if not match:
        return None
    tree = ast.parse(f"def f({match.group(1)}): pass")
    args = tree.body[0].args
    names = [a.arg for a in args.args]
    defaults = [ast.literal_eval(d) for d in args.defaults]
    return names, defaults, args.vararg is not None, args.kwarg is not None


def test_standin_python_signatures_match_slicer(slicer_module):
    slicer, _module = slicer_module
    import qt

    checked = 0
    for name, obj in _mirrored_objects(slicer, qt):
        declared = _declared_parameters(obj.__slicer_source__)
        if declared is None:
            continue
        names, defaults, has_varargs, has_kwargs = declared
        signature = inspect.signature(obj)
        parameters = list(signature.parameters.values())
        positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert [p.name for p in positional] == names, name
        actual_defaults = [p.default for p in positional if p.default is not p.empty]
        assert actual_defaults == defaults, name
        assert any(p.kind == p.VAR_POSITIONAL for p in parameters) == has_varargs, name
        assert any(p.kind == p.VAR_KEYWORD for p in parameters) == has_kwargs, name
        checked += 1
    assert checked >= 15


def test_standin_lacks_what_it_does_not_provide(slicer_module, scene):
    # The Qt side is only what the module needs: anything else raises AttributeError instead of passing silently.
    slicer, _module = slicer_module
    import ctk
    import qt

    for owner, name in [
        (slicer, "qMRMLSubjectHierarchyTreeView"),
        (slicer.modules, "volumerendering"),
        (slicer.app, "layoutManager"),
        (slicer.app, "moduleManager"),
        (slicer.app, "coreIOManager"),
        (qt, "QSlider"),
        (ctk, "ctkSliderWidget"),
    ]:
        with pytest.raises(AttributeError):
            getattr(owner, name)


def test_the_backend_is_slicer_core_with_the_qt_standin(slicer_module):
    # MRML, logics and slicer.util are the wheel's; only the Qt side comes from the stand-in.
    slicer, _module = slicer_module
    import qt

    assert "site-packages" in slicer.__file__ and "slicer_standin" not in slicer.util.__file__
    assert type(slicer.mrmlScene).__module__.startswith("slicer_core")
    assert slicer.modules.segmentations.logic().GetClassName() == "vtkSlicerSegmentationsModuleLogic"
    assert slicer.app.applicationLogic().GetModuleLogic("Markups") is slicer.modules.markups.logic()
    assert Path(qt.__file__).resolve().is_relative_to(STANDIN_DIR.resolve())
    assert slicer.util.loadUI.__module__ == "slicer._gui_util"
