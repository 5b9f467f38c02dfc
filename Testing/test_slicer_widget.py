"""The module widget (AnomalyDetectSlicerLib/widget.py and Resources/UI/AnomalyDetect.ui) on Slicer core with the Qt stand-in.

``slicer.util.loadUI`` of the stand-in parses the real .ui file and builds the stand-in's
``qt`` / ``ctk`` / ``slicer.qMRML*`` widgets (an unknown class raises), and
``slicer.parameterNodeWrapper`` binds them to the parameter node as Slicer's GUI connectors
do. Tests that run detection need torch and the ``tiny_bundle_path`` fixture (Testing/conftest.py).
"""

import ast
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULE_DIR = REPO / "AnomalyDetect"
MODULE_FILE = MODULE_DIR / "AnomalyDetect.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "AnomalyDetect.ui"
WIDGET_FILE = MODULE_DIR / "AnomalyDetectSlicerLib" / "widget.py"






def _input_node(slicer, module, name="TestVolume", slices=10):
    voxels = module.AnomalyDetectTest.syntheticVolumeArray(slices=slices)
    return slicer.util.addVolumeFromArray(voxels, ijkToRAS=module.AnomalyDetectTest.syntheticIJKToRAS(), name=name)


def _ui_widgets():
    """(name, class) of every widget in the .ui file, and the root."""
    root = ElementTree.parse(UI_FILE).getroot()
    return [(w.get("name"), w.get("class")) for w in root.iter("widget")], root


# --- the .ui file --------------------------------------------------------------------------------


def test_ui_file_is_a_qmrmlwidget_with_custom_widgets_declared():
    widgets, root = _ui_widgets()
    assert root.find("widget").get("class") == "qMRMLWidget"
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used = {cls for _name, cls in widgets if not cls.startswith("Q")}
    assert used <= declared, f"custom widgets used but not declared in <customwidgets>: {used - declared}"
    connections = [(c.findtext("signal"), c.findtext("receiver"), c.findtext("slot")) for c in root.iter("connection")]
    combos = [name for name, cls in widgets if cls == "qMRMLNodeComboBox"]
    for combo in combos:  # as in the template: each MRML widget gets the scene from the top-level widget
        assert ("mrmlSceneChanged(vtkMRMLScene*)", combo, "setMRMLScene(vtkMRMLScene*)") in connections


def test_loadui_builds_every_widget_of_the_ui_file(slicer_module, scene):
    slicer, _module = slicer_module
    widgets, _root = _ui_widgets()
    uiWidget = slicer.util.loadUI(str(UI_FILE))
    ui = slicer.util.childWidgetVariables(uiWidget)
    for name, cls in widgets:
        assert type(getattr(ui, name)).__name__ == cls, name
    uiWidget.setMRMLScene(slicer.mrmlScene)
    assert ui.inputSelector.mrmlScene() is slicer.mrmlScene  # through the .ui's <connections>
    assert ui.inputSelector.nodeTypes == ("vtkMRMLScalarVolumeNode",) and not ui.inputSelector.showChildNodeTypes
    assert ui.applyButton.text == "Apply" and not ui.applyButton.enabled
    assert ui.landmarksCollapsibleButton.collapsed


def test_loadui_rejects_what_the_standin_does_not_know(slicer_module, tmp_path):
    slicer, _module = slicer_module
    unknown_class = tmp_path / "a.ui"
    unknown_class.write_text('<ui version="4.0"><widget class="qMRMLWidget" name="w"><layout class="QVBoxLayout" name="l">'
                             '<item><widget class="QSlider" name="s"/></item></layout></widget></ui>')
    with pytest.raises(RuntimeError, match="QSlider"):
        slicer.util.loadUI(str(unknown_class))
    unknown_property = tmp_path / "b.ui"
    unknown_property.write_text('<ui version="4.0"><widget class="QLabel" name="w">'
                                '<property name="openExternalLinks"><bool>true</bool></property></widget></ui>')
    with pytest.raises(RuntimeError, match="openExternalLinks"):
        slicer.util.loadUI(str(unknown_property))
    with pytest.raises(RuntimeError, match="file not found"):
        slicer.util.loadUI(str(tmp_path / "missing.ui"))


def test_every_ui_widget_used_by_the_widget_code_is_in_the_ui_file():
    names = {name for name, _cls in _ui_widgets()[0]}
    tree = ast.parse(WIDGET_FILE.read_text(encoding="utf-8"))
    used = {
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "ui"
        and isinstance(node.value.value, ast.Name) and node.value.value.id == "self"
    }
    assert used, "widget.py uses no self.ui.<name>?"
    assert used <= names, f"self.ui names missing from the .ui file: {sorted(used - names)}"


def test_parameter_names_in_the_ui_file_are_fields_of_the_parameter_node(slicer_module, scene):
    slicer, _module = slicer_module
    from AnomalyDetectSlicerLib.parameters import AnomalyDetectParameterNode

    root = ElementTree.parse(UI_FILE).getroot()
    bound = {p.findtext("string") for p in root.iter("property") if p.get("name") == "SlicerParameterName"}
    assert bound and bound <= set(AnomalyDetectParameterNode.allParameters)
    assert all(p.get("stdset") == "0" for p in root.iter("property") if p.get("name") == "SlicerParameterName")
    # Every bound widget has a Slicer GUI connector for its field's type (connectGui raises otherwise).
    uiWidget = slicer.util.loadUI(str(UI_FILE))
    wrapper = AnomalyDetectParameterNode(slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScriptedModuleNode"))
    ui = slicer.util.childWidgetVariables(uiWidget)
    mapping = {w.property("SlicerParameterName"): w for w in vars(ui).values() if w.property("SlicerParameterName")}
    assert set(mapping) == bound and wrapper.connectParametersToGui(mapping) == 0


# --- the parameter node --------------------------------------------------------------------------


def test_parameter_node_is_stored_as_slicer_stores_it(slicer_module, scene):
    slicer, module = slicer_module
    logic = module.AnomalyDetectLogic()
    p = logic.getParameterNode()
    node = p.parameterNode
    assert node.IsA("vtkMRMLScriptedModuleNode") and node.GetAttribute("ModuleName") == "AnomalyDetect"
    assert logic.getParameterNode().parameterNode is node  # the module's singleton
    from AnomalyDetectLib.defaults import ROI_MARGIN_MM

    # The panel starts from the command line's margin (one home: AnomalyDetectLib.defaults).
    assert p.device == "auto" and p.useModelThreshold is True and p.roiMargin == ROI_MARGIN_MM == 20.0 and p.inputVolume is None
    volume = _input_node(slicer, module)
    p.inputVolume = volume
    p.useModelThreshold = False
    p.threshold = 0.25
    assert node.GetNodeReferenceID("inputVolume") == volume.GetID() and node.GetParameter("inputVolume") == ""
    assert node.GetParameter("useModelThreshold") == "False" and node.GetParameter("threshold") == "0.25"
    with pytest.raises(ValueError):
        p.roiMargin = 300.0
    with pytest.raises(ValueError):
        p.device = "gpu"
    assert p.roiMargin == ROI_MARGIN_MM and p.device == "auto"


# --- the widget ----------------------------------------------------------------------------------


def test_gui_and_parameter_node_stay_in_step(slicer_module, widget):
    slicer, module = slicer_module
    ui, p = widget.ui, widget._parameterNode
    assert [ui.deviceComboBox.itemText(i) for i in range(ui.deviceComboBox.count)] == ["auto", "cpu", "cuda", "onnxruntime cpu",
                                                                                       "onnxruntime cuda"]
    assert (ui.roiMarginSpinBox.minimum, ui.roiMarginSpinBox.maximum, ui.roiMarginSpinBox.value) == (0.0, 200.0, 20.0)

    # GUI -> parameter node
    ui.deviceComboBox.currentIndex = 1
    ui.useModelThresholdCheckBox.click()
    ui.thresholdSpinBox.value = 0.5
    ui.detectLandmarksCheckBox.checked = True
    ui.roiMarginSpinBox.value = 25.0
    ui.createSegmentationCheckBox.checked = True
    ui.modelPathLineEdit.currentPath = "/models/other.safetensors"
    assert (p.device, p.useModelThreshold, p.threshold, p.detectLandmarks, p.roiMargin, p.createSegmentation) == (
        "cpu", False, 0.5, True, 25.0, True)
    assert p.modelPath == "/models/other.safetensors"
    assert "Cannot read the model" in ui.modelInfoLabel.text
    assert ui.thresholdSpinBox.enabled and ui.roiMarginSpinBox.enabled

    # parameter node -> GUI
    volume = _input_node(slicer, module)
    p.inputVolume = volume
    p.device = "cuda"
    p.useModelThreshold = True
    p.roiMargin = 3.5
    p.modelPath = ""
    p.detectLandmarks = False
    assert ui.inputSelector.currentNode() is volume and ui.applyButton.enabled
    assert ui.deviceComboBox.currentText == "cuda" and ui.useModelThresholdCheckBox.checked
    assert ui.roiMarginSpinBox.value == 3.5 and ui.modelPathLineEdit.currentPath == ""
    assert not ui.thresholdSpinBox.enabled and not ui.roiMarginSpinBox.enabled
    assert ui.modelInfoLabel.text.startswith("Method:")  # the bundled model's card
    ui.inputSelector.setCurrentNode(None)
    assert p.inputVolume is None and not ui.applyButton.enabled

    # Clearing a path field (no currentPathChanged from CTK: "" is not a *.safetensors path) still
    # reaches the parameter node, so an empty field means the bundled model again.
    ui.modelPathLineEdit.currentPath = "/models/other.safetensors"
    assert p.modelPath == "/models/other.safetensors"
    ui.modelPathLineEdit.currentPath = ""
    assert p.modelPath == "" and ui.modelInfoLabel.text.startswith("Method:")


def test_setup_selects_the_first_volume_and_scene_close_resets_the_parameter_node(slicer_module, scene):
    slicer, module = slicer_module
    import qt

    volume = _input_node(slicer, module)
    parent = slicer.qSlicerScriptedLoadableModuleWidget()
    parent.setLayout(qt.QVBoxLayout())
    parent.enter()
    instance = module.AnomalyDetectWidget(parent)
    instance.setup()
    try:
        assert instance.ui.inputSelector.currentNode() is volume and instance.ui.applyButton.enabled
        instance.ui.deviceComboBox.currentIndex = 1
        slicer.mrmlScene.Clear()  # StartCloseEvent / EndCloseEvent: parameter node reset, widget re-initialised
        assert instance._parameterNode.device == "auto" and instance.ui.deviceComboBox.currentText == "auto"
        assert instance._parameterNode.inputVolume is None and not instance.ui.applyButton.enabled
    finally:
        instance.cleanup()


def test_apply_adds_the_outputs_and_lists_the_flagged_slices(slicer_module, widget, tiny_bundle_path, monkeypatch):
    pytest.importorskip("torch")
    slicer, module = slicer_module
    ui = widget.ui
    volume = _input_node(slicer, module)
    ui.inputSelector.setCurrentNode(volume)
    ui.modelPathLineEdit.currentPath = tiny_bundle_path
    ui.deviceComboBox.currentText = "cpu"
    assert ui.modelInfoLabel.text.startswith("Method:")
    events = []
    monkeypatch.setattr(slicer.app, "processEvents", lambda: events.append(ui.progressBar.value))

    ui.applyButton.click()

    assert events, "the progress callback did not process events"
    assert slicer.util._displayedMessages == []
    maps = [n for n in (scene_nodes(slicer)) if n.GetName() == "TestVolume anomaly map"]
    assert len(maps) == 1 and maps[0].IsA("vtkMRMLScalarVolumeNode")
    assert slicer.mrmlScene.GetFirstNode("TestVolume slice scores", "vtkMRMLTableNode") is not None
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLPlotChartNode") == 1
    outputs = widget.logic.process(volume, modelPath=tiny_bundle_path, device="cpu")  # same result as the GUI run
    assert ui.resultLabel.text.split(" in ")[0] == module.AnomalyDetectLogic.summaryText(outputs.result).split(" in ")[0]
    flagged = outputs.result.flagged_slices
    assert ui.flaggedSlicesListWidget.count == len(flagged)
    assert ui.progressBar.value == 100 and ui.applyButton.enabled and not ui.cancelButton.enabled

    if flagged:
        jumps = []
        monkeypatch.setattr(widget.logic, "jumpToSlice", lambda node, k: jumps.append((node, k)))
        item = ui.flaggedSlicesListWidget.item(len(flagged) - 1)
        ui.flaggedSlicesListWidget.itemClicked.emit(item)
        assert jumps == [(volume, flagged[-1])]
        assert item.text().startswith(f"Slice {flagged[-1]}")


def scene_nodes(slicer):
    return [slicer.mrmlScene.GetNthNode(n) for n in range(slicer.mrmlScene.GetNumberOfNodes())]


def test_a_skull_stripped_volume_shows_the_threshold_of_the_masked_profile(slicer_module, widget, tiny_bundle_path, tmp_path):
    pytest.importorskip("torch")
    from AnomalyDetectLib.bundle import load_bundle, save_bundle

    slicer, module = slicer_module
    bundle = load_bundle(tiny_bundle_path)
    profiled = str(tmp_path / "profiled.safetensors")
    profile = {"intensity_weighting": None, "calibration": None, "thresholds": {"slice": 123.0, "pixel": 4.5}}
    manifest = dict({k: v for k, v in bundle.manifest.items() if k != "weights_sha256"}, masked_profile=profile)
    save_bundle(profiled, manifest, dict(bundle.tensors))
    ui = widget.ui
    ui.inputSelector.setCurrentNode(_input_node(slicer, module))  # its background is exactly 0: masked
    ui.modelPathLineEdit.currentPath = profiled
    ui.deviceComboBox.currentText = "cpu"
    assert widget._parameterNode.threshold == pytest.approx(bundle.spec.thresholds.slice), "before a run: the default profile's"

    ui.applyButton.click()

    assert slicer.util._displayedMessages == []
    assert "Skull-stripped (masked) volume" in ui.resultLabel.text and "slice threshold 123" in ui.resultLabel.text
    assert widget._parameterNode.threshold == pytest.approx(123.0), "the threshold box shows the threshold the run used"
    assert ui.flaggedSlicesListWidget.count == 0


def test_cancel_during_a_run_adds_nothing(slicer_module, widget, tiny_bundle_path, monkeypatch):
    pytest.importorskip("torch")
    slicer, module = slicer_module
    ui = widget.ui
    # More slices than one batch: cancelling is checked before each batch after the first.
    ui.inputSelector.setCurrentNode(_input_node(slicer, module, slices=40))
    ui.modelPathLineEdit.currentPath = tiny_bundle_path
    ui.deviceComboBox.currentText = "cpu"
    count = slicer.mrmlScene.GetNumberOfNodes()
    states = []

    def userClicksCancel():  # what the event loop delivers while detection runs
        states.append((ui.applyButton.enabled, ui.cancelButton.enabled))
        ui.cancelButton.click()

    monkeypatch.setattr(slicer.app, "processEvents", userClicksCancel)
    ui.applyButton.click()

    assert states and states[0] == (False, True)
    assert slicer.mrmlScene.GetNumberOfNodes() == count
    assert "Cancelled" in ui.resultLabel.text and ui.flaggedSlicesListWidget.count == 0
    assert ui.applyButton.enabled and not ui.cancelButton.enabled
    assert slicer.util._displayedMessages == []


def test_the_onnxruntime_choice_runs_the_bundled_model_on_onnxruntime(slicer_module, widget, monkeypatch):
    pytest.importorskip("onnxruntime")
    slicer, module = slicer_module
    ui = widget.ui
    ui.inputSelector.setCurrentNode(_input_node(slicer, module))
    ui.modelPathLineEdit.currentPath = ""  # the bundled model, which carries its ONNX graph
    ui.deviceComboBox.currentText = "onnxruntime cpu"
    runs, process = [], widget.logic.process
    monkeypatch.setattr(widget.logic, "process", lambda *args, **kwargs: runs.append((kwargs, process(*args, **kwargs))) or runs[-1][1])

    ui.applyButton.click()

    assert slicer.util._displayedMessages == [] and len(runs) == 1
    arguments, outputs = runs[0]
    assert (arguments["device"], arguments["backend"]) == ("cpu", "onnx") and outputs.result.device == "cpu (onnxruntime)"
    assert ui.progressBar.value == 100


def test_bad_model_shows_an_error_and_raises_in_testing_mode(slicer_module, widget, tmp_path, monkeypatch):
    slicer, module = slicer_module
    from AnomalyDetectLib.errors import AnomalyDetectError

    ui = widget.ui
    ui.inputSelector.setCurrentNode(_input_node(slicer, module))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a bundle")
    ui.modelPathLineEdit.currentPath = str(broken)
    assert "Cannot read the model" in ui.modelInfoLabel.text
    count = slicer.mrmlScene.GetNumberOfNodes()

    assert slicer.app.testingEnabled()
    with pytest.raises(AnomalyDetectError):
        widget.onApplyButton()
    assert [kind for kind, _text in slicer.util._displayedMessages] == ["error"]
    assert "Failed" in ui.resultLabel.text and ui.applyButton.enabled

    slicer.util._displayedMessages.clear()
    monkeypatch.setattr(slicer.app, "_testingEnabled", False)
    ui.applyButton.click()  # a user's click: the error is shown, nothing raised
    assert [kind for kind, _text in slicer.util._displayedMessages] == ["error"]
    assert slicer.mrmlScene.GetNumberOfNodes() == count


def test_standin_signals_are_checked(slicer_module):
    import qt

    button = qt.QPushButton("x")
    calls = []
    button.connect("clicked(bool)", lambda: calls.append("no-arg slot"))
    button.clicked.connect(lambda checked: calls.append(checked))
    button.click()
    assert calls == ["no-arg slot", False]
    with pytest.raises(AttributeError):
        button.connect("clicked(int)", print)
    button.enabled = False
    button.click()
    assert len(calls) == 2


def test_landmark_section_offers_the_shipped_landmark_model(widget, slicer_module):
    from AnomalyDetectLib.bundle import default_landmark_bundle_path

    _, module = slicer_module
    assert module.AnomalyDetectLogic.defaultLandmarkModelPath() == default_landmark_bundle_path()
    assert widget._parameterNode.landmarkModelPath == default_landmark_bundle_path()
    assert widget.ui.landmarkModelPathLineEdit.currentPath == default_landmark_bundle_path()
