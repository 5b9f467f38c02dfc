"""Logic of the AnomalyDetect module: MRML nodes in, AnomalyDetectLib detection, MRML nodes out.

AnomalyDetectLib, numpy and torch are imported only inside functions, because torch may
not be installed in Slicer's Python yet (the widget offers to install it).
"""

import logging

import slicer
import vtk
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic


class AnomalyDetectOutputs:
    """What :meth:`AnomalyDetectLogic.process` made: the two nodes and the detection result.

    From the Slicer Python console::

        outputs = AnomalyDetect.AnomalyDetectLogic().process(slicer.util.getNode("MRHead"))
        outputs.mapNode      # vtkMRMLScalarVolumeNode "<input> anomaly map"
        outputs.tableNode    # vtkMRMLTableNode "<input> slice scores"
        outputs.result       # AnomalyDetectLib detection result (slice_scores, flagged, ...)
    """

    def __init__(self, mapNode, tableNode, result):
        self.mapNode = mapNode
        self.tableNode = tableNode
        self.result = result


class AnomalyDetectLogic(ScriptedLoadableModuleLogic):
    """Converts nodes to AnomalyDetectLib volumes, runs detection and writes the results to the scene.

    Can be used without the widget (Python console, scripts, tests). From the Slicer Python console::

        import AnomalyDetect
        logic = AnomalyDetect.AnomalyDetectLogic()
        volumeNode = slicer.util.loadVolume("/path/to/flair.nii.gz")
        outputs = logic.process(volumeNode)   # bundled model; modelPath="...", device="cpu" or "cuda"
        print(logic.summaryText(outputs.result))

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
