"""The stand-in's plot, markups, segmentation and slice nodes, display thresholds, and their slicer.util helpers.

These classes mirror Slicer's API (see ``Testing/slicer_standin``); the tests check that they
behave as Slicer's do for what scripted modules call: creation through the scene, references
between nodes, round trips of positions, sizes and voxels, and what is removed with a node.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import put_standin_first

REPO = Path(__file__).resolve().parents[1]
STANDIN_DIR = REPO / "Testing" / "slicer_standin"


@pytest.fixture(scope="module")
def slicer():
    """The stand-in ``slicer`` package, with the stand-in first on sys.path."""
    return put_standin_first()


@pytest.fixture
def scene(slicer):
    slicer.mrmlScene.Clear()
    yield slicer.mrmlScene
    slicer.mrmlScene.Clear()


def _matrix(slicer, node):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


# A voxel grid whose axes are permuted, rotated and anisotropic: I -> -A, J -> tilted R/S, K -> S.
OBLIQUE = np.array([
    [0.0, 0.6 * np.cos(0.3), 0.0, -12.0],
    [-0.8, 0.0, 0.0, 40.5],
    [0.0, 0.6 * np.sin(0.3), 2.5, 7.25],
    [0.0, 0.0, 0.0, 1.0],
])


NEW_CLASSES = [
    "vtkMRMLPlotSeriesNode", "vtkMRMLPlotChartNode", "vtkMRMLMarkupsFiducialNode", "vtkMRMLMarkupsROINode",
    "vtkMRMLMarkupsDisplayNode", "vtkMRMLMarkupsFiducialDisplayNode", "vtkMRMLMarkupsROIDisplayNode",
    "vtkMRMLSegmentationNode", "vtkMRMLSegmentationDisplayNode",
]


@pytest.mark.parametrize("className", NEW_CLASSES)
def test_node_classes_are_created_through_the_scene(slicer, scene, className):
    node = scene.AddNewNodeByClass(className, "made")
    assert isinstance(node, getattr(slicer, className)) and node.GetClassName() == className
    assert node.GetScene() is scene and node.GetName() == "made" and node.GetID() == className + "1"
    assert re.match(r"^Modules/|^Libs/", type(node).__slicer_source__)


def test_abstract_and_view_classes_are_not_creatable(slicer, scene):
    # vtkMRMLMarkupsNode is abstract in Slicer; the stand-in has no views, so no slice nodes.
    assert scene.AddNewNodeByClass("vtkMRMLMarkupsNode") is None
    assert scene.AddNewNodeByClass("vtkMRMLSliceNode") is None
    assert scene.GetNumberOfNodes() == 0


# --- plots ------------------------------------------------------------------------------------


def test_plot_series_references_its_table(slicer, scene):
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "scores")
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", "series")
    assert series.GetTableNode() is None and series.GetTableNodeID() is None
    series.SetAndObserveTableNodeID(table.GetID())
    assert series.GetTableNodeID() == table.GetID() and series.GetTableNode() is table
    series.SetXColumnName("slice")
    series.SetYColumnName("score")
    assert (series.GetXColumnName(), series.GetYColumnName()) == ("slice", "score")
    scene.RemoveNode(table)
    assert series.GetTableNode() is None  # the ID stays, the node is gone


def test_plot_series_styles_and_colour(slicer, scene):
    Series = slicer.vtkMRMLPlotSeriesNode
    assert (Series.PlotTypeLine, Series.PlotTypeBar, Series.PlotTypeScatter, Series.PlotTypeScatterBar) == (0, 1, 2, 3)
    assert (Series.MarkerStyleNone, Series.MarkerStyleCircle, Series.MarkerStyleDiamond) == (0, 4, 5)
    assert (Series.LineStyleNone, Series.LineStyleSolid, Series.LineStyleDashDotDot) == (0, 1, 5)
    series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode")
    assert series.GetName() == "PlotSeries"
    assert (series.GetPlotType(), series.GetMarkerStyle(), series.GetLineStyle()) == (0, 4, 1)  # header defaults
    assert series.GetColor() == (0.0, 0.0, 0.0)
    series.SetPlotType(Series.PlotTypeScatter)
    series.SetMarkerStyle(Series.MarkerStyleSquare)
    series.SetLineStyle(Series.LineStyleNone)
    assert (series.GetPlotType(), series.GetMarkerStyle(), series.GetLineStyle()) == (2, 3, 0)
    series.SetPlotType("Bar")
    assert series.GetPlotType() == Series.PlotTypeBar
    series.SetPlotType("bar")  # names are case-sensitive in Slicer: -1
    assert series.GetPlotType() == -1
    series.SetColor(0.9, 0.35, 0.1)
    assert series.GetColor() == pytest.approx((0.9, 0.35, 0.1))
    series.SetColor([0.0, 1.0, 0.5])
    filled = [0.0, 0.0, 0.0]
    assert series.GetColor(filled) is None and filled == [0.0, 1.0, 0.5]


def test_plot_chart_lists_its_series(slicer, scene):
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", "chart")
    first = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", "first")
    second = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", "second")
    assert chart.GetNumberOfPlotSeriesNodes() == 0 and chart.GetPlotSeriesNodeID() is None
    chart.AddAndObservePlotSeriesNodeID(first.GetID())
    chart.AddAndObservePlotSeriesNodeID(second.GetID())
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    assert [chart.GetNthPlotSeriesNodeID(n) for n in range(3)] == [first.GetID(), second.GetID(), None]
    assert chart.GetPlotSeriesNodeID() == first.GetID()
    assert chart.GetNthPlotSeriesNode(1) is second and chart.GetPlotSeriesNode() is first
    chart.RemoveAllPlotSeriesNodeIDs()
    assert chart.GetNumberOfPlotSeriesNodes() == 0 and chart.GetNthPlotSeriesNode(0) is None

    assert (chart.GetTitle(), chart.GetXAxisTitle(), chart.GetYAxisTitle(), chart.GetLegendVisibility()) == (None, None, None, True)
    chart.SetTitle("scores")
    chart.SetXAxisTitle("slice (k)")
    chart.SetYAxisTitle("score")
    chart.SetLegendVisibility(False)
    assert (chart.GetTitle(), chart.GetXAxisTitle(), chart.GetYAxisTitle(), chart.GetLegendVisibility()) == (
        "scores", "slice (k)", "score", False)


# --- markups ----------------------------------------------------------------------------------


def test_fiducial_control_points_positions_and_labels(slicer, scene):
    import vtk

    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "F")
    assert node.AddControlPoint([1.0, 2.0, 3.0], "nasion") == 0
    assert node.AddControlPoint(vtk.vtkVector3d(-4.0, 5.5, 6.0), "tip") == 1
    assert node.AddControlPoint(7.0, 8.0, 9.0) == 2  # x, y, z overload, label generated from "%N-%d"
    assert node.AddControlPoint(np.array([0.5, 0.25, 0.125])) == 3
    assert node.GetNumberOfControlPoints() == 4
    assert [node.GetNthControlPointLabel(n) for n in range(4)] == ["nasion", "tip", "F-3", "F-4"]

    position = [0.0, 0.0, 0.0]
    assert node.GetNthControlPointPosition(1, position) is None and position == [-4.0, 5.5, 6.0]
    assert node.GetNthControlPointPosition(2) == (7.0, 8.0, 9.0)
    vector = node.GetNthControlPointPositionVector(0)
    assert isinstance(vector, vtk.vtkVector3d) and list(vector) == [1.0, 2.0, 3.0]
    world = [0.0, 0.0, 0.0]
    assert node.GetNthControlPointPositionWorld(3, world) == 1 and world == [0.5, 0.25, 0.125]
    node.SetNthControlPointPosition(3, 1.5, 2.5, 3.5)
    assert node.GetNthControlPointPosition(3) == (1.5, 2.5, 3.5)

    node.SetNthControlPointLabel(2, "vertex")
    node.SetNthControlPointDescription(2, "confidence 0.90")
    assert node.GetNthControlPointLabel(2) == "vertex" and node.GetNthControlPointDescription(2) == "confidence 0.90"
    assert node.GetNthControlPointDescription(0) == ""

    # Invalid indices: Slicer logs an error and answers empty / zeros / 0.
    invalid = [9.0, 9.0, 9.0]
    node.GetNthControlPointPosition(4, invalid)
    assert invalid == [0.0, 0.0, 0.0] and node.GetNthControlPointPosition(4) is None
    assert node.GetNthControlPointLabel(4) == "" and node.GetNthControlPointPositionWorld(-1, invalid) == 0

    np.testing.assert_array_equal(slicer.util.arrayFromMarkupsControlPoints(node),
                                  [[1, 2, 3], [-4, 5.5, 6], [7, 8, 9], [1.5, 2.5, 3.5]])
    np.testing.assert_array_equal(slicer.util.arrayFromMarkupsControlPoints(node, world=True)[1], [-4, 5.5, 6])

    node.RemoveNthControlPoint(0)
    assert node.GetNumberOfControlPoints() == 3 and node.GetNthControlPointLabel(0) == "tip"
    node.RemoveAllControlPoints()
    assert node.GetNumberOfControlPoints() == 0 and slicer.util.arrayFromMarkupsControlPoints(node).shape == (0, 3)
    assert node.AddControlPoint(0.0, 0.0, 0.0) == 0
    assert node.GetNthControlPointLabel(0) == "F-5"  # RemoveAllControlPoints keeps the number counting

    with pytest.raises(TypeError):
        node.AddControlPoint(1.0, 2.0)


def test_fiducial_lock_and_display_node(slicer, scene):
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "points")
    assert node.GetLocked() == 0
    node.SetLocked(1)
    assert node.GetLocked() == 1
    assert node.GetDisplayNode() is None and node.GetMarkupsDisplayNode() is None
    node.CreateDefaultDisplayNodes()
    node.CreateDefaultDisplayNodes()  # only one display node
    display = node.GetDisplayNode()
    assert node.GetNumberOfDisplayNodes() == 1 and display.GetClassName() == "vtkMRMLMarkupsFiducialDisplayNode"
    assert display.IsA("vtkMRMLMarkupsDisplayNode") and node.GetMarkupsDisplayNode() is display
    assert display.GetPointLabelsVisibility() is True and display.GetTextScale() == 3.0 and display.GetGlyphScale() == 1.0
    display.SetTextScale(2.0)
    display.SetGlyphScale(1.5)
    display.SetSelectedColor(0.1, 0.2, 0.3)
    assert (display.GetTextScale(), display.GetGlyphScale(), display.GetSelectedColor()) == (2.0, 1.5, (0.1, 0.2, 0.3))


def test_roi_centre_size_and_legacy_radius(slicer, scene):
    import vtk

    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "box")
    assert roi.GetSize() == (0.0, 0.0, 0.0) and list(roi.GetCenter()) == [0.0, 0.0, 0.0]
    assert roi.GetROIType() == slicer.vtkMRMLMarkupsROINode.ROITypeBox == 0
    roi.SetCenter([1.0, -2.0, 3.5])
    roi.SetSize(10.0, 20.0, 30.0)
    center, size = [0.0] * 3, [0.0] * 3
    roi.GetCenter(center)
    roi.GetSize(size)
    assert center == [1.0, -2.0, 3.5] and size == [10.0, 20.0, 30.0] and roi.GetSize() == (10.0, 20.0, 30.0)
    assert isinstance(roi.GetCenter(), vtk.vtkVector3d)
    assert roi.SetXYZ(4.0, 5.0, 6.0) == 1 and list(roi.GetCenter()) == [4.0, 5.0, 6.0]
    roi.SetRadiusXYZ([1.0, 2.0, 3.0])
    radius = [0.0] * 3
    roi.GetRadiusXYZ(radius)
    assert roi.GetSize() == (2.0, 4.0, 6.0) and radius == [1.0, 2.0, 3.0]
    roi.SetROIType(slicer.vtkMRMLMarkupsROINode.ROITypeBoundingBox)
    assert roi.GetROIType() == 1
    roi.SetDescription("from landmarks")
    assert roi.GetDescription() == "from landmarks"
    roi.CreateDefaultDisplayNodes()
    assert roi.GetDisplayNode().GetClassName() == "vtkMRMLMarkupsROIDisplayNode"
    with pytest.raises(AttributeError):  # the stand-in ROI is a box without control points
        roi.AddControlPoint([0.0, 0.0, 0.0])


# --- segmentations ----------------------------------------------------------------------------


def _reference(slicer, shape=(4, 5, 6), ijkToRAS=OBLIQUE, name="reference"):
    return slicer.util.addVolumeFromArray(np.zeros(shape, dtype=np.int16), ijkToRAS=ijkToRAS, name=name)


def test_segmentation_segments(slicer, scene):
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segmentation")
    segmentation = node.GetSegmentation()
    assert isinstance(segmentation, slicer.vtkSegmentation) and segmentation.GetNumberOfSegments() == 0
    assert segmentation.AddEmptySegment() == "Segment_1"
    assert segmentation.AddEmptySegment("anomaly", "Anomaly", [1.0, 0.2, 0.1]) == "anomaly"
    assert segmentation.AddEmptySegment("anomaly") == "anomaly_2"  # made unique
    assert segmentation.GetNumberOfSegments() == 3 and segmentation.GetNthSegmentID(2) == "anomaly_2"
    segment = segmentation.GetSegment("anomaly")
    assert isinstance(segment, slicer.vtkSegment) and segment.GetName() == "Anomaly"
    assert segment.GetColor() == pytest.approx((1.0, 0.2, 0.1)) and segment.GetLabelValue() == 1
    assert segmentation.GetSegment("Segment_1").GetName() == "Segment_1"  # name defaults to the ID
    assert segmentation.GetSegment("Segment_1").GetColor() == (0.5, 0.5, 0.5)  # SEGMENT_COLOR_INVALID
    assert segmentation.GetSegmentIdBySegmentName("ANOMALY") == "anomaly"  # case-insensitive
    assert segmentation.GetSegmentIdBySegmentName("missing") == "" and segmentation.GetSegment("missing") is None
    segmentation.RemoveSegment("Segment_1")
    assert segmentation.GetNumberOfSegments() == 2 and segmentation.GetNthSegment(0) is segment
    segmentation.RemoveAllSegments()
    assert segmentation.GetNumberOfSegments() == 0 and segmentation.GetNthSegmentID(0) == ""

    node.CreateDefaultDisplayNodes()
    node.CreateDefaultDisplayNodes()
    assert node.GetNumberOfDisplayNodes() == 1 and node.GetDisplayNode().GetClassName() == "vtkMRMLSegmentationDisplayNode"


def test_segment_labelmap_round_trip_on_oblique_reference(slicer, scene):
    reference = _reference(slicer)
    np.testing.assert_allclose(_matrix(slicer, reference), OBLIQUE)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segmentation")
    segmentId = node.GetSegmentation().AddEmptySegment("anomaly", "anomaly")
    # No reference yet: Slicer's helpers need one.
    with pytest.raises(RuntimeError, match="reference"):
        slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentId)

    mask = (np.random.default_rng(3).random((4, 5, 6)) > 0.6).astype(np.uint8)
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, node, segmentId, reference)
    exported = slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentId, reference)
    assert exported.dtype == np.int16  # Slicer exports a merged labelmap (VTK_SHORT)
    np.testing.assert_array_equal(exported, mask)

    # The labelmap keeps the reference geometry, direction included.
    labelmap = node.GetBinaryLabelmapInternalRepresentation(segmentId)
    assert labelmap.GetDimensions() == (6, 5, 4)
    matrix = labelmap.GetIndexToPhysicalMatrix()
    np.testing.assert_allclose([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)], OBLIQUE, atol=1e-12)

    # The reference geometry parameter gives the default reference volume.
    node.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    assert node.GetNodeReference(slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()) is reference
    exported = slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentId)
    np.testing.assert_array_equal(exported, mask)
    exported[:] = 0  # a copy
    np.testing.assert_array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentId), mask)

    # Any value > 0 is inside.
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask.astype(np.int16) * 7, node, segmentId)
    np.testing.assert_array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentId), mask)


def test_segment_export_resamples_onto_another_reference(slicer, scene):
    reference = _reference(slicer)
    shifted = OBLIQUE.copy()
    shifted[:3, 3] += OBLIQUE[:3, 0]  # origin one voxel further along i
    other = _reference(slicer, shape=(4, 5, 6), ijkToRAS=shifted, name="shifted")
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentId = node.GetSegmentation().AddEmptySegment()
    np.testing.assert_array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentId, reference), 0)  # empty
    mask = np.zeros((4, 5, 6), dtype=np.uint8)
    mask[1:3, 2, 1:5] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, node, segmentId, reference)
    expected = np.zeros_like(mask)
    expected[:, :, :-1] = mask[:, :, 1:]  # voxel i of "shifted" is voxel i + 1 of the reference
    np.testing.assert_array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(node, segmentId, other), expected)
    with pytest.raises(RuntimeError):
        slicer.util.arrayFromSegmentBinaryLabelmap(node, "missing", reference)
    with pytest.raises(RuntimeError):
        slicer.util.updateSegmentBinaryLabelmapFromArray(mask, node, "missing", reference)


def test_segmentation_closed_surface_lies_on_the_segment(slicer, scene):
    reference = _reference(slicer, shape=(6, 6, 6))
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentId = node.GetSegmentation().AddEmptySegment("blob")
    mask = np.zeros((6, 6, 6), dtype=np.uint8)
    mask[2:4, 1:5, 2:5] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, node, segmentId, reference)
    assert node.GetClosedSurfaceInternalRepresentation(segmentId) is None
    assert node.CreateClosedSurfaceRepresentation() is True
    surface = node.GetClosedSurfaceInternalRepresentation(segmentId)
    assert surface.GetNumberOfPoints() > 0 and surface.GetNumberOfPolys() > 0
    points = np.array([surface.GetPoint(n) for n in range(surface.GetNumberOfPoints())])
    # Back in voxel (i, j, k) coordinates the surface is the boundary of the box of voxels i 2..4, j 1..4, k 2..3
    # (vertices halfway between inside and outside voxel centres; float32 points).
    ijk = (np.c_[points, np.ones(len(points))] @ np.linalg.inv(OBLIQUE).T)[:, :3]
    np.testing.assert_allclose(ijk.min(axis=0), [1.5, 0.5, 1.5], atol=1e-4)
    np.testing.assert_allclose(ijk.max(axis=0), [4.5, 4.5, 3.5], atol=1e-4)
    # A new labelmap invalidates the surface (binary labelmap is the source representation).
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, node, segmentId, reference)
    assert node.GetClosedSurfaceInternalRepresentation(segmentId) is None


# --- display nodes, slices, removal -----------------------------------------------------------


def test_scalar_volume_display_threshold_opacity_colour(slicer, scene):
    volume = slicer.util.addVolumeFromArray(np.zeros((2, 3, 4), dtype=np.float32), name="map")
    display = volume.GetScalarVolumeDisplayNode()
    assert display.GetApplyThreshold() == 0
    assert (display.GetLowerThreshold(), display.GetUpperThreshold()) == (-32768.0, 32767.0)  # VTK_SHORT_MIN/MAX
    display.SetLowerThreshold(0.25)
    display.SetUpperThreshold(4)
    display.SetApplyThreshold(1)
    assert (display.GetApplyThreshold(), display.GetLowerThreshold(), display.GetUpperThreshold()) == (1, 0.25, 4.0)
    display.SetThreshold(-1.0, 2.5)
    assert (display.GetLowerThreshold(), display.GetUpperThreshold()) == (-1.0, 2.5)
    assert display.GetOpacity() == 1.0 and display.GetVisibility() == 1
    display.SetOpacity(0.4)
    display.SetVisibility(0)
    display.SetColor(1, 0, 0)
    assert (display.GetOpacity(), display.GetVisibility(), display.GetColor()) == (0.4, 0, (1.0, 0.0, 0.0))


def test_jump_all_slices_is_recorded_on_the_scene(slicer, scene):
    Slice = slicer.vtkMRMLSliceNode
    assert (Slice.DefaultJumpSlice, Slice.CenteredJumpSlice, Slice.OffsetJumpSlice) == (-1, 0, 1)
    Slice.JumpAllSlices(scene, 1.5, -2.0, 30.0, Slice.CenteredJumpSlice)
    assert scene._lastJump == (1.5, -2.0, 30.0, 0)
    Slice.JumpAllSlices(scene, 0, 0, 1)
    assert scene._lastJump == (0.0, 0.0, 1.0, Slice.DefaultJumpSlice)
    scene._lastJump = None


def test_transform_point_to_world_follows_the_parent_transforms(slicer, scene):
    import vtk

    volume = _reference(slicer)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    volume.SetAndObserveTransformNodeID(transform.GetID())
    world = [0.0, 0.0, 0.0]
    volume.TransformPointToWorld([1.0, -2.0, 3.0], world)
    assert world == [1.0, -2.0, 3.0]  # a transform node without a matrix is the identity

    # A transform that has a matrix (vtkMRMLTransformNode::GetMatrixTransformToParent) is applied, up the chain.
    def translation(offset):
        def GetMatrixTransformToParent(matrix):
            matrix.DeepCopy(slicer.util.vtkMatrixFromArray(np.array(
                [[1, 0, 0, offset[0]], [0, 1, 0, offset[1]], [0, 0, 1, offset[2]], [0, 0, 0, 1]], dtype=float)))
            return 1
        return GetMatrixTransformToParent

    parent = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    transform.SetAndObserveTransformNodeID(parent.GetID())
    transform.GetMatrixTransformToParent = translation([10.0, 0.0, 0.0])
    parent.GetMatrixTransformToParent = translation([0.0, 0.0, -1.0])
    world = vtk.vtkVector3d()
    volume.TransformPointToWorld(vtk.vtkVector3d(1.0, -2.0, 3.0), world)
    assert list(world) == [11.0, -2.0, 2.0]
    points = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode")
    points.SetAndObserveTransformNodeID(transform.GetID())
    points.AddControlPoint(0.0, 0.0, 0.0)
    np.testing.assert_array_equal(slicer.util.arrayFromMarkupsControlPoints(points, world=True), [[10.0, 0.0, -1.0]])
    np.testing.assert_array_equal(slicer.util.arrayFromMarkupsControlPoints(points), [[0.0, 0.0, 0.0]])
    assert list(points.GetNthControlPointPositionWorld(0)) == [10.0, 0.0, -1.0]


def test_removing_a_displayable_node_removes_its_own_display_nodes(slicer, scene):
    volume = _reference(slicer)
    display = volume.GetDisplayNode()
    markups = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode")
    markups.CreateDefaultDisplayNodes()
    shared = markups.GetDisplayNode()
    other = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode")
    other.SetAndObserveDisplayNodeID(shared.GetID())
    count = scene.GetNumberOfNodes()

    scene.RemoveNode(volume)  # its display node goes too (vtkSlicerDataModuleLogic)
    assert display.GetScene() is None and scene.GetNumberOfNodes() == count - 2
    scene.RemoveNode(markups)  # the display node is still used by "other": kept
    assert shared.GetScene() is scene and other.GetDisplayNode() is shared
    scene.RemoveNode(shared)  # removing a display node leaves its displayable node
    assert other.GetScene() is scene and other.GetDisplayNode() is None
    assert scene.GetNumberOfNodes() == count - 4


def test_world_round_trip_and_roi_world_bounds(slicer, scene):
    volume = _reference(slicer)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    rotation = np.array([[0.0, -1.0, 0.0, 5.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, -2.0], [0.0, 0.0, 0.0, 1.0]])
    assert transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(rotation)) == 1
    volume.SetAndObserveTransformNodeID(transform.GetID())
    world, back = [0.0] * 3, [0.0] * 3
    volume.TransformPointToWorld([1.0, 2.0, 3.0], world)
    np.testing.assert_allclose(world, [3.0, 1.0, 1.0])
    volume.TransformPointFromWorld(world, back)
    np.testing.assert_allclose(back, [1.0, 2.0, 3.0])

    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode")
    roi.SetCenter(1.0, 2.0, 3.0)
    roi.SetSize(2.0, 4.0, 6.0)
    bounds = [0.0] * 6
    roi.GetRASBounds(bounds)
    assert bounds == [0.0, 2.0, 0.0, 4.0, 0.0, 6.0]
    roi.SetAndObserveTransformNodeID(transform.GetID())  # rotated 90° about S: x and y extents swap
    roi.GetRASBounds(bounds)
    np.testing.assert_allclose(bounds, [1.0, 5.0, 0.0, 2.0, -2.0, 4.0])
