"""Self-test of the AnomalyDetect module (Slicer's "Reload and Test", ctest, and CI on Slicer core)."""

import logging

import slicer
import vtk
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleTest

from .logic import AnomalyDetectLogic


class AnomalyDetectTest(ScriptedLoadableModuleTest):
    """Runs the logic on a synthetic volume. Needs a model bundle: the one given as
    ``runTest(modelPath=...)`` (``slicer.selfTests["AnomalyDetect"](modelPath=...)``),
    else the bundled default model.

    From the Slicer Python console (this clears the scene)::

        slicer.selfTests["AnomalyDetect"]()                                  # bundled model
        slicer.selfTests["AnomalyDetect"](msec=0, modelPath="/path/to/model.safetensors")

    Uses ScriptedLoadableModuleTest base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self, modelPath=None, landmarkModelPath=None):
        """Everything that needs no torch, then detection when torch (and the rest) is installed.

        Slicer's Extensions build machines ship no torch, so there ``ctest -R py_AnomalyDetect`` runs
        the first part and reports the rest as skipped (as SlicerTotalSegmentator's test does)
        instead of failing; ``skippedReason`` says why afterwards (None when everything ran).
        """
        from .dependencies import missingRequirements

        self.setUp()
        self.test_AnomalyDetect0_withoutTorch(modelPath)
        # The detection part writes a landmark bundle with torch and runs models that may lack an ONNX graph: it needs torch.
        missing = missingRequirements((modelPath,), backend="torch")
        self.skippedReason = None
        if missing:
            self.skippedReason = (f"SKIPPED the detection tests: {', '.join(missing)} not installed in Slicer's Python "
                                  "(as on the Extensions build machines); install them to run the whole self-test.")
            logging.warning("AnomalyDetect self-test: %s", self.skippedReason)
            self.delayDisplay(self.skippedReason)
            return
        self.setUp()
        self.test_AnomalyDetect1(modelPath, landmarkModelPath)

    def test_AnomalyDetect0_withoutTorch(self, modelPath=None):
        """The module's parameter node, the model card of the model and the input checks (numpy only)."""
        logic = AnomalyDetectLogic()
        parameters = logic.getParameterNode()
        self.assertTrue(parameters.useModelThreshold)
        self.assertEqual(parameters.modelPath, "")
        modelPath = modelPath or logic.defaultModelPath()
        self.assertIsNotNone(modelPath, "The bundled model (Resources/Models) is missing from this installation.")
        self.assertIn("Method:", logic.describeModel(modelPath))
        thresholds = logic.modelThresholds(modelPath)
        self.assertEqual(sorted(thresholds), ["map", "slice"])
        labelNode = slicer.util.addVolumeFromArray(self.syntheticVolumeArray(), name="AnomalyDetectTestLabels",
                                                   nodeClassName="vtkMRMLLabelMapVolumeNode")
        self.assertEqual(logic.notImageVolumeReason(labelNode), "a label map")
        self.assertIsNone(logic.firstImageVolumeNode())
        imageNode = slicer.util.addVolumeFromArray(self.syntheticVolumeArray(), name="AnomalyDetectTestImage")
        self.assertEqual(logic.firstImageVolumeNode().GetID(), imageNode.GetID())
        self.delayDisplay("Parameter node, model card and input checks (no torch needed)")

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

    def test_AnomalyDetect1(self, modelPath=None, landmarkModelPath=None):
        """Every output of a run, re-run, landmarks + ROI + segmentation, cancel, bad model.

        Without ``landmarkModelPath`` an untrained landmark bundle is written to Slicer's
        temporary folder: it tests how landmarks reach the scene, not how well they are found.
        """
        import os

        import numpy as np
        from AnomalyDetectLib.errors import AnomalyDetectError, Cancelled
        from AnomalyDetectLib.phantom import write_plumbing_landmark_bundle

        self.delayDisplay("Starting the test")
        logic = AnomalyDetectLogic()
        if modelPath is None:
            modelPath = logic.defaultModelPath()
            self.assertIsNotNone(modelPath, "The bundled model (Resources/Models) is missing from this installation.")
        if landmarkModelPath is None:
            landmarkModelPath = write_plumbing_landmark_bundle(os.path.join(slicer.app.temporaryPath, "AnomalyDetectTestLandmarks.safetensors"))

        voxels = self.syntheticVolumeArray()
        ijkToRAS = self.syntheticIJKToRAS()
        inputNode = slicer.util.addVolumeFromArray(voxels, ijkToRAS=ijkToRAS, name="AnomalyDetectTestVolume")
        transformNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "AnomalyDetectTestTransform")
        inputNode.SetAndObserveTransformNodeID(transformNode.GetID())
        self.delayDisplay("Created a synthetic volume")

        fractions = []
        outputs = logic.process(inputNode, modelPath=modelPath, device="cpu", progress=lambda f, m: fractions.append(f))
        self.assertTrue(fractions)
        self.assertTrue(all(0.0 <= f <= 1.0 for f in fractions))
        self.checkMap(outputs, logic, voxels, ijkToRAS, transformNode)
        self.checkTableAndPlot(outputs, voxels.shape[0])
        self.assertIsNone(outputs.landmarksNode)
        self.assertIsNone(outputs.segmentationNode)
        self.delayDisplay("First run produced the map, the table and the plot")

        numberOfNodes = slicer.mrmlScene.GetNumberOfNodes()
        again = logic.process(inputNode, modelPath=modelPath, device="cpu")
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodes)
        for first, second in [(outputs.mapNode, again.mapNode), (outputs.tableNode, again.tableNode),
                              (outputs.plotChartNode, again.plotChartNode), (outputs.plotSeriesNode, again.plotSeriesNode)]:
            self.assertEqual(first.GetID(), second.GetID())
        self.delayDisplay("Second run replaced the outputs")

        names = logic.landmarkNames(landmarkModelPath)
        full = logic.process(inputNode, modelPath=modelPath, device="cpu", landmarkModelPath=landmarkModelPath,
                             roiBetween=(names[0], names[1]), roiMargin=5.0, createSegmentation=True, sliceThreshold=-1.0)
        markups = full.landmarksNode
        self.assertIsNotNone(markups)
        self.assertEqual(markups.GetNumberOfControlPoints(), len(full.landmarks.found))
        self.assertEqual(sorted(markups.GetNthControlPointLabel(n) for n in range(markups.GetNumberOfControlPoints())),
                         sorted(f.name for f in full.landmarks.found))
        self.assertEqual(markups.GetTransformNodeID(), transformNode.GetID())
        self.assertIsNotNone(full.roiNode)
        skipped = slicer.util.arrayFromTableColumn(full.tableNode, "skipped")
        np.testing.assert_array_equal(skipped, full.result.skipped.astype(int))
        np.testing.assert_array_equal(slicer.util.arrayFromTableColumn(full.tableNode, "score")[skipped == 1], 0.0)
        self.assertEqual(full.result.slice_threshold, -1.0)
        np.testing.assert_array_equal(slicer.util.arrayFromTableColumn(full.tableNode, "flagged"), full.result.scored.astype(int))
        segment = full.segmentationNode.GetSegmentation().GetSegmentIdBySegmentName("anomaly")
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(full.segmentationNode, segment, inputNode)
        np.testing.assert_array_equal(mask > 0, full.result.anomaly_map > full.result.map_threshold)
        self.delayDisplay("Landmarks, region of interest and segmentation")

        withoutExtras = logic.process(inputNode, modelPath=modelPath, device="cpu")
        self.assertIsNone(withoutExtras.landmarksNode)
        self.assertIsNone(slicer.mrmlScene.GetNodeByID(markups.GetID()))
        self.assertIsNone(inputNode.GetNodeReference("AnomalyDetectSegmentation"))
        self.delayDisplay("A plain re-run removed the outputs it no longer makes")

        otherNode = slicer.util.addVolumeFromArray(voxels, ijkToRAS=ijkToRAS, name="AnomalyDetectTestVolume2")
        numberOfNodes = slicer.mrmlScene.GetNumberOfNodes()
        with self.assertRaises(Cancelled):
            logic.process(otherNode, modelPath=modelPath, device="cpu", landmarkModelPath=landmarkModelPath, shouldCancel=lambda: True)
        with self.assertRaises(AnomalyDetectError):
            logic.process(otherNode, modelPath=landmarkModelPath, device="cpu")  # a landmark bundle is not an anomaly model
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), numberOfNodes)
        self.assertIsNone(otherNode.GetNodeReference(logic.MAP_REFERENCE_ROLE))
        self.delayDisplay("Cancelling and a wrong model left the scene unchanged")

        self.delayDisplay("Test passed")

    def checkMap(self, outputs, logic, voxels, ijkToRAS, transformNode):
        import numpy as np

        mapNode = outputs.mapNode
        self.assertEqual(mapNode.GetName(), "AnomalyDetectTestVolume anomaly map")
        mapArray = slicer.util.arrayFromVolume(mapNode)
        self.assertEqual(mapArray.shape, voxels.shape)
        self.assertEqual(mapArray.dtype, np.float32)
        mapMatrix = vtk.vtkMatrix4x4()
        mapNode.GetIJKToRASMatrix(mapMatrix)
        np.testing.assert_allclose(slicer.util.arrayFromVTKMatrix(mapMatrix), ijkToRAS, atol=1e-6)
        self.assertEqual(mapNode.GetTransformNodeID(), transformNode.GetID())
        display = mapNode.GetScalarVolumeDisplayNode()
        self.assertEqual(display.GetColorNodeID(), logic.MAP_COLOR_NODE_ID)
        self.assertEqual(display.GetApplyThreshold(), 1)
        self.assertAlmostEqual(display.GetLowerThreshold(), outputs.result.map_threshold, places=5)

    def checkTableAndPlot(self, outputs, slices):
        import numpy as np

        tableNode = outputs.tableNode
        self.assertEqual(tableNode.GetName(), "AnomalyDetectTestVolume slice scores")
        self.assertEqual(tableNode.GetNumberOfRows(), slices)
        self.assertEqual([tableNode.GetColumnName(c) for c in range(5)], ["slice", "position_mm", "score", "flagged", "skipped"])
        np.testing.assert_allclose(slicer.util.arrayFromTableColumn(tableNode, "score"), outputs.result.slice_scores)
        np.testing.assert_array_equal(slicer.util.arrayFromTableColumn(tableNode, "flagged"), outputs.result.flagged.astype(int))
        series, chart = outputs.plotSeriesNode, outputs.plotChartNode
        self.assertEqual(series.GetTableNodeID(), tableNode.GetID())
        self.assertEqual((series.GetXColumnName(), series.GetYColumnName()), ("slice", "score"))
        self.assertEqual(chart.GetNumberOfPlotSeriesNodes(), 1)
        self.assertEqual(chart.GetNthPlotSeriesNodeID(0), series.GetID())
