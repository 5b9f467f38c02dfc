"""The module logic's scene outputs beyond map and table, on real Slicer core (slicer-core).

Plot, landmarks (markups point list), region of interest (markups ROI), segmentation of the
thresholded map, slice-threshold override, rollback when writing fails, removal of stale
outputs, jumping to a slice, and the model-information helpers used by the panel. Fixtures
and the stand-in set-up come from test_slicer_module.py and conftest.py.
"""

import numpy as np
import pytest
from test_slicer_module import _input_node

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]


def _names(scene):
    return sorted(scene.GetNthNode(n).GetName() for n in range(scene.GetNumberOfNodes()))


def _outputs(scene):
    """Names of the data nodes (display nodes left out)."""
    return [name for name in _names(scene) if "Display" not in name]


def test_landmarks_roi_and_segmentation_reach_the_scene(slicer_module, scene, tiny_bundle_path, plumbing_landmark_bundle_path):
    slicer, module = slicer_module
    logic = module.AnomalyDetectLogic()
    node, voxels, ijk_to_ras = _input_node(slicer, module)
    outputs = logic.process(node, modelPath=tiny_bundle_path, device="cpu", landmarkModelPath=plumbing_landmark_bundle_path,
                            roiBetween=("first", "second"), roiMargin=3.0, createSegmentation=True)

    found = outputs.landmarks.found
    markups = outputs.landmarksNode
    assert markups.GetName() == "TestVolume landmarks" and markups.GetNumberOfControlPoints() == len(found) == 2
    for index, landmark in enumerate(found):
        assert markups.GetNthControlPointLabel(index) == landmark.name
        position = [0.0, 0.0, 0.0]
        markups.GetNthControlPointPosition(index, position)
        np.testing.assert_allclose(position, landmark.ras, atol=1e-6)
        assert "confidence" in markups.GetNthControlPointDescription(index)
    assert markups.GetTransformNodeID() == node.GetTransformNodeID()
    assert markups.GetDisplayNode() is not None and outputs.roiNode.GetDisplayNode() is not None
    assert scene.GetStates() == 0  # the batch the outputs were written in is closed

    # The ROI spans the two landmarks along S plus the margin, closed at the volume's bounds in R and A.
    roi = outputs.roiNode
    centre, size = [0.0] * 3, list(roi.GetSize())
    roi.GetCenter(centre)
    z = sorted(landmark.ras[2] for landmark in found)
    corners = np.array([[i, j, k, 1.0] for i in (-0.5, voxels.shape[2] - 0.5) for j in (-0.5, voxels.shape[1] - 0.5)
                        for k in (-0.5, voxels.shape[0] - 0.5)]) @ ijk_to_ras.T
    assert centre[2] - size[2] / 2 == pytest.approx(max(z[0] - 3.0, corners[:, 2].min()))
    assert centre[2] + size[2] / 2 == pytest.approx(min(z[1] + 3.0, corners[:, 2].max()))
    for axis in (0, 1):  # open along R and A: the volume's extent
        assert centre[axis] - size[axis] / 2 == pytest.approx(corners[:, axis].min())
        assert centre[axis] + size[axis] / 2 == pytest.approx(corners[:, axis].max())
    skipped = slicer.util.arrayFromTableColumn(outputs.tableNode, "skipped")
    np.testing.assert_array_equal(skipped, outputs.result.skipped.astype(int))
    assert np.all(slicer.util.arrayFromTableColumn(outputs.tableNode, "score")[skipped == 1] == 0)

    segmentation = outputs.segmentationNode
    segment = segmentation.GetSegmentation().GetSegmentIdBySegmentName("anomaly")
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segment, node)
    np.testing.assert_array_equal(mask > 0, outputs.result.anomaly_map > outputs.result.map_threshold)
    assert segmentation.GetTransformNodeID() == node.GetTransformNodeID()

    # A plain re-run keeps map/table/plot and removes the optional outputs it no longer makes.
    plain = logic.process(node, modelPath=tiny_bundle_path, device="cpu")
    assert plain.landmarksNode is None and plain.roiNode is None and plain.segmentationNode is None
    assert markups.GetScene() is None and roi.GetScene() is None and segmentation.GetScene() is None
    assert plain.mapNode is outputs.mapNode and plain.plotChartNode is outputs.plotChartNode
    assert node.GetNodeReference("AnomalyDetectLandmarks") is None


def test_plot_references_the_table_and_the_threshold_can_be_overridden(slicer_module, scene, tiny_bundle_path):
    slicer, module = slicer_module
    node, voxels, _matrix = _input_node(slicer, module)
    logic = module.AnomalyDetectLogic()
    outputs = logic.process(node, modelPath=tiny_bundle_path, device="cpu")
    series, chart = outputs.plotSeriesNode, outputs.plotChartNode
    assert series.GetTableNodeID() == outputs.tableNode.GetID()
    assert (series.GetXColumnName(), series.GetYColumnName()) == ("slice", "score")
    assert chart.GetNumberOfPlotSeriesNodes() == 1 and chart.GetNthPlotSeriesNodeID(0) == series.GetID()
    assert outputs.result.slice_threshold == pytest.approx(logic.modelThresholds(tiny_bundle_path)["slice"])

    scores = outputs.result.slice_scores
    middle = float(np.median(scores[outputs.result.scored]))
    lowered = logic.process(node, modelPath=tiny_bundle_path, device="cpu", sliceThreshold=middle)
    expected = outputs.result.scored & (scores > middle)
    np.testing.assert_array_equal(lowered.result.flagged, expected)
    np.testing.assert_array_equal(slicer.util.arrayFromTableColumn(lowered.tableNode, "flagged"), expected.astype(int))
    assert lowered.result.slice_threshold == middle and lowered.plotChartNode is chart
    assert f"{middle:.3g}" in chart.GetTitle()


def test_a_failure_while_writing_removes_what_the_run_created(slicer_module, scene, tiny_bundle_path, monkeypatch):
    slicer, module = slicer_module
    from AnomalyDetectSlicerLib import scene_outputs

    node, _voxels, _matrix = _input_node(slicer, module)
    before = _names(scene)

    def broken(*args):
        raise RuntimeError("disk full")

    batch = []
    monkeypatch.setattr(scene_outputs, "writeSegmentation", broken)
    original = scene_outputs.writeMap
    monkeypatch.setattr(scene_outputs, "writeMap", lambda *args: (batch.append(scene.IsBatchProcessing()), original(*args)))
    with pytest.raises(RuntimeError, match="disk full"):
        module.AnomalyDetectLogic().process(node, modelPath=tiny_bundle_path, device="cpu", createSegmentation=True)
    assert _names(scene) == before
    assert batch == [True] and scene.GetStates() == 0  # written inside one batch, closed even on failure
    assert node.GetNodeReference(module.AnomalyDetectLogic.MAP_REFERENCE_ROLE) is None


def test_wrong_inputs_are_refused_before_any_node_is_made(slicer_module, scene, tiny_bundle_path, plumbing_landmark_bundle_path):
    slicer, module = slicer_module
    from AnomalyDetectLib.errors import AnomalyDetectError, BundleError

    logic = module.AnomalyDetectLogic()
    node, voxels, ijk_to_ras = _input_node(slicer, module)
    before = _names(scene)
    with pytest.raises(AnomalyDetectError, match="needs a landmark model"):
        logic.process(node, modelPath=tiny_bundle_path, roiBetween=("first", "second"))
    with pytest.raises(BundleError, match="landmark"):
        logic.process(node, modelPath=plumbing_landmark_bundle_path)  # a landmark bundle as the anomaly model
    with pytest.raises(BundleError, match="anomaly model"):
        logic.process(node, modelPath=tiny_bundle_path, landmarkModelPath=tiny_bundle_path)  # and the other way round
    with pytest.raises(AnomalyDetectError, match="does not know"):
        logic.process(node, modelPath=tiny_bundle_path, landmarkModelPath=plumbing_landmark_bundle_path, roiBetween=("first", "T12"))
    label = slicer.util.addVolumeFromArray(voxels, ijkToRAS=ijk_to_ras, name="labels", nodeClassName="vtkMRMLLabelMapVolumeNode")
    before = _names(scene)
    with pytest.raises(AnomalyDetectError, match="label map"):
        logic.process(label, modelPath=tiny_bundle_path)
    assert _names(scene) == before


def test_model_information_for_the_panel(slicer_module, tiny_bundle_path, plumbing_landmark_bundle_path, tmp_path):
    _slicer, module = slicer_module
    from AnomalyDetectLib.errors import BundleError

    logic = module.AnomalyDetectLogic
    text = logic.describeModel(tiny_bundle_path)
    assert "Method: skipganomaly" in text and "Calibrated thresholds" in text and "Validation" in text
    thresholds = logic.modelThresholds(tiny_bundle_path)
    assert set(thresholds) == {"slice", "map"} and all(np.isfinite(v) for v in thresholds.values())
    assert logic.landmarkNames(plumbing_landmark_bundle_path) == ["first", "second"]
    assert "2 landmarks" in logic.describeModel(plumbing_landmark_bundle_path)
    with pytest.raises(BundleError, match="not a landmark detector"):
        logic.landmarkNames(tiny_bundle_path)
    with pytest.raises(BundleError, match="no calibrated thresholds"):
        logic.modelThresholds(plumbing_landmark_bundle_path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(BundleError):
        logic.describeModel(str(bad))


def test_jump_to_slice_centres_views_in_world_coordinates(slicer_module, scene):
    slicer, module = slicer_module
    node, voxels, ijk_to_ras = _input_node(slicer, module)
    transform = node.GetParentTransformNode()
    shift = np.eye(4)
    shift[:3, 3] = [5.0, -7.0, 11.0]
    transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(shift))
    world = module.AnomalyDetectLogic().jumpToSlice(node, 4)
    centre = ijk_to_ras @ [(voxels.shape[2] - 1) / 2, (voxels.shape[1] - 1) / 2, 4, 1]
    np.testing.assert_allclose(world, centre[:3] + shift[:3, 3], atol=1e-6)
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceNode")):  # Red, Yellow, Green: centred on the point
        sliceToRAS = slicer.util.arrayFromVTKMatrix(scene.GetNthNodeByClass(index, "vtkMRMLSliceNode").GetSliceToRAS())
        np.testing.assert_allclose(sliceToRAS[:3, 3], world, atol=1e-6)
    assert scene.GetNumberOfNodesByClass("vtkMRMLSliceNode") == 3
    with pytest.raises(IndexError):
        module.AnomalyDetectLogic().jumpToSlice(node, voxels.shape[0])


def test_no_view_or_layout_call_without_a_main_window(slicer_module, scene, tiny_bundle_path, monkeypatch):
    slicer, module = slicer_module
    assert slicer.util.mainWindow() is None  # the stand-in is `Slicer --no-main-window`
    shown = []
    monkeypatch.setattr(module.AnomalyDetectLogic, "showOutputs", lambda self, *args: shown.append(args))
    node, _voxels, _matrix = _input_node(slicer, module)
    module.AnomalyDetectLogic().process(node, modelPath=tiny_bundle_path, device="cpu")
    assert shown == []


def test_headless_recipe_writes_map_and_table_and_exits(slicer_module, scene, tiny_bundle_path, tmp_path, monkeypatch):
    """docs/slicer_headless.py (the README's `Slicer --no-main-window --python-script` recipe) end to end.

    The volume is read by Slicer's volumes logic and the outputs written by Slicer's storage nodes
    (NRRD, CSV); only ``slicer.util.exit`` is replaced, to record the status instead of quitting.
    """
    import csv
    import runpy
    import sys

    slicer, module = slicer_module
    from AnomalyDetectLib.volume import read_volume, write_volume

    source, voxels, ijk_to_ras = _input_node(slicer, module, with_transform=False)
    write_volume(module.AnomalyDetectLogic.volumeFromNode(source), str(tmp_path / "case.nii.gz"))
    exits = []
    monkeypatch.setattr(slicer.util, "exit", lambda status=0: exits.append(status))
    script = str(module.__file__).replace("AnomalyDetect/AnomalyDetect.py", "docs/slicer_headless.py")
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", [script, str(tmp_path / "case.nii.gz"), str(out), tiny_bundle_path])
    runpy.run_path(script, run_name="__main__")
    assert exits == [0]
    mapNode = scene.GetFirstNodeByName("case anomaly map")
    written = read_volume(str(out / "case_anomaly_map.nrrd"))
    np.testing.assert_array_equal(written.voxels, slicer.util.arrayFromVolume(mapNode))
    np.testing.assert_allclose(written.ijk_to_ras, ijk_to_ras, atol=1e-5)
    with open(out / "case_slice_scores.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == voxels.shape[0] and list(rows[0]) == ["slice", "position_mm", "score", "flagged", "skipped"]

    monkeypatch.setattr(sys, "argv", [script, str(tmp_path / "missing.nii.gz"), str(out)])
    runpy.run_path(script, run_name="__main__")
    assert exits == [0, 1]  # an unreadable input: message and status 1


def test_a_users_roi_bounds_the_analysis_in_world_coordinates(slicer_module, scene, tiny_bundle_path, plumbing_landmark_bundle_path):
    slicer, module = slicer_module
    from AnomalyDetectLib.errors import AnomalyDetectError

    node, voxels, ijk_to_ras = _input_node(slicer, module)  # slice k centre: S = 47 + 3 k (3 mm slabs)
    shift = np.eye(4)
    shift[2, 3] = 10.0
    node.GetParentTransformNode().SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(shift))
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "my ROI")
    roi.SetCenter(0.0, 0.0, 47 + 10 + 3 * 4)  # world: slice 4's centre
    roi.SetSize(1000.0, 1000.0, 7.0)  # ±3.5 mm: meets the slabs of slices 3, 4 and 5
    before = scene.GetNumberOfNodes()
    outputs = module.AnomalyDetectLogic().process(node, modelPath=tiny_bundle_path, device="cpu", inputROINode=roi)
    analysed = np.flatnonzero(~outputs.result.skipped)
    assert list(analysed) == [3, 4, 5]
    assert outputs.result.roi["source"] == "markups ROI 'my ROI'"
    assert outputs.roiNode is None and roi.GetScene() is scene  # the user's ROI is used, not copied
    assert scene.GetNumberOfNodes() == before + 5  # map and its display node, table, plot series, plot chart
    unplaced = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "unplaced")  # size 0 until placed
    with pytest.raises(AnomalyDetectError, match="no extent yet"):
        module.AnomalyDetectLogic().process(node, modelPath=tiny_bundle_path, inputROINode=unplaced)
    with pytest.raises(AnomalyDetectError, match="not both"):
        module.AnomalyDetectLogic().process(node, modelPath=tiny_bundle_path, landmarkModelPath=plumbing_landmark_bundle_path,
                                            roiBetween=("first", "second"), inputROINode=roi)


def test_landmarks_only_writes_the_point_list_and_keeps_other_outputs(slicer_module, scene, tiny_bundle_path,
                                                                       plumbing_landmark_bundle_path):
    from AnomalyDetectLib.errors import BundleError

    slicer, module = slicer_module
    logic = module.AnomalyDetectLogic()
    node, _, _ = _input_node(slicer, module)
    earlier = logic.process(node, modelPath=tiny_bundle_path, device="cpu")
    before = _outputs(scene)
    with pytest.raises(BundleError, match="not a landmark detector"):
        logic.detectLandmarks(node, tiny_bundle_path, device="cpu")
    assert _outputs(scene) == before
    landmarks, markups = logic.detectLandmarks(node, plumbing_landmark_bundle_path, device="cpu")
    assert _outputs(scene) == sorted(before + ["TestVolume landmarks"])
    assert markups.GetNumberOfControlPoints() == len(landmarks.found) == 2
    for index, landmark in enumerate(landmarks.found):
        position = [0.0, 0.0, 0.0]
        markups.GetNthControlPointPosition(index, position)
        np.testing.assert_allclose(position, landmark.ras, atol=1e-6)
        assert markups.GetNthControlPointLabel(index) == landmark.name
        assert markups.GetNthControlPointDescription(index) == f"confidence {landmark.confidence:.2f}"
    assert node.GetNodeReference("AnomalyDetectLandmarks") is markups and node.GetNodeReference("AnomalyDetectMap") is earlier.mapNode
    assert markups.GetTransformNodeID() == node.GetTransformNodeID() and scene.GetStates() == 0
    again, same = logic.detectLandmarks(node, plumbing_landmark_bundle_path, device="cpu")
    assert same is markups and same.GetNumberOfControlPoints() == 2 and _outputs(scene) == sorted(before + ["TestVolume landmarks"])


def test_the_segmentation_lies_on_the_map_in_world_coordinates_under_a_parent_transform(slicer_module, scene):
    # Slicer imports the labelmap through the Segmentations logic; with a rotated, shifted parent transform the
    # segment's voxels must land where the map's voxels above the threshold are, in world coordinates.
    slicer, module = slicer_module
    import vtk
    from AnomalyDetectSlicerLib import scene_outputs
    from vtk.util.numpy_support import vtk_to_numpy

    node, voxels, ijk_to_ras = _input_node(slicer, module)
    transform = np.eye(4)
    transform[:3, :3] = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    transform[:3, 3] = [20.0, -15.0, 9.0]
    node.GetParentTransformNode().SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(transform))
    anomaly_map = np.zeros(voxels.shape, np.float32)
    anomaly_map[3:6, 10:20, 5:15] = 1.0
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seg")
    assert scene_outputs.writeSegmentation(segmentation, node, anomaly_map, 0.5) == 300

    segmentId = segmentation.GetSegmentation().GetSegmentIdBySegmentName("anomaly")
    labelmap = segmentation.GetSegmentation().GetSegment(segmentId).GetRepresentation("Binary labelmap")
    matrix = vtk.vtkMatrix4x4()
    labelmap.GetImageToWorldMatrix(matrix)  # to the segmentation's own coordinates
    extent = labelmap.GetExtent()
    inside = vtk_to_numpy(labelmap.GetPointData().GetScalars()).reshape(
        extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1) > 0
    ijk = np.argwhere(inside)[:, ::-1] + [extent[0], extent[2], extent[4]]
    toWorld = vtk.vtkGeneralTransform()
    slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(segmentation.GetParentTransformNode(), None, toWorld)
    segment_world = np.array([toWorld.TransformPoint(p) for p in (np.c_[ijk, np.ones(len(ijk))] @ slicer.util.arrayFromVTKMatrix(matrix).T)[:, :3]])
    map_ijk = np.argwhere(anomaly_map > 0.5)[:, ::-1]
    map_world = (np.c_[map_ijk, np.ones(len(map_ijk))] @ (transform @ ijk_to_ras).T)[:, :3]
    np.testing.assert_allclose(np.sort(segment_world, axis=0), np.sort(map_world, axis=0), atol=1e-4)
