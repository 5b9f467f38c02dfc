"""Pictures of what the Slicer module gives a user, drawn by Slicer's own slice views (slicer-core, offscreen).

    python docs/render_slicer_outputs.py [--volume PATH] [--landmark-model PATH] [--out docs/images]

Loads the bundled sample FLAIR volume with Slicer's volumes logic and runs ``AnomalyDetectLogic.process``
as the panel's Apply does (bundled model, segmentation on), then ``showOutputs`` puts the input and the
map into the slice views at the module's opacity. Slicer's slice logic and displayable managers (the
slicer-core wheel; Testing/slicer_core_backend.py and slicer_core_views.py) draw three flagged axial
slices: the map in Inferno over the input, transparent under its threshold, and the segmentation's
outline. With a landmark model (default: the shipped head-and-neck CT model, which on this brain MR finds
what it finds) the landmarks are drawn as markups in the views through them.

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
GAP = 6


def run_module(volume_path, landmark_model=None):
    import slicer_core_backend

    slicer = slicer_core_backend.start()
    import AnomalyDetect

    node = slicer.util.loadVolume(volume_path)
    logic = AnomalyDetect.AnomalyDetectLogic()
    outputs = logic.process(node, device="cpu", landmarkModelPath=landmark_model, createSegmentation=True)
    print(logic.summaryText(outputs.result))
    logic.showOutputs(node, outputs)
    return slicer, logic, node, outputs


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
        paths = [view.savePNG(os.path.join(out_dir, "slicer_map_overlay.png"), _row(images))]
        print("map over slices", shown)
        markups = outputs.landmarksNode
        if markups is not None and markups.GetNumberOfControlPoints():
            images = []
            for index in range(min(3, markups.GetNumberOfControlPoints())):
                position = [0.0, 0.0, 0.0]
                markups.GetNthControlPointPositionWorld(index, position)
                view.jumpTo(position)
                images.append(view.render())
            paths.append(view.savePNG(os.path.join(out_dir, "slicer_landmarks.png"), _row(images)))
    finally:
        view.close()
    return paths


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
    parser.add_argument("--landmark-model", help="landmark bundle (default: the shipped head-and-neck CT model; 'none' for no landmarks)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    from AnomalyDetectLib.bundle import default_landmark_bundle_path

    landmark_model = None if args.landmark_model == "none" else (args.landmark_model or default_landmark_bundle_path())
    slicer, logic, node, outputs = run_module(args.volume, landmark_model)
    for path in render_views(slicer, logic, node, outputs, args.out) + [render_plot(slicer, outputs, args.out)]:
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
