"""AnomalyDetect: GAN-based anomaly maps and slice scores for CT and MR volumes in 3D Slicer.

This file only declares the module. The work sits in AnomalyDetectSlicerLib (logic, widget,
self-test: the Slicer side) and AnomalyDetectLib (the core, which never imports slicer or qt).
Slicer looks up ``AnomalyDetectWidget`` and ``AnomalyDetectTest`` by name in this file's
namespace, so they are imported here. AnomalyDetectLib and torch are imported only inside
functions, because torch may not be installed in Slicer's Python yet; the widget offers to
install it.
"""

from AnomalyDetectSlicerLib import AnomalyDetectLogic, AnomalyDetectOutputs, AnomalyDetectTest, AnomalyDetectWidget
from slicer.ScriptedLoadableModule import ScriptedLoadableModule

__all__ = ["AnomalyDetect", "AnomalyDetectLogic", "AnomalyDetectOutputs", "AnomalyDetectTest", "AnomalyDetectWidget"]


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
Select a scalar volume and press Apply: the module adds an anomaly map (shown over the input),
a table and a plot of per-slice scores, with slices above the model's calibrated threshold flagged
(click one in the list to go to it). Optionally a landmark model finds anatomical landmarks
(markups) that can bound the slices analysed, and the thresholded map becomes a segmentation.
Results are a research aid, not a diagnosis.
See the <a href="https://github.com/anomalydetect/SlicerAnomalyDetect">project page</a> for documentation.
"""
        self.parent.acknowledgementText = """
AnomalyDetect is developed by the AnomalyDetect developers. Its default model translates each slice into
its normal counterpart (after the Chen lab's translation-based detection, Ritsumeikan University) and
maps where they differ; AnoGAN, f-AnoGAN, GANomaly, Skip-GANomaly and an adversarial autoencoder can be
loaded as bundles.
"""
