"""AnomalyDetect: GAN-based anomaly maps and slice scores for CT and MR volumes in 3D Slicer.

This file only declares the module. The work sits in AnomalyDetectSlicerLib (logic, widget,
self-test: the Slicer side) and AnomalyDetectLib (the core, which never imports slicer or qt).
Slicer looks up ``AnomalyDetectWidget`` and ``AnomalyDetectTest`` by name in this file's
namespace, so they are imported here. AnomalyDetectLib and torch are imported only inside
functions, because torch may not be installed in Slicer's Python yet; the widget offers to
install it.
"""

import os

import slicer
from AnomalyDetectSlicerLib import AnomalyDetectLogic, AnomalyDetectOutputs, AnomalyDetectTest, AnomalyDetectWidget
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import ScriptedLoadableModule

__all__ = ["AnomalyDetect", "AnomalyDetectLogic", "AnomalyDetectOutputs", "AnomalyDetectTest", "AnomalyDetectWidget"]


class AnomalyDetect(ScriptedLoadableModule):
    """Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Anomaly Detect")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        # Modules whose logic this one calls (Plots: ShowChartInLayout) or whose node classes it creates
        # (Markups: point lists and ROIs; Segmentations: the thresholded map).
        self.parent.dependencies = ["Markups", "Plots", "Segmentations"]
        self.parent.contributors = ["AnomalyDetect developers (SlicerAnomalyDetect project)"]
        self.parent.helpText = _("""
Unsupervised anomaly detection in CT and MR volumes with a GAN trained on normal anatomy only.
Select a scalar volume and press Apply: the module adds an anomaly map (shown over the input),
a table and a plot of per-slice scores, with slices above the model's calibrated threshold flagged
(click one in the list to go to it). Optionally a landmark model finds anatomical landmarks
(markups) that can bound the slices analysed, and the thresholded map becomes a segmentation.
Results are a research aid, not a diagnosis.
See the <a href="https://github.com/anomalydetect/SlicerAnomalyDetect">project page</a> for documentation.
""")
        self.parent.acknowledgementText = _("""
AnomalyDetect is developed by the AnomalyDetect developers. Its default model translates each slice into
its normal counterpart (after the Chen lab's translation-based detection, Ritsumeikan University) and
maps where they differ; AnoGAN, f-AnoGAN, GANomaly, Skip-GANomaly and an adversarial autoencoder can be
loaded as bundles.
""")
        # The bundled sample appears in the Sample Data module once the application has started
        # (SampleData may not be loaded before then).
        slicer.app.connect("startupCompleted()", registerSampleData)


#: The bundled sample volume (Resources/Samples; attribution in ATTRIBUTION.md there).
SAMPLE_NAME = "AnomalyDetectLGGFLAIR"
SAMPLE_FILE = "TCGA_DU_7304_19930325_flair.nii.gz"


def samplePath():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "Resources", "Samples", SAMPLE_FILE)


def loadSample(source=None):
    """Load the bundled sample volume (the Sample Data button's action; ``source`` is the SampleDataSource)."""
    return slicer.util.loadVolume(samplePath(), {"name": SAMPLE_NAME})


def registerSampleData():
    """Add the bundled LGG FLAIR sample to the Sample Data module (category "AnomalyDetect").

    The file ships with the extension, so it is loaded from disk (``customDownloader``) rather than
    downloaded.
    """
    try:
        import SampleData
    except ImportError:  # the Sample Data module is not loaded (e.g. --disable-modules)
        return
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="AnomalyDetect",
        sampleName=SAMPLE_NAME,
        thumbnailFileName=os.path.join(os.path.dirname(os.path.abspath(__file__)), "Resources", "Icons", "AnomalyDetect.png"),
        fileNames=SAMPLE_FILE,
        nodeNames=SAMPLE_NAME,
        customDownloader=loadSample,
    )
