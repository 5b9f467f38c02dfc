"""Self-test of the AnomalyDetect module (Slicer's "Reload and Test", ctest, and CI's stand-in)."""

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
