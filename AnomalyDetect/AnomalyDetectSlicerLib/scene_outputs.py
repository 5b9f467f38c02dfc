"""Writing detection results into the MRML scene: map, table, plot, landmarks, ROI, segmentation.

Each output is named after the input and found again on the next run through a node
reference on the input volume (role per output), so re-running replaces contents instead of
adding nodes. :class:`OutputWriter` creates nodes lazily and, if anything fails half-way,
removes every node it created (nodes that already existed are only updated).
"""

import slicer
import vtk

#: Attribute on each output node: ID of the input volume it was computed from.
SOURCE_ATTRIBUTE = "AnomalyDetect.InputVolumeID"

#: (role on the input volume, node class, name suffix) of every output.
OUTPUTS = {
    "map": ("AnomalyDetectMap", "vtkMRMLScalarVolumeNode", "anomaly map"),
    "table": ("AnomalyDetectSliceScores", "vtkMRMLTableNode", "slice scores"),
    "series": ("AnomalyDetectScoreSeries", "vtkMRMLPlotSeriesNode", "slice score"),
    "chart": ("AnomalyDetectScoreChart", "vtkMRMLPlotChartNode", "slice score plot"),
    "landmarks": ("AnomalyDetectLandmarks", "vtkMRMLMarkupsFiducialNode", "landmarks"),
    "roi": ("AnomalyDetectROI", "vtkMRMLMarkupsROINode", "region of interest"),
    "segmentation": ("AnomalyDetectSegmentation", "vtkMRMLSegmentationNode", "anomaly segmentation"),
}

#: Colour table of the map (Base/Logic/Resources/ColorFiles/Inferno.txt in Slicer;
#: file colour node IDs are "vtkMRMLColorTableNodeFile" + file name).
MAP_COLOR_NODE_ID = "vtkMRMLColorTableNodeFileInferno.txt"
SEGMENT_COLOR = (1.0, 0.2, 0.1)


class OutputWriter:
    """Finds or creates the output nodes of one input volume; :meth:`rollback` undoes creations."""

    def __init__(self, inputVolumeNode):
        self.input = inputVolumeNode
        self.inputName = inputVolumeNode.GetName() or "volume"
        self.created = []

    def node(self, key):
        role, className, suffix = OUTPUTS[key]
        node = self.existing(key)
        if node is None:
            node = slicer.mrmlScene.AddNewNodeByClass(className, f"{self.inputName} {suffix}")
            self.created.append(node)
        node.SetAttribute(SOURCE_ATTRIBUTE, self.input.GetID())
        return node

    def existing(self, key):
        """The output node of a previous run on this input, or None."""
        role, className, suffix = OUTPUTS[key]
        node = self.input.GetNodeReference(role)
        if node is not None and node.IsA(className):
            return node
        # Fall back to the name, but only for a node made from this same input.
        node = slicer.mrmlScene.GetFirstNode(f"{self.inputName} {suffix}", className)
        if node is not None and node.GetAttribute(SOURCE_ATTRIBUTE) == self.input.GetID():
            return node
        return None

    def link(self, outputs):
        """Reference every made output from the input (and drop references to outputs not made this run)."""
        for key, (role, _className, _suffix) in OUTPUTS.items():
            node = outputs.get(key)
            self.input.SetNodeReferenceID(role, node.GetID() if node is not None else None)

    def removeStale(self, keys):
        """Remove optional outputs of a previous run that this run did not make (they would no longer match)."""
        for key in keys:
            node = self.existing(key)
            if node is not None:
                removeNode(node)

    def rollback(self):
        for node in reversed(self.created):
            removeNode(node)
        self.created = []


def removeNode(node):
    """Remove an output node. Its display (and storage) nodes go with it: Slicer's Data module logic
    removes those no other node references when a node is removed, so they are not removed here."""
    slicer.mrmlScene.RemoveNode(node)


def inputMatrix(inputVolumeNode):
    matrix = vtk.vtkMatrix4x4()
    inputVolumeNode.GetIJKToRASMatrix(matrix)
    return matrix


def writeMap(mapNode, inputVolumeNode, anomalyMap, mapThreshold):
    """The map on the input's exact geometry and parent transform, as a heat map transparent under ``mapThreshold``."""
    mapNode.SetIJKToRASMatrix(inputMatrix(inputVolumeNode))
    slicer.util.updateVolumeFromArray(mapNode, anomalyMap)
    mapNode.SetAndObserveTransformNodeID(inputVolumeNode.GetTransformNodeID())
    mapNode.CreateDefaultDisplayNodes()
    displayNode = mapNode.GetScalarVolumeDisplayNode()
    displayNode.SetAndObserveColorNodeID(MAP_COLOR_NODE_ID)
    low, high = float(anomalyMap.min()), float(anomalyMap.max())
    if not high > low:
        high = low + 1e-6
    displayNode.SetAutoWindowLevel(0)
    displayNode.SetWindowLevelMinMax(low, high)
    # Voxels under the threshold are transparent, so the input shows through the overlay.
    displayNode.SetLowerThreshold(float(mapThreshold))
    displayNode.SetUpperThreshold(max(high, float(mapThreshold)))
    displayNode.SetApplyThreshold(1)


def writeTable(tableNode, positionsMm, result):
    import numpy as np
    from vtk.util.numpy_support import vtk_to_numpy

    slices = len(result.slice_scores)
    skipped = result.skipped if result.skipped is not None else np.zeros(slices, dtype=bool)
    columns = [
        ("slice", np.arange(slices), vtk.vtkIntArray, "k index of the slice in the input volume"),
        ("position_mm", positionsMm, vtk.vtkDoubleArray, "position of the slice centre along the slice normal"),
        ("score", result.slice_scores, vtk.vtkDoubleArray, "slice anomaly score (0 for slices not analysed)"),
        ("flagged", result.flagged, vtk.vtkIntArray, "1 if the score is above the slice threshold"),
        ("skipped", skipped, vtk.vtkIntArray, "1 if the slice lies outside the region of interest"),
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


def writePlot(seriesNode, chartNode, tableNode, inputName, sliceThreshold):
    seriesNode.SetAndObserveTableNodeID(tableNode.GetID())
    seriesNode.SetXColumnName("slice")
    seriesNode.SetYColumnName("score")
    seriesNode.SetPlotType(slicer.vtkMRMLPlotSeriesNode.PlotTypeScatter)
    seriesNode.SetMarkerStyle(slicer.vtkMRMLPlotSeriesNode.MarkerStyleCircle)
    seriesNode.SetColor(0.9, 0.35, 0.1)
    chartNode.RemoveAllPlotSeriesNodeIDs()
    chartNode.AddAndObservePlotSeriesNodeID(seriesNode.GetID())
    chartNode.SetTitle(f"{inputName}: slice anomaly score (threshold {sliceThreshold:.3g})")
    chartNode.SetXAxisTitle("slice (k)")
    chartNode.SetYAxisTitle("score")


def writeLandmarks(markupsNode, landmarks):
    """Found landmarks as control points (RAS of the input's own space), confidence in the description."""
    markupsNode.CreateDefaultDisplayNodes()  # not made by the markups logic during a batch
    markupsNode.RemoveAllControlPoints()
    for landmark in landmarks.found:
        index = markupsNode.AddControlPoint(vtk.vtkVector3d(*landmark.ras), landmark.name)
        markupsNode.SetNthControlPointDescription(index, f"confidence {landmark.confidence:.2f}")
    markupsNode.SetLocked(1)


def writeROI(roiNode, region, volume):
    """The region of interest as a box; open sides are closed at the input's bounds."""
    import numpy as np

    corners = np.array([[i, j, k] for i in (-0.5, volume.shape[2] - 0.5) for j in (-0.5, volume.shape[1] - 0.5)
                        for k in (-0.5, volume.shape[0] - 0.5)])
    ras = corners @ volume.ijk_to_ras[:3, :3].T + volume.ijk_to_ras[:3, 3]
    lower = np.maximum(ras.min(axis=0), region.lower)
    upper = np.minimum(ras.max(axis=0), region.upper)
    upper = np.maximum(upper, lower)
    roiNode.CreateDefaultDisplayNodes()
    roiNode.SetCenter(list((lower + upper) / 2.0))
    roiNode.SetSize(list(upper - lower))
    roiNode.SetDescription(region.source)


def writeSegmentation(segmentationNode, inputVolumeNode, anomalyMap, mapThreshold):
    """One segment, "anomaly": the voxels whose map value exceeds ``mapThreshold``."""
    import numpy as np

    segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(inputVolumeNode)
    segmentationNode.SetAndObserveTransformNodeID(inputVolumeNode.GetTransformNodeID())
    segmentation = segmentationNode.GetSegmentation()
    segmentation.RemoveAllSegments()
    segmentId = segmentation.AddEmptySegment("anomaly", "anomaly", list(SEGMENT_COLOR))
    mask = (anomalyMap > mapThreshold).astype(np.uint8)
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentationNode, segmentId, inputVolumeNode)
    segmentationNode.CreateDefaultDisplayNodes()
    return int(mask.sum())
