"""Parameter node of the AnomalyDetect module: the widget's settings, saved with the scene.

``AnomalyDetectLogic().getParameterNode()`` returns an :class:`AnomalyDetectParameterNode`
wrapping the module's singleton vtkMRMLScriptedModuleNode. The widget binds its controls to
these fields through the ``SlicerParameterName`` dynamic property in ``Resources/UI/AnomalyDetect.ui``
(``connectGui``), except the two model paths and the two landmark combo boxes: Slicer's GUI
connectors bind a ctkPathLineEdit only to ``pathlib`` types (here an empty path means "the
bundled model", which ``pathlib.Path("")`` cannot express) and a QComboBox only to a fixed
``Choice`` (the landmark names depend on the landmark model), so the widget binds those itself.

Annotations are evaluated at runtime by ``parameterNodeWrapper``: no ``from __future__ import
annotations`` and no ``X | None`` here (Python 3.9 in older Slicer releases).
"""

from typing import Annotated

from AnomalyDetectLib.defaults import ROI_MARGIN_MM
from slicer import vtkMRMLMarkupsROINode, vtkMRMLScalarVolumeNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

#: Choices of the device combo box ("auto": CUDA when available, else the CPU), each with the
#: (device, backend) it stands for: the first three run on PyTorch when it is installed and on
#: onnxruntime otherwise (backend "auto"); the last two always on onnxruntime.
DEVICE_CHOICES = {"auto": ("auto", "auto"), "cpu": ("cpu", "auto"), "cuda": ("cuda", "auto"),
                  "onnxruntime cpu": ("cpu", "onnx"), "onnxruntime cuda": ("cuda", "onnx")}
DEVICES = list(DEVICE_CHOICES)


@parameterNodeWrapper
class AnomalyDetectParameterNode:
    """
    inputVolume - the CT or MR volume to analyse.
    modelPath - anomaly model bundle; "" for the model bundled with the extension.
    device - one of DEVICES: where the model runs, and on which backend (DEVICE_CHOICES).
    useModelThreshold - flag slices with the model's calibrated slice threshold (else ``threshold``).
    threshold - slice threshold used when useModelThreshold is off.
    detectLandmarks - detect anatomical landmarks with the model in landmarkModelPath.
    landmarkModelPath - landmark model bundle.
    roiStart, roiEnd - landmark names bounding the slices to analyse ("" for the whole volume).
    roiMargin - mm added on both sides of the region between the two landmarks.
    inputROI - a markups ROI drawn by the user bounding what is analysed (instead of landmarks).
    createSegmentation - also make a segmentation of the map above the model's map threshold.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    modelPath: str = ""
    device: Annotated[str, Choice(DEVICES)] = "auto"
    useModelThreshold: bool = True
    threshold: float = 0.0
    detectLandmarks: bool = False
    landmarkModelPath: str = ""
    roiStart: str = ""
    roiEnd: str = ""
    roiMargin: Annotated[float, WithinRange(0.0, 200.0)] = ROI_MARGIN_MM
    inputROI: vtkMRMLMarkupsROINode
    createSegmentation: bool = False
