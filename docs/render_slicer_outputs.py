"""Pictures of what the Slicer module gives a user, from a real run of its logic on a real volume.

    python docs/render_slicer_outputs.py [--volume PATH] [--landmark-model PATH] [--out docs/images]

Runs ``AnomalyDetectLogic.process`` exactly as the panel's Apply does, but in the CI stand-in of
Slicer's API (Testing/slicer_standin; Slicer itself cannot run on our machines), on the bundled
sample FLAIR volume with the bundled model. Then it draws, from the nodes the module wrote (not
from AnomalyDetectLib directly), what Slicer's views would show: the map node as a heat-map
overlay at the module's opacity, transparent under its display threshold, on three slices, and
the score table node as the plot chart's series. These are renderings in the style of Slicer's
views, not screenshots of Slicer.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (os.path.join(ROOT, "AnomalyDetect"), os.path.join(ROOT, "Testing", "slicer_standin")):
    sys.path.insert(0, path)

import numpy as np  # noqa: E402


def run_module(volume_path, landmark_model=None):
    import slicer
    from AnomalyDetectLib.volume import read_volume

    import AnomalyDetect

    volume = read_volume(volume_path)
    node = slicer.util.addVolumeFromArray(volume.voxels, ijkToRAS=volume.ijk_to_ras, name=volume.name)
    logic = AnomalyDetect.AnomalyDetectLogic()
    outputs = logic.process(node, device="cpu", landmarkModelPath=landmark_model)
    print(logic.summaryText(outputs.result))
    return slicer, node, outputs


def render(slicer, node, outputs, out_dir):
    import matplotlib

    import AnomalyDetect

    matplotlib.use("Agg")
    opacity = AnomalyDetect.AnomalyDetectLogic.MAP_OPACITY  # the foreground opacity the module sets
    import matplotlib.pyplot as plt

    image = slicer.util.arrayFromVolume(node).astype(float)
    anomaly = slicer.util.arrayFromVolume(outputs.mapNode)
    display = outputs.mapNode.GetScalarVolumeDisplayNode()
    low, high = display.GetWindowLevelMin(), display.GetWindowLevelMax()
    threshold = display.GetLowerThreshold()
    table = {name: slicer.util.arrayFromTableColumn(outputs.tableNode, name) for name in ("slice", "score", "flagged", "skipped")}
    flagged = np.flatnonzero(table["flagged"])
    order = flagged[np.argsort(-table["score"][flagged])] if len(flagged) else np.argsort(-table["score"])
    shown = sorted(order[:3])

    figure, axes = plt.subplots(1, len(shown), figsize=(3.3 * len(shown), 3.6), facecolor="black")
    for axis, k in zip(np.atleast_1d(axes), shown):
        background = image[k]
        lo, hi = np.percentile(background, [1, 99.5])
        axis.imshow(background, cmap="gray", vmin=lo, vmax=hi)
        overlay = np.ma.masked_less(anomaly[k], threshold)  # under the display threshold: transparent
        axis.imshow(overlay, cmap="inferno", vmin=low, vmax=high, alpha=opacity)
        axis.set_title(f"slice {k}: score {table['score'][k]:.0f}" + (" (flagged)" if table["flagged"][k] else ""), color="white", fontsize=9)
        axis.axis("off")
    figure.suptitle(f"{node.GetName()} with '{outputs.mapNode.GetName()}' over it", color="white", fontsize=10)
    figure.tight_layout()
    overlay_path = os.path.join(out_dir, "slicer_map_overlay.png")
    figure.savefig(overlay_path, dpi=110, facecolor="black")
    plt.close(figure)

    chart = outputs.plotChartNode
    figure, axis = plt.subplots(figsize=(6.4, 3.0))
    axis.plot(table["slice"], table["score"], "o", color=(0.9, 0.35, 0.1), markersize=4, label=outputs.plotSeriesNode.GetName())
    axis.plot(table["slice"][flagged], table["score"][flagged], "o", markersize=8, markerfacecolor="none", markeredgecolor="crimson",
              label="flagged (listed in the panel)")
    axis.axhline(outputs.result.slice_threshold, color="grey", linestyle="--", linewidth=1, label="slice threshold")
    axis.set_xlabel(chart.GetXAxisTitle())
    axis.set_ylabel(chart.GetYAxisTitle())
    axis.set_title(chart.GetTitle(), fontsize=9)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    plot_path = os.path.join(out_dir, "slicer_score_plot.png")
    figure.savefig(plot_path, dpi=110)
    plt.close(figure)
    return overlay_path, plot_path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volume", default=os.path.join(ROOT, "AnomalyDetect", "Resources", "Samples", "TCGA_DU_7304_19930325_flair.nii.gz"))
    parser.add_argument("--landmark-model")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images"))
    args = parser.parse_args()
    slicer, node, outputs = run_module(args.volume, args.landmark_model)
    for path in render(slicer, node, outputs, args.out):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
