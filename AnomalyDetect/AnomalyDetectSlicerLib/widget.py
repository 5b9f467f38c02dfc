"""GUI of the AnomalyDetect module. Needs Qt and a Slicer main window (not tested in CI)."""

import logging
import traceback

import ctk
import qt
import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleWidget

from .logic import AnomalyDetectLogic


class AnomalyDetectWidget(ScriptedLoadableModuleWidget):
    """Minimal GUI: input volume, model file, Apply/Cancel, progress and a result line.

    Slicer creates it when the module is opened; the instance is ``slicer.modules.AnomalyDetectWidget``.
    From the Slicer Python console::

        slicer.util.selectModule("AnomalyDetect")
        widget = slicer.modules.AnomalyDetectWidget
        widget.inputSelector.setCurrentNode(slicer.util.getNode("MRHead"))
        widget.onApplyButton()       # same as clicking Apply
        widget.resultLabel.text      # summary line, or the error

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
