"""Real Slicer core as ``slicer`` for the module's tests: the slicer-core wheel's MRML, logics and ``slicer.util``.

:func:`start` does, once per process, what Slicer's application does at startup, with the wheel's
classes: one ``vtkMRMLScene``, a ``vtkSlicerApplicationLogic`` with the Colors module's
``vtkSlicerColorLogic`` (default colour nodes plus the file-based tables found in the share folder),
the module logics of Volumes, Markups, Segmentations, Plots, Tables, Transforms, Subject Hierarchy and
Data registered as the module manager does, and the Red, Yellow and Green slice nodes with their slice
logics (what the layout manager makes). ``slicer.mrmlScene``, ``slicer.app`` and
``slicer.modules.<name>.logic()`` then exist as in Slicer.

What the wheel cannot provide (it has no Qt: PythonQt is not on PyPI) comes from
``Testing/slicer_standin``: ``qt``, ``ctk``, the ``slicer.qMRML*`` widgets, ``ScriptedLoadableModule``,
``parameterNodeWrapper``, ``i18n``, ``packaging``, the application object and the widget/dialog functions
of ``slicer.util`` (see ``slicer_standin/slicer/_gui_util.py``). The stand-in's ``slicer`` folder has no
``__init__.py``: it is added to the real package's ``__path__``, so ``import slicer`` is always the wheel's.

The wheel ships no colour files. Slicer's Inferno, Magma, Plasma and Viridis tables
(Base/Logic/Resources/ColorFiles) are matplotlib's colour maps at 8 bits (each channel ``int(255 * c)``),
so they are written from matplotlib into the share folder in Slicer's colour-table file format and
loaded by the Colors logic like Slicer's own; Slicer's other file tables (label and chart colours) are not
available here.
"""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
import types

import vtk

TESTING_DIR = os.path.dirname(os.path.abspath(__file__))
STANDIN_DIR = os.path.join(TESTING_DIR, "slicer_standin")
SHARE_DIRECTORY = "share/Slicer-5.13"
#: Slicer's file colour tables that are matplotlib colour maps (Base/Logic/Resources/ColorFiles/<name>.txt).
MATPLOTLIB_COLOR_TABLES = ("Inferno", "Magma", "Plasma", "Viridis")
SLICE_VIEWS = ("Red", "Yellow", "Green")
#: (module name, logic class in the wheel); slicer.modules.<name.lower()>.logic() returns the logic.
MODULE_LOGICS = (
    ("Colors", "vtkSlicerColorLogic"),
    ("Volumes", "vtkSlicerVolumesLogic"),
    ("Markups", "vtkSlicerMarkupsLogic"),
    ("Segmentations", "vtkSlicerSegmentationsModuleLogic"),
    ("Plots", "vtkSlicerPlotsLogic"),
    ("Tables", "vtkSlicerTablesLogic"),
    ("Transforms", "vtkSlicerTransformLogic"),
    ("SubjectHierarchy", "vtkSlicerSubjectHierarchyModuleLogic"),
    ("Data", "vtkSlicerDataModuleLogic"),
)
#: slicer.util functions that need PythonQt in Slicer; the stand-in's versions replace them (loadVolume and
#: saveNode, which go through Qt's IO manager in Slicer, are done here with the volumes logic and storage nodes).
GUI_UTIL_FUNCTIONS = ("errorDisplay", "confirmOkCancelDisplay", "delayDisplay", "pip_install", "findChildren", "loadUI",
                      "childWidgetVariables", "reloadScriptedModule")


def available():
    """True when the slicer-core wheel is installed."""
    return importlib.util.find_spec("slicer_core") is not None


def missingMessage():
    return (f"slicer-core is not installed in this Python ({sys.version.split()[0]}): the Slicer-module tests run on real Slicer "
            "core (pip install -e \".[test]\" installs it on Python >= 3.10; the wheel needs Python >= 3.10).")


def writeColorTable(path, name):
    """Slicer's colour-table file for the matplotlib colour map ``name`` (256 entries, 8-bit, opaque)."""
    from matplotlib import colormaps

    colors = colormaps[name.lower()].resampled(256)(range(256))
    lines = ["# 256 values"] + [f"{i} {i} {int(255 * r)} {int(255 * g)} {int(255 * b)} 255" for i, (r, g, b, _a) in enumerate(colors)]
    with open(path, "w", encoding="ascii") as stream:
        stream.write("\n".join(lines) + "\n")


def _shareFolder():
    home = tempfile.mkdtemp(prefix="slicer_core_home_")
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # one per test process; left behind, they pile up in /tmp
    colorFiles = os.path.join(home, SHARE_DIRECTORY, "ColorFiles")
    os.makedirs(colorFiles)
    for name in MATPLOTLIB_COLOR_TABLES:
        writeColorTable(os.path.join(colorFiles, name + ".txt"), name)
    return home


def _addStandin(slicer):
    portion = os.path.join(STANDIN_DIR, "slicer")
    if portion not in slicer.__path__:
        slicer.__path__.append(portion)
    if STANDIN_DIR not in sys.path:
        sys.path.insert(0, STANDIN_DIR)  # qt, ctk, SampleData


def _buildApplication(slicer):
    """Scene, application logic, colour and module logics, slice logics: as qSlicerCoreApplication and the module manager do."""
    scene = slicer.vtkMRMLScene()
    appLogic = slicer.vtkSlicerApplicationLogic()
    appLogic.SetHomeDirectory(_shareFolder())
    appLogic.SetShareDirectory(SHARE_DIRECTORY)
    appLogic.SetMRMLScene(scene)
    logics = {}
    for name, className in MODULE_LOGICS:
        logic = getattr(slicer, className)()
        logic.SetMRMLApplicationLogic(appLogic)
        logic.SetMRMLScene(scene)
        appLogic.SetModuleLogic(name, logic)
        logics[name] = logic
    appLogic.SetColorLogic(logics["Colors"])  # qSlicerColorsModule::setup
    if scene.GetNodeByID(f"vtkMRMLColorTableNodeFile{MATPLOTLIB_COLOR_TABLES[0]}.txt") is None:
        logics["Colors"].AddDefaultColorNodes()
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)
    sliceLogics = vtk.vtkCollection()
    for viewName in SLICE_VIEWS:
        sliceLogic = slicer.vtkMRMLSliceLogic()
        sliceLogic.SetMRMLApplicationLogic(appLogic)
        sliceLogic.SetMRMLScene(scene)
        sliceLogic.AddSliceNode(viewName)
        sliceLogics.AddItem(sliceLogic)
    appLogic.SetSliceLogics(sliceLogics)
    return scene, appLogic, logics


def loadVolume(filename, properties={}, returnNode=False):  # noqa: B006 - Slicer's signature
    """``slicer.util.loadVolume`` for one file, as Slicer's volumes reader (qSlicerVolumesReader) does it:
    the Volumes logic reads it (ITK), named after ``properties["name"]`` or the file; shown in the slice views."""
    import slicer

    name = properties.get("name") or os.path.basename(str(filename)).split(".")[0]
    node = slicer.modules.volumes.logic().AddArchetypeVolume(str(filename), name, 1 if properties.get("labelmap") else 0)
    if returnNode:
        return node is not None, node
    if node is None:
        raise RuntimeError(f"Failed to load node from file: {filename}")
    if properties.get("show", True):
        selection = slicer.app.applicationLogic().GetSelectionNode()
        selection.SetActiveVolumeID(node.GetID())
        slicer.app.applicationLogic().PropagateVolumeSelection(0)
    return node


def saveNode(node, filename, properties={}):  # noqa: B006 - Slicer's signature
    """``slicer.util.saveNode`` as Slicer's node writer (qSlicerNodeWriter) does it: the node's storage node
    (its default one when it has none) writes the file with Slicer's own writer (NRRD, CSV, ...)."""
    storage = node.GetStorageNode()
    if storage is None:
        node.AddDefaultStorageNode()
        storage = node.GetStorageNode()
    if storage is None:
        return False
    storage.SetFileName(str(filename))
    return bool(storage.WriteData(node))


def start():
    """``slicer`` with real Slicer core behind it (built on the first call). Raises ImportError without slicer-core."""
    import slicer

    if getattr(slicer, "mrmlScene", None) is not None and hasattr(slicer, "vtkMRMLScene"):
        return slicer
    if not hasattr(slicer, "vtkMRMLScene"):
        raise ImportError(f"'slicer' ({getattr(slicer, '__file__', None)}) is not slicer-core's. " + missingMessage())
    _addStandin(slicer)
    scene, appLogic, logics = _buildApplication(slicer)

    from slicer import _gui_util, _widgets
    from slicer._application import qSlicerAbstractCoreModule, qSlicerApplication

    for name in ("qMRMLWidget", "qMRMLNodeComboBox", "qSlicerScriptedLoadableModuleWidget"):
        setattr(slicer, name, getattr(_widgets, name))
    slicer.mrmlScene = scene
    slicer.app = qSlicerApplication(scene, appLogic)
    modules = types.ModuleType("slicer.modules")
    sys.modules["slicer.modules"] = modules
    for name, logic in logics.items():
        setattr(modules, name.lower(), qSlicerAbstractCoreModule(name, logic))
    slicer.modules = modules
    for name in GUI_UTIL_FUNCTIONS:
        setattr(slicer.util, name, getattr(_gui_util, name))
    slicer.util._displayedMessages = _gui_util._displayedMessages
    slicer.util.loadVolume = loadVolume
    slicer.util.saveNode = saveNode
    import slicer.i18n  # noqa: F401
    import slicer.parameterNodeWrapper  # noqa: F401
    import slicer.ScriptedLoadableModule  # noqa: F401

    return slicer


def clearScene(scene):
    """File > Close Scene (``Clear(0)``: singletons such as slice, colour and parameter nodes stay, reset), then the
    parameter nodes of scripted modules removed, so each test starts from a fresh module state."""
    scene.Clear(0)
    for index in reversed(range(scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode"))):
        scene.RemoveNode(scene.GetNthNodeByClass(index, "vtkMRMLScriptedModuleNode"))
