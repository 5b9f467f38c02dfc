"""What a review of the module against Slicer 5.8 / 5.10 / main found, each checked on Slicer core (GUI parts on the Qt stand-in).

Reload of the Lib modules, the threshold after Close Scene, GUI connectors on Slicer 5.8, the
self-test without torch, vector/tensor/diffusion inputs and label maps, translatable text,
contributors, the sample in Sample Data, the module's dependencies, and display nodes left to
Slicer. (Installed versions: Testing/test_slicer_dependencies.py.)
"""

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MODULE_DIR, ROOT

SLICER_LIB_DIR = Path(MODULE_DIR) / "AnomalyDetectSlicerLib"


def _volume(slicer, module, name="Image", className=None):
    voxels = module.AnomalyDetectTest.syntheticVolumeArray()
    if className in (None, "vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode"):
        return slicer.util.addVolumeFromArray(voxels, ijkToRAS=module.AnomalyDetectTest.syntheticIJKToRAS(), name=name,
                                              nodeClassName=className)
    import vtk  # vector, tensor and diffusion volumes: image data with several components per voxel

    image = vtk.vtkImageData()
    image.SetDimensions(voxels.shape[2], voxels.shape[1], voxels.shape[0])
    image.AllocateScalars(vtk.VTK_FLOAT, 3 if className == "vtkMRMLVectorVolumeNode" else 9)
    node = slicer.mrmlScene.AddNewNodeByClass(className, name)
    node.SetAndObserveImageData(image)
    return node


# --- developer-mode Reload -----------------------------------------------------------------------

RELOAD_SCRIPT = """
import json, os, sys, types
sys.path[:0] = [{testing!r}, {module_dir!r}, {root!r}]
import slicer_core_backend
slicer = slicer_core_backend.start()
import qt
import AnomalyDetect
slicer.modules.anomalydetect = types.SimpleNamespace(path=os.path.join({module_dir!r}, "AnomalyDetect.py"))
parent = slicer.qSlicerScriptedLoadableModuleWidget()
parent.setLayout(qt.QVBoxLayout())
widget = AnomalyDetect.AnomalyDetectWidget(parent)
widget.setup()
slicer.modules.AnomalyDetectWidget = widget
oldWidgetClass, oldLogicClass = type(widget), sys.modules["AnomalyDetectSlicerLib.logic"].AnomalyDetectLogic
widget.onReload()
new = slicer.modules.AnomalyDetectWidget
print(json.dumps({{
    "new_widget": new is not widget,
    "widget_class_reloaded": type(new) is not oldWidgetClass,
    "widget_class_is_the_lib_one": type(new) is sys.modules["AnomalyDetectSlicerLib.widget"].AnomalyDetectWidget,
    "module_file_sees_reloaded_logic": sys.modules["AnomalyDetect"].AnomalyDetectLogic is not oldLogicClass,
    "new_widget_uses_reloaded_logic": type(new.logic) is sys.modules["AnomalyDetectSlicerLib.logic"].AnomalyDetectLogic,
}}))
"""


def test_reload_reloads_the_lib_modules_before_the_module_file():
    # In a separate process: reloading replaces classes that the other tests of this session hold.
    script = RELOAD_SCRIPT.format(testing=str(Path(ROOT) / "Testing"), module_dir=str(MODULE_DIR), root=str(ROOT))
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    checks = json.loads(completed.stdout.strip().splitlines()[-1])
    assert all(checks.values()), checks


# --- Close Scene -----------------------------------------------------------------------------------


def test_after_close_scene_the_threshold_box_shows_the_calibrated_threshold(slicer_module, widget):
    slicer, module = slicer_module
    calibrated = module.AnomalyDetectLogic.modelThresholds(None)["slice"]
    assert widget._parameterNode.threshold == pytest.approx(calibrated)
    slicer.mrmlScene.Clear()  # File > Close Scene: a fresh parameter node
    parameters = widget._parameterNode
    assert parameters.threshold == pytest.approx(calibrated), "the calibrated threshold is written to the new parameter node"
    widget.ui.useModelThresholdCheckBox.checked = False
    assert parameters.useModelThreshold is False and widget.ui.thresholdSpinBox.value == pytest.approx(calibrated, abs=1e-3)


# --- GUI connectors on Slicer 5.8 ------------------------------------------------------------------


def _connections(ui):
    return sum(len(slots) for name in ("deviceComboBox", "thresholdSpinBox", "roiMarginSpinBox")
               for slots in getattr(ui, name)._connections.values())


@pytest.mark.parametrize("version", [(5, 8), (5, 10)])
def test_entering_leaving_and_closing_the_scene_add_no_gui_connectors(slicer_module, widget, monkeypatch, version):
    slicer, _module = slicer_module
    import warnings

    monkeypatch.setattr(slicer.app, "_version", version)
    widget.exit()
    widget.enter()
    first = _connections(widget.ui)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # Slicer's VTKObservationMixin warns on removing an observer twice
        for _ in range(3):
            widget.exit()
            widget.enter()
            slicer.mrmlScene.Clear()
    assert _connections(widget.ui) == first
    widget.ui.deviceComboBox.currentIndex = 1
    assert widget._parameterNode.device == "cpu", "the panel still drives the parameter node"


def test_the_standins_connect_gui_returns_a_tag_only_from_slicer_5_10(slicer_module, scene, monkeypatch):
    slicer, _module = slicer_module
    from AnomalyDetectSlicerLib.parameters import AnomalyDetectParameterNode

    ui = slicer.util.childWidgetVariables(slicer.util.loadUI(os.path.join(MODULE_DIR, "Resources", "UI", "AnomalyDetect.ui")))
    wrapper = AnomalyDetectParameterNode(slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScriptedModuleNode"))
    assert wrapper.connectGui(ui) is None  # Slicer 5.8 (Base/Python/slicer/parameterNodeWrapper/wrapper.py: no return)
    monkeypatch.setattr(slicer.app, "_version", (5, 10))
    assert wrapper.connectGui(ui) == 1


# --- the self-test without torch (Extensions build machines) -----------------------------------------


def test_self_test_skips_detection_when_torch_is_not_installed(slicer_module, scene, monkeypatch, tiny_bundle_path, caplog):
    slicer, module = slicer_module
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails and find_spec finds nothing, as without torch
    test = module.AnomalyDetectTest()
    test.messageDelay = 0
    test.runTest(modelPath=tiny_bundle_path)
    assert "SKIPPED" in test.skippedReason and "torch>=2.0" in test.skippedReason
    assert "SKIPPED the detection tests" in caplog.text
    names = [slicer.mrmlScene.GetNthNode(n).GetName() for n in range(slicer.mrmlScene.GetNumberOfNodes())]
    assert not [name for name in names if name.endswith("anomaly map")], "no detection ran"


def test_self_test_runs_everything_when_torch_is_installed(slicer_module, scene, tiny_bundle_path):
    _slicer, module = slicer_module
    test = module.AnomalyDetectTest()
    test.messageDelay = 0
    test.runTest(modelPath=tiny_bundle_path)
    assert test.skippedReason is None


# --- inputs ---------------------------------------------------------------------------------------


# vtkMRMLTensorVolumeNode itself is not registered with Slicer's scene (only its subclasses can be made).
@pytest.mark.parametrize("className, words", [
    ("vtkMRMLVectorVolumeNode", "vector"),
    ("vtkMRMLDiffusionTensorVolumeNode", "tensor or diffusion"),
    ("vtkMRMLDiffusionWeightedVolumeNode", "tensor or diffusion"),
    ("vtkMRMLLabelMapVolumeNode", "label map"),
])
def test_volumes_that_are_no_single_channel_image_are_refused(slicer_module, scene, tiny_bundle_path, className, words):
    slicer, module = slicer_module
    from AnomalyDetectLib.errors import AnomalyDetectError

    node = _volume(slicer, module, "odd", className)
    assert node.IsA("vtkMRMLScalarVolumeNode"), "IsA alone would let it through"
    count = slicer.mrmlScene.GetNumberOfNodes()
    with pytest.raises(AnomalyDetectError, match=f"'odd' is (a|an) {words}"):
        module.AnomalyDetectLogic().process(node, modelPath=tiny_bundle_path, device="cpu")
    assert slicer.mrmlScene.GetNumberOfNodes() == count


def test_the_panel_does_not_preselect_a_volume_its_selector_cannot_show(slicer_module, scene):
    slicer, module = slicer_module
    import qt

    _volume(slicer, module, "labels", "vtkMRMLLabelMapVolumeNode")
    _volume(slicer, module, "rgb", "vtkMRMLVectorVolumeNode")
    parent = slicer.qSlicerScriptedLoadableModuleWidget()
    parent.setLayout(qt.QVBoxLayout())
    instance = module.AnomalyDetectWidget(parent)
    instance.setup()
    try:
        assert instance._parameterNode.inputVolume is None and instance.ui.inputSelector.currentNode() is None
        image = _volume(slicer, module, "image")
        instance.initializeParameterNode()
        assert instance._parameterNode.inputVolume is image and instance.ui.inputSelector.currentNode() is image
    finally:
        instance.cleanup()


# --- conventions ------------------------------------------------------------------------------------


def _module_parent(slicer, module):
    import types

    parent = types.SimpleNamespace(path=os.path.join(MODULE_DIR, "AnomalyDetect.py"))
    return module.AnomalyDetect(parent).parent


def test_title_category_and_texts_are_translatable(slicer_module, monkeypatch):
    slicer, module = slicer_module
    monkeypatch.setattr(slicer.app, "_translations", {
        ("AnomalyDetect", "Anomaly Detect"): "Détection d'anomalies",
        ("qSlicerAbstractCoreModule", "Quantification"): "Quantification (fr)",
    })
    parent = _module_parent(slicer, module)
    assert parent.title == "Détection d'anomalies" and parent.categories == ["Quantification (fr)"]


def test_texts_the_widget_shows_go_through_translation():
    tree = ast.parse((SLICER_LIB_DIR / "widget.py").read_text(encoding="utf-8"))
    untranslated = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr in ("text", "toolTip") for t in node.targets):
            values = [node.value] + ([node.value.body, node.value.orelse] if isinstance(node.value, ast.IfExp) else [])
            untranslated += [ast.unparse(v) for v in values if isinstance(v, (ast.Constant, ast.JoinedStr))]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "addItem":
            untranslated += [ast.unparse(a) for a in node.args if isinstance(a, ast.JoinedStr)]
    assert not untranslated, f"user-visible text not wrapped in _(): {untranslated}"


def test_contributors_are_name_and_organization(slicer_module):
    slicer, module = slicer_module
    contributors = _module_parent(slicer, module).contributors
    assert contributors and all(re.fullmatch(r"[^()]+ \([^()]+\)", c) for c in contributors), contributors
    cmake = (Path(ROOT) / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r'set\(EXTENSION_CONTRIBUTORS "([^"]+)"\)', cmake).group(1) == ", ".join(contributors)


def test_the_bundled_sample_is_registered_with_sample_data_on_startup(slicer_module, scene, monkeypatch):
    slicer, module = slicer_module
    monkeypatch.setattr(slicer.app, "_connections", {})
    monkeypatch.setattr(slicer.modules, "sampleDataSources", {}, raising=False)
    _module_parent(slicer, module)
    assert slicer.modules.sampleDataSources == {}, "registered only once the application has started"
    slicer.app._emit("startupCompleted()")
    (source,) = slicer.modules.sampleDataSources["AnomalyDetect"]
    assert os.path.isfile(source.thumbnailFileName)
    node = source.customDownloader(source)  # what the Sample Data button does
    assert node.GetName() == source.sampleName == "AnomalyDetectLGGFLAIR"
    assert slicer.util.arrayFromVolume(node).shape == (36, 256, 256)


def test_dependencies_name_every_module_whose_logic_is_called(slicer_module):
    slicer, module = slicer_module
    called = set()
    for path in [Path(MODULE_DIR) / "AnomalyDetect.py", *SLICER_LIB_DIR.glob("*.py")]:
        called |= set(re.findall(r"slicer\.modules\.(\w+)\.logic\(\)", path.read_text(encoding="utf-8")))
    assert called, "the module calls no module logic?"
    dependencies = _module_parent(slicer, module).dependencies
    assert called <= {name.lower() for name in dependencies}, (called, dependencies)
    # Markups and segmentation node classes are registered by those modules' logic.
    assert {"Markups", "Segmentations"} <= set(dependencies)


def test_removing_an_output_leaves_its_display_nodes_to_slicer(slicer_module, scene, monkeypatch):
    slicer, _module = slicer_module
    from AnomalyDetectSlicerLib import scene_outputs

    markups = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "points")
    markups.CreateDefaultDisplayNodes()
    display = markups.GetDisplayNode()
    calls, depth = [], [0]
    original = scene.RemoveNode

    def spy(node):  # records the module's own calls, not the scene's removal of display nodes
        if depth[0] == 0:
            calls.append(node.GetClassName())
        depth[0] += 1
        try:
            return original(node)
        finally:
            depth[0] -= 1

    monkeypatch.setattr(scene, "RemoveNode", spy)
    scene_outputs.removeNode(markups)
    assert calls == ["vtkMRMLMarkupsFiducialNode"]
    assert scene.GetNodeByID(display.GetID()) is None, "Slicer removed the display node itself"
