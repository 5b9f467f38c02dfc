"""GUI of the AnomalyDetect module, laid out in Resources/UI/AnomalyDetect.ui (structure of Slicer's scripted module template)."""

import importlib
import logging
import sys
import traceback

import slicer
import vtk
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

from .logic import AnomalyDetectLogic

#: Text of the first entry of the two landmark combo boxes (no region: the whole volume).
WHOLE_VOLUME = _("(whole volume)")

#: AnomalyDetectSlicerLib's modules in the order a reload must run them (each after those it imports).
LIB_MODULES = ("scene_outputs", "parameters", "dependencies", "logic", "self_test", "widget")


class AnomalyDetectWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Input volume, model, device, threshold, landmarks/region, Apply/Cancel, verdict and flagged slices.

    Settings live in the module's parameter node (``self.logic.getParameterNode()``), so they
    are saved with the scene. Slicer creates the widget when the module is first shown; the
    instance is ``slicer.modules.AnomalyDetectWidget``. From the Slicer Python console::

        slicer.util.selectModule("AnomalyDetect")
        widget = slicer.modules.AnomalyDetectWidget
        widget.ui.inputSelector.setCurrentNode(slicer.util.getNode("MRHead"))
        widget.ui.applyButton.click()
        widget.ui.resultLabel.text      # the verdict, or what went wrong

    Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None):
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = False
        self._cancelRequested = False
        self._updatingGUI = False
        self._describedModelPath = None
        self._landmarkNamesPath = None
        self._resultInputNode = None
        self._flaggedSlices = []

    def setup(self):
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)

        # Load widget from .ui file (created by Qt Designer).
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AnomalyDetect.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)

        # Set scene in MRML widgets. The .ui connects the top-level qMRMLWidget's
        # "mrmlSceneChanged(vtkMRMLScene*)" signal to each MRML widget's "setMRMLScene(vtkMRMLScene*)" slot.
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = AnomalyDetectLogic()

        # These connections ensure that we update parameter node when scene is closed
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        # Widgets carrying SlicerParameterName are bound by connectGui. Slicer has no GUI connector
        # for a ctkPathLineEdit holding a str or a QComboBox with changing items (see parameters.py),
        # so these four are bound here, in both directions (see _updateGUIFromParameterNode).
        # ctkPathLineEdit emits currentPathChanged only for text its name filters accept (a .safetensors
        # path), not for a cleared field; validInputChanged(bool) covers that, and Apply reads both
        # fields again (_syncPathsFromGUI), so "empty = bundled model" always reaches the parameter node.
        for lineEdit in (self.ui.modelPathLineEdit, self.ui.landmarkModelPathLineEdit):
            lineEdit.connect("currentPathChanged(QString)", lambda path: self._syncPathsFromGUI())
            lineEdit.connect("validInputChanged(bool)", lambda valid: self._syncPathsFromGUI())
        self.ui.roiStartComboBox.connect("currentIndexChanged(int)", lambda index: self._setParameter("roiStart", self._landmarkName(index)))
        self.ui.roiEndComboBox.connect("currentIndexChanged(int)", lambda index: self._setParameter("roiEnd", self._landmarkName(index)))

        # Buttons
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.flaggedSlicesListWidget.connect("itemClicked(QListWidgetItem*)", self.onFlaggedSliceClicked)

        # Make sure parameter node is initialized (needed for module reload)
        self.initializeParameterNode()

    def onReload(self):
        """Developer mode's *Reload*: reload AnomalyDetectSlicerLib's modules, then the module file.

        Slicer re-executes only AnomalyDetect.py, whose ``from AnomalyDetectSlicerLib import ...``
        would otherwise get the cached modules: edits to the widget, logic or self-test would not be
        seen (Slicer's WebServer module reloads its WebServerLib the same way). AnomalyDetectLib is
        not reloaded: its classes (errors, results) are shared with objects already in the scene.
        """
        for name in LIB_MODULES:
            module = sys.modules.get(f"AnomalyDetectSlicerLib.{name}")
            if module is not None:
                importlib.reload(module)
        if "AnomalyDetectSlicerLib" in sys.modules:
            importlib.reload(sys.modules["AnomalyDetectSlicerLib"])
        ScriptedLoadableModuleWidget.onReload(self)

    def cleanup(self):
        """Called when the application closes and the module widget is destroyed."""
        self._cancelRequested = True
        self.removeObservers()

    def enter(self):
        """Called each time the user opens this module."""
        self.initializeParameterNode()

    def exit(self):
        """Called each time the user opens a different module."""
        # Do not react to parameter node changes (GUI will be updated when the user enters into the module)
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event):
        """Called just before the scene is closed."""
        # Parameter node will be reset, do not use it anymore
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        """Called just after the scene is closed."""
        # If this module is shown while the scene is closed then recreate a new parameter node immediately
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        """Ensure parameter node exists and observed."""
        # Parameter node stores all user choices in parameter values, node selections, etc.
        # so that when the scene is saved and reloaded, these settings are restored.
        self.setParameterNode(self.logic.getParameterNode())

        # Select default input nodes if nothing is selected yet to save a few clicks for the user.
        # GetFirstNodeByClass would also return label maps, vector and tensor volumes (they derive from
        # vtkMRMLScalarVolumeNode), which the input selector does not list (showChildNodeTypes false).
        if not self._parameterNode.inputVolume:
            firstVolumeNode = AnomalyDetectLogic.firstImageVolumeNode()
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode
        # The landmark section offers the shipped head-and-neck CT landmark model until the user picks another.
        if not self._parameterNode.landmarkModelPath:
            self._parameterNode.landmarkModelPath = self.logic.defaultLandmarkModelPath() or ""

    def setParameterNode(self, inputParameterNode):
        """Set and observe parameter node.
        Observation is needed because when the parameter node is changed then the GUI must be updated immediately.
        """
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            # exit() already stopped observing it: removing again makes VTKObservationMixin warn "does not have observer".
            if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified):
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        # A new parameter node (after Close Scene, or another scene's) holds none of what was derived
        # from the old one: the model card and the calibrated threshold are written to it afresh.
        self._describedModelPath = None
        self._landmarkNamesPath = None
        if self._parameterNode:
            # connectParametersToGui, not connectGui: Slicer 5.8's connectGui returns None instead of
            # the tag, so disconnectGui could not undo it and each enter/close would add connectors.
            self._parameterNodeGuiTag = self._parameterNode.connectParametersToGui(self._parameterWidgets())
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    def _parameterWidgets(self):
        """{parameter name: widget} of the widgets whose "SlicerParameterName" property names a parameter (the .ui sets it)."""
        widgets = {}
        for widget in vars(self.ui).values():
            name = widget.property("SlicerParameterName")
            if name:
                widgets[name] = widget
        return widgets

    def _onParameterNodeModified(self, caller=None, event=None):
        self._updateGUIFromParameterNode()
        self._checkCanApply()

    def _setParameter(self, name, value):
        if self._parameterNode is not None and not self._updatingGUI:
            self._parameterNode.setValue(name, value)

    def _syncPathsFromGUI(self):
        self._setParameter("modelPath", self.ui.modelPathLineEdit.currentPath.strip())
        self._setParameter("landmarkModelPath", self.ui.landmarkModelPathLineEdit.currentPath.strip())

    def _landmarkName(self, index):
        return self.ui.roiStartComboBox.itemText(index) if index > 0 else ""

    def _updateGUIFromParameterNode(self):
        """The widgets connectGui does not bind, and what follows from the settings (model card, landmark names)."""
        if self._parameterNode is None or self._updatingGUI:
            return
        self._updatingGUI = True
        try:
            p = self._parameterNode
            for lineEdit, path in ((self.ui.modelPathLineEdit, p.modelPath), (self.ui.landmarkModelPathLineEdit, p.landmarkModelPath)):
                if lineEdit.currentPath.strip() != path:  # unchanged text is not set again (it would move the cursor)
                    lineEdit.currentPath = path
            self._updateModelInfo(p.modelPath)
            self._updateLandmarkNames(p.landmarkModelPath)
            for comboBox, field in ((self.ui.roiStartComboBox, "roiStart"), (self.ui.roiEndComboBox, "roiEnd")):
                name = p.getValue(field)
                index = comboBox.findText(name) if name else 0
                comboBox.currentIndex = max(index, 0)
                if index < 0:
                    p.setValue(field, "")  # not a landmark of this landmark model
            self.ui.thresholdSpinBox.enabled = not p.useModelThreshold
            for widget in (self.ui.landmarkModelPathLineEdit, self.ui.roiStartComboBox, self.ui.roiEndComboBox, self.ui.roiMarginSpinBox):
                widget.enabled = p.detectLandmarks
        finally:
            self._updatingGUI = False

    def _updateModelInfo(self, modelPath):
        """Model card of the selected model; while the calibrated threshold is used, show it in the threshold box."""
        if modelPath == self._describedModelPath:
            return
        self._describedModelPath = modelPath
        try:
            self.ui.modelInfoLabel.text = AnomalyDetectLogic.describeModel(modelPath or None)
            calibrated = AnomalyDetectLogic.modelThresholds(modelPath or None)["slice"]
        except Exception as error:  # a missing or foreign file, or torch/numpy not installed yet
            self.ui.modelInfoLabel.text = _("Cannot read the model: {error}").format(error=error)
            return
        if self._parameterNode.useModelThreshold:
            self._parameterNode.threshold = calibrated

    def _updateLandmarkNames(self, landmarkModelPath):
        if landmarkModelPath == self._landmarkNamesPath:
            return
        self._landmarkNamesPath = landmarkModelPath
        names = []
        if landmarkModelPath:
            try:
                names = AnomalyDetectLogic.landmarkNames(landmarkModelPath)
            except Exception as error:
                logging.warning(f"AnomalyDetect: no landmark names from '{landmarkModelPath}': {error}")
        for comboBox in (self.ui.roiStartComboBox, self.ui.roiEndComboBox):
            comboBox.clear()
            comboBox.addItem(WHOLE_VOLUME)
            for name in names:
                comboBox.addItem(name)

    def _checkCanApply(self, caller=None, event=None):
        hasInput = bool(self._parameterNode and self._parameterNode.inputVolume)
        self.ui.applyButton.enabled = hasInput and not self._running
        self.ui.applyButton.toolTip = (_("Compute the anomaly map, slice scores and plot of the input volume.") if hasInput
                                       else _("Select an input volume."))
        self.ui.cancelButton.enabled = self._running

    def _processArguments(self):
        """Keyword arguments of AnomalyDetectLogic.process from the parameter node."""
        from .parameters import DEVICE_CHOICES

        p = self._parameterNode
        landmarks = p.detectLandmarks and bool(p.landmarkModelPath.strip())
        device, backend = DEVICE_CHOICES.get(p.device, ("auto", "auto"))
        return dict(
            modelPath=p.modelPath.strip() or None,
            device=device,
            backend=backend,
            sliceThreshold=None if p.useModelThreshold else p.threshold,
            landmarkModelPath=p.landmarkModelPath.strip() if landmarks else None,
            roiBetween=(p.roiStart, p.roiEnd) if landmarks and p.roiStart and p.roiEnd else None,
            roiMargin=p.roiMargin,
            inputROINode=p.inputROI,
            createSegmentation=p.createSegmentation,
        )

    def onApplyButton(self):
        """Run processing when user clicks "Apply" button."""
        from .dependencies import ensureDependencies

        if self._running:
            return
        self._syncPathsFromGUI()
        arguments = self._processArguments()
        modelPaths = [arguments["modelPath"]] + ([arguments["landmarkModelPath"]] if arguments["landmarkModelPath"] else [])
        if not ensureDependencies(modelPaths, arguments["backend"]):
            return
        inputVolumeNode = self._parameterNode.inputVolume
        self._cancelRequested = False
        self._running = True
        self._checkCanApply()
        self.ui.progressBar.value = 0
        self.ui.resultLabel.text = _("Starting...")
        self._showFlaggedSlices(None, [])
        try:
            outputs = self.logic.process(inputVolumeNode, progress=self.onProgress, shouldCancel=lambda: self._cancelRequested,
                                         **arguments)
        except Exception as error:
            self.ui.progressBar.value = 0
            self.handleError(error)
        else:
            self.ui.progressBar.value = 100
            self.ui.resultLabel.text = AnomalyDetectLogic.summaryText(outputs.result)
            self._showFlaggedSlices(inputVolumeNode, outputs.result.flagged_slices, outputs.result.slice_scores)
            self._describedModelPath = None  # the model card may have changed on disk: read it again
            self._updateModelInfo(self._parameterNode.modelPath)
            if self._parameterNode.useModelThreshold:  # the threshold used: the masked profile's for a skull-stripped volume
                self._parameterNode.threshold = outputs.result.slice_threshold
        finally:
            self._running = False
            self._checkCanApply()

    def onCancelButton(self):
        self._cancelRequested = True
        self.ui.resultLabel.text = _("Cancelling after the current batch of slices...")

    def onProgress(self, fraction, message):
        self.ui.progressBar.value = int(round(100 * max(0.0, min(1.0, fraction))))
        self.ui.resultLabel.text = message
        # Detection runs on the main thread, not in a worker thread: MRML and VTK objects are not
        # thread-safe, detection is already split into batches of slices and each batch is short
        # even on a CPU. Processing events here, between batches, keeps the GUI repainting and
        # lets Cancel be clicked (it is polled through shouldCancel before the next batch).
        slicer.app.processEvents()

    def _showFlaggedSlices(self, inputVolumeNode, flaggedSlices, sliceScores=None):
        self._resultInputNode = inputVolumeNode
        self._flaggedSlices = [int(k) for k in flaggedSlices]
        self.ui.flaggedSlicesListWidget.clear()
        for k in self._flaggedSlices:
            if sliceScores is not None:
                self.ui.flaggedSlicesListWidget.addItem(_("Slice {slice}: score {score}").format(slice=k, score=f"{float(sliceScores[k]):.3g}"))
            else:
                self.ui.flaggedSlicesListWidget.addItem(_("Slice {slice}").format(slice=k))

    def onFlaggedSliceClicked(self, item):
        row = self.ui.flaggedSlicesListWidget.row(item)
        if self._resultInputNode is None or not 0 <= row < len(self._flaggedSlices):
            return
        try:
            self.logic.jumpToSlice(self._resultInputNode, self._flaggedSlices[row])
        except Exception as error:
            self.handleError(error)

    def handleError(self, error):
        from AnomalyDetectLib.errors import AnomalyDetectError, Cancelled

        if isinstance(error, Cancelled):
            self.ui.resultLabel.text = _("Cancelled; no results were added.")
            return
        if isinstance(error, AnomalyDetectError):
            message = str(error)  # written for people; shown unchanged
        else:
            logging.error(traceback.format_exc())
            message = _("Anomaly detection failed: {error}").format(error=error)
        self.ui.resultLabel.text = _("Failed; see the error message.")
        slicer.util.errorDisplay(message)
        if slicer.app.testingEnabled():
            raise error
