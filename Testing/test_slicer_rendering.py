"""What Slicer's slice view draws from the module's outputs: real rendering by Slicer core, offscreen.

The map's display node is set up by the module (``scene_outputs.writeMap``) and the layers by its
``showOutputs`` (``setSliceViewerLayers`` at ``MAP_OPACITY``); Slicer's slice logic blends them and the
pixels are read back (Testing/slicer_core_views.py). Inside the lesion a pixel must be the Inferno
colour of its map value blended over the grey background at the module's opacity; outside (map under
its threshold) the background alone.
"""

import types

import numpy as np
import pytest


@pytest.fixture
def view(slicer_module, scene):
    from slicer_core_views import OffscreenSliceView

    slicer, _module = slicer_module
    instance = OffscreenSliceView(slicer, "Red", (200, 200))
    yield instance
    instance.close()


def test_the_colour_tables_are_slicers_file_tables(slicer_module, scene):
    slicer, module = slicer_module
    from matplotlib import colormaps

    inferno = scene.GetNodeByID(module.AnomalyDetectLogic.MAP_COLOR_NODE_ID)
    assert inferno is not None and inferno.GetName() == "Inferno" and inferno.GetNumberOfColors() == 256
    for index in (0, 128, 255):
        colour = [0.0] * 4
        inferno.GetColor(index, colour)
        expected = np.floor(255 * np.array(colormaps["inferno"].resampled(256)(index)[:3])) / 255
        np.testing.assert_allclose(colour[:3], expected, atol=1e-6)
    for name in ("Magma", "Plasma", "Viridis"):
        assert scene.GetNodeByID(f"vtkMRMLColorTableNodeFile{name}.txt") is not None


def test_the_map_shows_in_inferno_over_the_input_where_the_lesion_is(slicer_module, scene, view):
    slicer, module = slicer_module
    from AnomalyDetectSlicerLib import scene_outputs

    spacing = np.diag([1.0, 1.0, 2.0, 1.0])
    voxels = np.full((12, 60, 60), 200, np.int16)
    node = slicer.util.addVolumeFromArray(voxels, ijkToRAS=spacing, name="input")
    display = node.GetScalarVolumeDisplayNode()
    display.SetAutoWindowLevel(0)
    display.SetWindowLevelMinMax(0.0, 400.0)  # 200: mid grey
    anomaly = np.zeros(voxels.shape, np.float32)
    anomaly[4:8, 10:30, 30:50] = 0.8  # the lesion: j 10..29, i 30..49, slices 4..7
    anomaly[0, 0, 0] = 1.0  # map range 0..1
    mapNode = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "input anomaly map")
    scene_outputs.writeMap(mapNode, node, anomaly, 0.5)
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", "chart")
    module.AnomalyDetectLogic().showOutputs(node, types.SimpleNamespace(mapNode=mapNode, plotChartNode=chart))
    assert view.logic.GetSliceCompositeNode().GetForegroundVolumeID() == mapNode.GetID()
    view.show()
    view.jumpTo((spacing @ [0, 0, 6, 1])[:3])  # a slice through the lesion
    rgb = view.render().astype(float)

    def pixel(i, j):  # the view pixel at the centre of voxel (i, j) of the current slice
        x, y = view.rasToXY((spacing @ [i, j, 6, 1])[:3])
        return rgb[rgb.shape[0] - 1 - int(round(y)), int(round(x))]

    grey = pixel(10, 45)
    assert grey[0] == grey[1] == grey[2] and abs(grey[0] - 127.5) < 2, grey
    colour = [0.0] * 4
    scene.GetNodeByID(module.AnomalyDetectLogic.MAP_COLOR_NODE_ID).GetColor(int(round(0.8 * 255)), colour)
    opacity = module.AnomalyDetectLogic.MAP_OPACITY
    expected = (1 - opacity) * grey + opacity * 255 * np.array(colour[:3])
    inside = pixel(40, 20)
    np.testing.assert_allclose(inside, expected, atol=6)
    assert inside[0] > inside[2] + 60, "Inferno at 0.8 is orange: red well above blue"
    for i, j in [(5, 5), (55, 55), (25, 20), (40, 35)]:  # outside the lesion: the map is transparent
        np.testing.assert_array_equal(pixel(i, j), grey)


def test_landmarks_and_the_segmentation_are_drawn_by_slicers_displayable_managers(slicer_module, scene, view):
    slicer, _module = slicer_module
    from AnomalyDetectSlicerLib import scene_outputs

    voxels = np.full((10, 50, 50), 100, np.int16)
    node = slicer.util.addVolumeFromArray(voxels, name="input")
    view.show(background=node)
    view.jumpTo((0.0, 0.0, 5.0))
    before = view.render().astype(int)

    def changed(rgb, ras):
        x, y = view.rasToXY(ras)
        row, column = rgb.shape[0] - 1 - int(round(y)), int(round(x))
        return np.abs(rgb[row - 2:row + 3, column - 2:column + 3] - before[row - 2:row + 3, column - 2:column + 3]).max()

    landmarks = types.SimpleNamespace(found=[types.SimpleNamespace(name="point", ras=(10.0, 10.0, 5.0), confidence=0.9)])
    scene_outputs.writeLandmarks(scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "landmarks"), landmarks)
    anomaly = np.zeros(voxels.shape, np.float32)
    anomaly[3:8, 30:40, 30:40] = 1.0  # a box: voxel centres i, j = 30..39 at 1 mm
    scene_outputs.writeSegmentation(scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seg"), node, anomaly, 0.5)
    after = view.render().astype(int)
    # IJK to RAS of a volume made from an array is the identity: RAS (i, j, k) is voxel (i, j, k).
    assert changed(after, (10.0, 10.0, 5.0)) > 40, "the landmark's glyph is drawn at its position"
    assert changed(after, (29.5, 35.0, 5.0)) > 40, "the segment's outline is drawn at its border"
    assert changed(after, (20.0, 40.0, 5.0)) == 0 and changed(after, (45.0, 5.0, 5.0)) == 0, "nothing elsewhere"
