"""Pictures of what the Slicer module gives a user, drawn by Slicer's own slice views (slicer-core, offscreen).

    python docs/render_slicer_outputs.py [--volume PATH] [--landmark-volume PATH] [--landmark-model PATH] [--out docs/images]

Loads the bundled sample FLAIR volume with Slicer's volumes logic and runs ``AnomalyDetectLogic.process``
as the panel's Apply does (bundled model, segmentation on), then ``showOutputs`` puts the input and the
map into the slice views at the module's opacity. Slicer's slice logic and displayable managers (the
slicer-core wheel; Testing/slicer_core_backend.py and slicer_core_views.py) draw three flagged axial
slices: the map in Inferno over the input, transparent under its threshold, and the segmentation's
outline (slicer_map_overlay.png).

Landmarks (slicer_landmarks.png): the panel's landmarks-only path, ``AnomalyDetectLogic.detectLandmarks``,
runs the shipped head-and-neck CT landmark model on the median template CT of Testing/data (a brain MR
has none of its landmarks); the point list it writes is drawn by Slicer's markups displayable manager,
with its labels, in a sagittal, a coronal and an axial view, each through found landmarks (Slicer draws a
point in the slices within half a slice spacing of it), CT soft-tissue window.

Slicer's plot view (qMRMLPlotView) is Qt and not in the wheel: the score plot is drawn with matplotlib
from the table and chart nodes the module wrote.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "AnomalyDetect"), os.path.join(ROOT, "Testing")):
    sys.path.insert(0, path)

import numpy as np  # noqa: E402

VIEW_SIZE = (360, 360)
LANDMARK_VIEW_SIZE = (320, 320)
LANDMARK_FOV_MM = 260.0  # widest side of a landmark view: the template's neck, not its whole field of view
SOFT_TISSUE_WINDOW = (400.0, 40.0)  # CT window and level, HU
GAP = 6


def start_slicer():
    import slicer_core_backend

    return slicer_core_backend.start()


def run_module(slicer, volume_path):
    import AnomalyDetect

    node = slicer.util.loadVolume(volume_path)
    logic = AnomalyDetect.AnomalyDetectLogic()
    outputs = logic.process(node, device="cpu", createSegmentation=True)
    print(logic.summaryText(outputs.result))
    logic.showOutputs(node, outputs)
    return logic, node, outputs


def _row(images):
    height = max(image.shape[0] for image in images)
    gap = np.zeros((height, GAP, 3), np.uint8)
    parts = []
    for image in images:
        parts += [image, gap]
    return np.concatenate(parts[:-1], axis=1)


def render_views(slicer, logic, node, outputs, out_dir):
    from slicer_core_views import OffscreenSliceView

    table = {name: slicer.util.arrayFromTableColumn(outputs.tableNode, name) for name in ("slice", "score", "flagged")}
    flagged = np.flatnonzero(table["flagged"])
    order = flagged[np.argsort(-table["score"][flagged])] if len(flagged) else np.argsort(-table["score"])
    shown = sorted(int(k) for k in order[:3])
    view = OffscreenSliceView(slicer, "Red", VIEW_SIZE)
    try:
        view.show()  # layers as showOutputs set them (input, map at MAP_OPACITY)
        images = []
        for k in shown:
            view.jumpTo(logic.jumpToSlice(node, k))  # what a click on the flagged slice in the panel does
            images.append(view.render())
        path = view.savePNG(os.path.join(out_dir, "slicer_map_overlay.png"), _row(images))
        print("map over slices", shown)
    finally:
        view.close()
    return path


def run_landmarks(slicer, volume_path, landmark_model):
    """The panel's landmarks-only path: ``detectLandmarks`` with a landmark model and no anomaly model."""
    import AnomalyDetect

    node = slicer.util.loadVolume(volume_path)
    landmarks, markups = AnomalyDetect.AnomalyDetectLogic().detectLandmarks(node, landmark_model, device="cpu")
    if not markups.GetNumberOfControlPoints():
        raise RuntimeError(f"The landmark model found no landmark in '{volume_path}': nothing to draw.")
    print("landmarks found:", ", ".join(f"{p.name} ({p.confidence:.2f})" for p in landmarks.found))
    print("absent (under the model's minimum confidence):", ", ".join(landmarks.absent) or "none")
    reference = os.path.join(os.path.dirname(volume_path), os.path.basename(volume_path).split(".")[0] + "_landmarks.csv")
    if os.path.exists(reference):
        from AnomalyDetectLib.annotations import read_landmarks

        truth = {p.name: np.asarray(p.ras) for p in read_landmarks(reference)}
        errors = [f"{p.name} {np.linalg.norm(np.asarray(p.ras) - truth[p.name]):.1f}" for p in landmarks.found if p.name in truth]
        print("distance to the reference landmarks (mm):", ", ".join(errors))
    return node, markups


def _slice_distances(view, points):
    """Distance of each point from the view's slice, in slice spacings (Slicer draws a point when it is in [-0.5, 0.5))."""
    import vtk

    rasToXY = vtk.vtkMatrix4x4()
    vtk.vtkMatrix4x4.Invert(view.sliceNode.GetXYToRAS(), rasToXY)
    return np.array([rasToXY.MultiplyPoint([*p, 1.0])[2] for p in points])


def render_landmarks(slicer, node, markups, out_dir):
    """Sagittal, coronal and axial views, each through the landmark whose slice shows most landmarks not shown yet."""
    from slicer_core_views import OffscreenSliceView

    for other in slicer.util.getNodesByClass("vtkMRMLDisplayableNode"):  # e.g. the brain run's segmentation
        if other is not markups and (other.IsA("vtkMRMLSegmentationNode") or other.IsA("vtkMRMLMarkupsNode")):
            other.SetDisplayVisibility(False)
    display = node.GetScalarVolumeDisplayNode()
    display.SetAutoWindowLevel(0)
    display.SetWindowLevel(*SOFT_TISSUE_WINDOW)
    names, points = [], []
    for index in range(markups.GetNumberOfControlPoints()):
        position = [0.0, 0.0, 0.0]
        markups.GetNthControlPointPositionWorld(index, position)
        names.append(markups.GetNthControlPointLabel(index))
        points.append(position)
    shown, images = set(), []
    for viewName, orientation in (("Yellow", "Sagittal"), ("Green", "Coronal"), ("Red", "Axial")):
        view = OffscreenSliceView(slicer, viewName, LANDMARK_VIEW_SIZE)
        try:
            view.show(background=node, orientation=orientation)
            composite = view.logic.GetSliceCompositeNode()
            composite.SetForegroundVolumeID(None)
            composite.SetLabelVolumeID(None)
            fov = view.sliceNode.GetFieldOfView()
            scale = min(1.0, LANDMARK_FOV_MM / max(fov[0], fov[1]))  # zoom in on the centre, as fitted to the volume
            view.sliceNode.SetFieldOfView(fov[0] * scale, fov[1] * scale, fov[2])
            best = None
            for index, point in enumerate(points):
                view.jumpTo(point)
                distances = _slice_distances(view, points)
                inSlice = {names[i] for i in np.flatnonzero((distances >= -0.5) & (distances < 0.5))}
                key = (len(inSlice - shown), len(inSlice))
                if best is None or key > best[0]:
                    best = (key, index, inSlice)
            _, index, inSlice = best
            view.jumpTo(points[index])
            shown |= inSlice
            images.append(view.render())
            print(f"{orientation} view through {names[index]}: {', '.join(sorted(inSlice))}")
        finally:
            view.close()
    path = view.savePNG(os.path.join(out_dir, "slicer_landmarks.png"), _row(images))
    missing = sorted(set(names) - shown)
    if missing:
        print("not in any of the three slices:", ", ".join(missing))
    return path


def render_plot(slicer, outputs, out_dir):
    """The score plot from the chart and table nodes (matplotlib: Slicer's plot view needs Qt)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = {name: slicer.util.arrayFromTableColumn(outputs.tableNode, name) for name in ("slice", "score", "flagged")}
    flagged = np.flatnonzero(table["flagged"])
    chart, series = outputs.plotChartNode, outputs.plotSeriesNode
    figure, axis = plt.subplots(figsize=(6.4, 3.0))
    axis.plot(table["slice"], table["score"], "o", color=series.GetColor(), markersize=4, label=series.GetName())
    axis.plot(table["slice"][flagged], table["score"][flagged], "o", markersize=8, markerfacecolor="none", markeredgecolor="crimson",
              label="flagged (listed in the panel)")
    axis.axhline(outputs.result.slice_threshold, color="grey", linestyle="--", linewidth=1, label="slice threshold")
    axis.set_xlabel(chart.GetXAxisTitle())
    axis.set_ylabel(chart.GetYAxisTitle())
    axis.set_title(chart.GetTitle(), fontsize=9)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    path = os.path.join(out_dir, "slicer_score_plot.png")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volume", default=os.path.join(ROOT, "AnomalyDetect", "Resources", "Samples", "TCGA_DU_7304_19930325_flair.nii.gz"))
    parser.add_argument("--landmark-volume", default=os.path.join(ROOT, "Testing", "data", "head_neck_template.nii.gz"),
                        help="CT for the landmark picture (default: the head-and-neck median template of Testing/data)")
    parser.add_argument("--landmark-model", help="landmark bundle (default: the shipped head-and-neck CT model; 'none': no landmark picture)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    from AnomalyDetectLib.bundle import default_landmark_bundle_path

    slicer = start_slicer()
    logic, node, outputs = run_module(slicer, args.volume)
    paths = [render_views(slicer, logic, node, outputs, args.out), render_plot(slicer, outputs, args.out)]
    if args.landmark_model != "none":
        landmarkNode, markups = run_landmarks(slicer, args.landmark_volume, args.landmark_model or default_landmark_bundle_path())
        paths.append(render_landmarks(slicer, landmarkNode, markups, args.out))
    for path in paths:
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
