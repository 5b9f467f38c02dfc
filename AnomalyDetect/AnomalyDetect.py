"""AnomalyDetect: GAN-based anomaly maps and slice scores for CT and MR volumes in 3D Slicer.

The scripted module is a thin adapter around AnomalyDetectLib (which never imports
slicer or qt). AnomalyDetectLib and torch are imported only inside functions, because
torch may not be installed in Slicer's Python yet; the widget offers to install it.
"""

import logging
import traceback

import ctk
import qt
import slicer
import vtk
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

#
# AnomalyDetect
#


class AnomalyDetect(ScriptedLoadableModule):
    """Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Anomaly Detect"
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["AnomalyDetect developers"]
        self.parent.helpText = """
Unsupervised anomaly detection in CT and MR volumes with a GAN trained on normal anatomy only.
Select a scalar volume and press Apply: the module adds an anomaly map (shown over the input)
and a table of per-slice scores, with slices above the model's calibrated threshold flagged.
Results are a research aid, not a diagnosis.
See the <a href="https://github.com/anomalydetect/SlicerAnomalyDetect">project page</a> for documentation.
"""
        self.parent.acknowledgementText = """
AnomalyDetect is developed by the AnomalyDetect developers. It implements the Skip-GANomaly
method (Akcay et al., 2019) with a gradient-magnitude-similarity anomaly map.
"""


#
# AnomalyDetectWidget
#


class AnomalyDetectWidget(ScriptedLoadableModuleWidget):
    """Minimal GUI: input volume, model file, Apply/Cancel, progress and a result line.

    Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        self.logic = None
        self._running = False
        self._cancelRequested = False

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        self.logic = AnomalyDetectLogic()

        parametersCollapsibleButton = ctk.ctkCollapsibleButton()
        parametersCollapsibleButton.text = "Anomaly detection"
        self.layout.addWidget(parametersCollapsibleButton)
        formLayout = qt.QFormLayout(parametersCollapsibleButton)

        self.inputSelector = slicer.qMRMLNodeComboBox()
        self.inputSelector.nodeTypes = ["vtkMRMLScalarVolumeNode"]
        self.inputSelector.selectNodeUponCreation = True
        self.inputSelector.addEnabled = False
        self.inputSelector.removeEnabled = False
        self.inputSelector.noneEnabled = False
        self.inputSelector.showHidden = False
        self.inputSelector.showChildNodeTypes = False  # no label maps
        self.inputSelector.setMRMLScene(slicer.mrmlScene)
        self.inputSelector.setToolTip("Scalar volume (CT or MR) to analyse.")
        formLayout.addRow("Input volume:", self.inputSelector)

        self.modelPathEdit = ctk.ctkPathLineEdit()
        self.modelPathEdit.filters = ctk.ctkPathLineEdit.Files
        self.modelPathEdit.nameFilters = ["Model bundles (*.safetensors)", "All files (*)"]
        self.modelPathEdit.currentPath = AnomalyDetectLogic.defaultModelPath() or ""
        self.modelPathEdit.setToolTip("Model bundle to use; empty for the model that comes with the extension.")
        formLayout.addRow("Model:", self.modelPathEdit)

        self.applyButton = qt.QPushButton("Apply")
        self.applyButton.toolTip = "Compute the anomaly map and slice scores of the input volume."
        self.cancelButton = qt.QPushButton("Cancel")
        self.cancelButton.toolTip = "Stop the running detection (after the current batch of slices)."
        self.cancelButton.enabled = False
        buttonsLayout = qt.QHBoxLayout()
        buttonsLayout.addWidget(self.applyButton)
        buttonsLayout.addWidget(self.cancelButton)
        formLayout.addRow(buttonsLayout)

        self.progressBar = qt.QProgressBar()
        self.progressBar.minimum = 0
        self.progressBar.maximum = 100
        self.progressBar.value = 0
        formLayout.addRow(self.progressBar)

        self.resultLabel = qt.QLabel("")
        self.resultLabel.wordWrap = True
        formLayout.addRow(self.resultLabel)

        self.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateButtonStates)

        self.layout.addStretch(1)
        self.updateButtonStates()

    def cleanup(self):
        self._cancelRequested = True

    def updateButtonStates(self, caller=None, event=None):
        hasInput = self.inputSelector.currentNode() is not None
        self.applyButton.enabled = hasInput and not self._running
        self.applyButton.toolTip = "Compute the anomaly map and slice scores." if hasInput else "Select an input volume."
        self.cancelButton.enabled = self._running
        self.inputSelector.enabled = not self._running
        self.modelPathEdit.enabled = not self._running

    def onCancelButton(self):
        self._cancelRequested = True
        self.resultLabel.text = "Cancelling..."

    def onProgress(self, fraction, message):
        self.progressBar.value = int(round(100 * max(0.0, min(1.0, fraction))))
        self.resultLabel.text = message
        # This minimal version runs detection on the main thread. Processing events here,
        # between batches of slices, keeps the GUI repainting and lets Cancel be clicked.
        slicer.app.processEvents()

    def onApplyButton(self):
        if not self.ensureTorch():
            return
        modelPath = self.modelPathEdit.currentPath.strip() or None
        self._cancelRequested = False
        self._running = True
        self.updateButtonStates()
        self.progressBar.value = 0
        self.resultLabel.text = "Starting..."
        try:
            outputs = self.logic.process(
                self.inputSelector.currentNode(),
                modelPath=modelPath,
                progress=self.onProgress,
                shouldCancel=lambda: self._cancelRequested,
            )
            self.progressBar.value = 100
            self.resultLabel.text = AnomalyDetectLogic.summaryText(outputs.result)
        except Exception as error:
            self.progressBar.value = 0
            self.handleError(error)
        finally:
            self._running = False
            self.updateButtonStates()

    def handleError(self, error):
        from AnomalyDetectLib.errors import AnomalyDetectError, Cancelled

        if isinstance(error, Cancelled):
            self.resultLabel.text = "Cancelled; no results were added."
            return
        if isinstance(error, AnomalyDetectError):
            message = str(error)  # written for people; shown unchanged
        else:
            logging.error(traceback.format_exc())
            message = f"Anomaly detection failed: {error}"
        self.resultLabel.text = "Failed; see the error message."
        slicer.util.errorDisplay(message)
        if slicer.app.testingEnabled():
            raise error

    def ensureTorch(self):
        """True when torch can be imported, after offering to install it if it cannot."""
        if AnomalyDetectLogic.torchAvailable():
            return True
        try:
            # The PyTorch extension (a dependency of this one) installs a build that fits the GPU driver.
            import PyTorchUtils
        except ImportError:
            PyTorchUtils = None
        try:
            if PyTorchUtils is not None:
                if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=True) is None:
                    return False  # declined
            else:
                if not slicer.util.confirmOkCancelDisplay(
                    "AnomalyDetect needs PyTorch, which is not installed in Slicer's Python.\n\n"
                    "Install it now with pip? The download is large and may take several minutes."
                ):
                    return False
                slicer.util.pip_install("torch")
        except Exception as error:
            slicer.util.errorDisplay(f"Installing PyTorch failed: {error}")
            return False
        if AnomalyDetectLogic.torchAvailable():
            return True
        slicer.util.errorDisplay("PyTorch is still not available. Restart Slicer and try again.")
        return False


#
# AnomalyDetectLogic
#


class AnomalyDetectOutputs:
    """What :meth:`AnomalyDetectLogic.process` made: the two nodes and the detection result."""

    def __init__(self, mapNode, tableNode, result):
        self.mapNode = mapNode
        self.tableNode = tableNode
        self.result = result


class AnomalyDetectLogic(ScriptedLoadableModuleLogic):
    """Converts nodes to AnomalyDetectLib volumes, runs detection and writes the results to the scene.

    Can be used without the widget (Python console, scripts, tests).
    Uses ScriptedLoadableModuleLogic base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    #: Node reference roles on the input volume that point at its outputs.
    MAP_REFERENCE_ROLE = "AnomalyDetectMap"
    TABLE_REFERENCE_ROLE = "AnomalyDetectSliceScores"
    #: Attribute on each output node: ID of the input volume it was computed from.
    SOURCE_ATTRIBUTE = "AnomalyDetect.InputVolumeID"
    #: Colour table of the map (Base/Logic/Resources/ColorFiles/Inferno.txt in Slicer;
    #: file colour node IDs are "vtkMRMLColorTableNodeFile" + file name).
    MAP_COLOR_NODE_ID = "vtkMRMLColorTableNodeFileInferno.txt"
    MAP_OPACITY = 0.5

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)

    @staticmethod
    def torchAvailable():
        try:
            import torch  # noqa: F401
        except ImportError:
            return False
        return True

    @staticmethod
    def defaultModelPath():
        """Path of the model bundled with the extension, or None when it is not installed."""
        try:
            from AnomalyDetectLib.bundle import default_bundle_path
            from AnomalyDetectLib.errors import AnomalyDetectError
        except ImportError:
            return None
        try:
            return default_bundle_path()
        except AnomalyDetectError:
            return None

    @staticmethod
    def volumeFromNode(volumeNode):
        """An AnomalyDetectLib Volume holding a copy of the node's voxels and its IJK→RAS matrix.

        The matrix is the node's own (parent transforms are not applied); outputs get the
        same parent transform, so they stay aligned with the input.
        """
        from AnomalyDetectLib.volume import Volume

        matrix = vtk.vtkMatrix4x4()
        volumeNode.GetIJKToRASMatrix(matrix)
        return Volume(
            voxels=slicer.util.arrayFromVolume(volumeNode).copy(),
            ijk_to_ras=slicer.util.arrayFromVTKMatrix(matrix),
            name=volumeNode.GetName() or "volume",
        )

    def process(self, inputVolumeNode, modelPath=None, device="auto", progress=None, shouldCancel=None, showResult=True):
        """Detect anomalies in ``inputVolumeNode`` and add or update its output nodes.

        :param inputVolumeNode: vtkMRMLScalarVolumeNode to analyse (not modified, except
            for references to its outputs).
        :param modelPath: model bundle file; None for the bundled default model.
        :param device: "auto", "cpu", "cuda" or "cuda:N".
        :param progress: called as ``progress(fraction, message)`` while running.
        :param shouldCancel: polled between batches; when it returns True,
            ``AnomalyDetectLib.errors.Cancelled`` is raised and the scene is left unchanged.
        :param showResult: show the map over the input in the slice views.
        :return: AnomalyDetectOutputs with ``mapNode``, ``tableNode`` and ``result``.

        Outputs are a scalar volume "<input> anomaly map" and a table "<input> slice scores";
        running again on the same input replaces their contents. Nodes are created or
        changed only after detection succeeded.
        """
        if inputVolumeNode is None or inputVolumeNode.GetImageData() is None:
            raise ValueError("Select an input volume that holds image data.")

        from AnomalyDetectLib import bundle as bundleLib
        from AnomalyDetectLib import pipeline

        volume = self.volumeFromNode(inputVolumeNode)
        bundle = bundleLib.load_bundle(modelPath if modelPath else bundleLib.default_bundle_path())
        logging.info(f"AnomalyDetect: analysing '{volume.name}' {volume.shape} with '{bundle.path}'")
        result = pipeline.detect(volume, bundle, device=device, progress=progress, should_cancel=shouldCancel)

        if inputVolumeNode.GetScene() is None:
            raise ValueError(f"The input volume '{volume.name}' was removed from the scene while it was being analysed.")
        outputs = self._writeOutputs(inputVolumeNode, volume, result)
        if showResult:
            slicer.util.setSliceViewerLayers(background=inputVolumeNode, foreground=outputs.mapNode, foregroundOpacity=self.MAP_OPACITY)
        logging.info("AnomalyDetect: " + self.summaryText(result))
        return outputs

    @staticmethod
    def summaryText(result):
        flagged = [int(k) for k in result.flagged.nonzero()[0]]
        if flagged:
            shown = ", ".join(str(k) for k in flagged[:12]) + (", ..." if len(flagged) > 12 else "")
            flaggedText = f"{len(flagged)} of {len(result.slice_scores)} slices flagged (k = {shown})"
        else:
            flaggedText = f"no slice of {len(result.slice_scores)} flagged"
        seconds = result.timings.get("total")
        timeText = f" in {seconds:.1f} s" if seconds is not None else ""
        return f"Volume score {result.volume_score:.3g} (slice threshold {result.slice_threshold:.3g}); {flaggedText}{timeText}."

    def _findOutput(self, inputVolumeNode, role, name, className):
        node = inputVolumeNode.GetNodeReference(role)
        if node is not None and node.IsA(className):
            return node
        # Fall back to the name, but only for a node made from this same input.
        node = slicer.mrmlScene.GetFirstNode(name, className)
        if node is not None and node.GetAttribute(self.SOURCE_ATTRIBUTE) == inputVolumeNode.GetID():
            return node
        return None

    def _writeOutputs(self, inputVolumeNode, volume, result):
        inputName = inputVolumeNode.GetName() or "volume"
        mapName = f"{inputName} anomaly map"
        tableName = f"{inputName} slice scores"
        mapNode = self._findOutput(inputVolumeNode, self.MAP_REFERENCE_ROLE, mapName, "vtkMRMLScalarVolumeNode")
        tableNode = self._findOutput(inputVolumeNode, self.TABLE_REFERENCE_ROLE, tableName, "vtkMRMLTableNode")
        created = []
        try:
            if mapNode is None:
                mapNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", mapName)
                created.append(mapNode)
            if tableNode is None:
                tableNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", tableName)
                created.append(tableNode)
            self._updateMapNode(mapNode, inputVolumeNode, result)
            self._updateTableNode(tableNode, volume, result)
            for node in (mapNode, tableNode):
                node.SetAttribute(self.SOURCE_ATTRIBUTE, inputVolumeNode.GetID())
            inputVolumeNode.SetNodeReferenceID(self.MAP_REFERENCE_ROLE, mapNode.GetID())
            inputVolumeNode.SetNodeReferenceID(self.TABLE_REFERENCE_ROLE, tableNode.GetID())
        except Exception:
            for node in created:
                displayNode = node.GetDisplayNode() if node.IsA("vtkMRMLDisplayableNode") else None
                if displayNode is not None:
                    slicer.mrmlScene.RemoveNode(displayNode)
                slicer.mrmlScene.RemoveNode(node)
            raise
        return AnomalyDetectOutputs(mapNode, tableNode, result)

    def _updateMapNode(self, mapNode, inputVolumeNode, result):
        matrix = vtk.vtkMatrix4x4()
        inputVolumeNode.GetIJKToRASMatrix(matrix)
        mapNode.SetIJKToRASMatrix(matrix)
        slicer.util.updateVolumeFromArray(mapNode, result.anomaly_map)
        mapNode.SetAndObserveTransformNodeID(inputVolumeNode.GetTransformNodeID())
        mapNode.CreateDefaultDisplayNodes()
        displayNode = mapNode.GetScalarVolumeDisplayNode()
        displayNode.SetAndObserveColorNodeID(self.MAP_COLOR_NODE_ID)
        low = float(result.anomaly_map.min())
        high = float(result.anomaly_map.max())
        if not high > low:
            high = low + 1e-6
        displayNode.SetAutoWindowLevel(0)
        displayNode.SetWindowLevelMinMax(low, high)

    @staticmethod
    def _updateTableNode(tableNode, volume, result):
        import numpy as np
        from vtk.util.numpy_support import vtk_to_numpy

        slices = len(result.slice_scores)
        columns = [
            ("slice", np.arange(slices), vtk.vtkIntArray, "k index of the slice in the input volume"),
            ("position_mm", volume.slice_positions_mm(), vtk.vtkDoubleArray, "position of the slice centre along the slice normal"),
            ("score", result.slice_scores, vtk.vtkDoubleArray, "slice anomaly score (0 for slices without enough foreground)"),
            ("flagged", result.flagged, vtk.vtkIntArray, "1 if the score is above the model's slice threshold"),
        ]
        table = vtk.vtkTable()
        for name, values, arrayClass, _description in columns:
            array = arrayClass()
            array.SetName(name)
            array.SetNumberOfValues(slices)
            vtk_to_numpy(array)[:] = values  # fills the VTK array in place
            table.AddColumn(array)
        tableNode.SetAndObserveTable(table)
        for name, _values, _arrayClass, description in columns:
            tableNode.SetColumnDescription(name, description)
        tableNode.SetColumnUnitLabel("position_mm", "mm")


#
# AnomalyDetectTest
#


class AnomalyDetectTest(ScriptedLoadableModuleTest):
    """Runs the logic on a synthetic volume. Needs a model bundle: the one given as
    ``runTest(modelPath=...)`` (``slicer.selfTests["AnomalyDetect"](modelPath=...)``),
    else the bundled default model.

    Uses ScriptedLoadableModuleTest base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self, modelPath=None):
        self.setUp()
        self.test_AnomalyDetect1(modelPath)

    @staticmethod
    def syntheticVolumeArray(slices=10, rows=48, columns=40):
        """A bright ellipsoid (a 'head') with a brighter blob in some slices, in (k, j, i) order."""
        import numpy as np

        k, j, i = np.meshgrid(np.arange(slices), np.arange(rows), np.arange(columns), indexing="ij")
        head = ((j - rows / 2) / (0.42 * rows)) ** 2 + ((i - columns / 2) / (0.42 * columns)) ** 2 < 1.0
        voxels = np.where(head, 400.0, 0.0) + 20.0 * np.sin(j / 3.0) * head
        blob = ((j - 0.6 * rows) ** 2 + (i - 0.4 * columns) ** 2 < (0.08 * rows) ** 2) & (k >= slices // 2)
        voxels[blob] += 500.0
        return voxels.astype(np.int16)

    @staticmethod
    def syntheticIJKToRAS():
        """Oblique, anisotropic, off-origin geometry (4×4 numpy array)."""
        import numpy as np

        angle = np.deg2rad(20.0)
        rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
        matrix = np.eye(4)
        matrix[:3, :3] = rotation @ np.diag([0.9, 1.1, 3.0]) @ np.diag([-1.0, -1.0, 1.0])
        matrix[:3, 3] = [12.5, -30.0, 47.0]
        return matrix

    def test_AnomalyDetect1(self, modelPath=None):
        import numpy as np
        from AnomalyDetectLib.errors import Cancelled

        self.delayDisplay("Starting the test")
        logic = AnomalyDetectLogic()
        if modelPath is None:
            modelPath = logic.defaultModelPath()
            self.assertIsNotNone(modelPath, "The bundled model (Resources/Models) is missing from this installation.")

        voxels = self.syntheticVolumeArray()
        ijkToRAS = self.syntheticIJKToRAS()
        inputNode = slicer.util.addVolumeFromArray(voxels, ijkToRAS=ijkToRAS, name="AnomalyDetectTestVolume")
        transformNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "AnomalyDetectTestTransform")
        inputNode.SetAndObserveTransformNodeID(transformNode.GetID())
        self.delayDisplay("Created a synthetic volume")

        fractions = []
        outputs = logic.process(inputNode, modelPath=modelPath, device="cpu", progress=lambda f, m: fractions.append(f))
        mapNode, tableNode = outputs.mapNode, outputs.tableNode
        self.assertTrue(fractions)
        self.assertEqual(mapNode.GetName(), "AnomalyDetectTestVolume anomaly map")
        self.assertEqual(tableNode.GetName(), "AnomalyDetectTestVolume slice scores")
        mapArray = slicer.util.arrayFromVolume(mapNode)
        self.assertEqual(mapArray.shape, voxels.shape)
        self.assertEqual(mapArray.dtype, np.float32)
        mapMatrix = vtk.vtkMatrix4x4()
        mapNode.GetIJKToRASMatrix(mapMatrix)
        np.testing.assert_allclose(slicer.util.arrayFromVTKMatrix(mapMatrix), ijkToRAS, atol=1e-6)
        self.assertEqual(mapNode.GetTransformNodeID(), transformNode.GetID())
        self.assertEqual(mapNode.GetScalarVolumeDisplayNode().GetColorNodeID(), logic.MAP_COLOR_NODE_ID)
        self.assertEqual(tableNode.GetNumberOfRows(), voxels.shape[0])
        self.assertEqual([tableNode.GetColumnName(c) for c in range(4)], ["slice", "position_mm", "score", "flagged"])
        np.testing.assert_allclose(slicer.util.arrayFromTableColumn(tableNode, "score"), outputs.result.slice_scores)
        self.delayDisplay("First run produced the map and the table")

        numberOfNodes = slicer.mrmlScene.GetNumberOfNodes()
        again = logic.process(inputNode, modelPath=modelPath, device="cpu")
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodes)
        self.assertEqual(again.mapNode.GetID(), mapNode.GetID())
        self.assertEqual(again.tableNode.GetID(), tableNode.GetID())
        self.delayDisplay("Second run replaced the outputs")

        otherNode = slicer.util.addVolumeFromArray(voxels, ijkToRAS=ijkToRAS, name="AnomalyDetectTestVolume2")
        numberOfNodes = slicer.mrmlScene.GetNumberOfNodes()
        with self.assertRaises(Cancelled):
            logic.process(otherNode, modelPath=modelPath, device="cpu", shouldCancel=lambda: True)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodes)
        self.assertIsNone(otherNode.GetNodeReference(logic.MAP_REFERENCE_ROLE))
        self.delayDisplay("Cancelling left the scene unchanged")

        self.delayDisplay("Test passed")
