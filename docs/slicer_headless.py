"""Run AnomalyDetect inside 3D Slicer without its window, for batch work and servers.

    Slicer --no-main-window --additional-module-paths /path/to/AnomalyDetect \\
        --python-script docs/slicer_headless.py INPUT OUTPUT_FOLDER [MODEL_BUNDLE]

Loads INPUT (anything Slicer reads: NIfTI, NRRD, a DICOM file's series...), runs the module's
logic with the bundled model (or MODEL_BUNDLE), writes ``<name>_anomaly_map.nrrd`` and
``<name>_slice_scores.csv`` into OUTPUT_FOLDER, prints the verdict and exits with status 0, or
prints the error and exits with 1.
"""

import os
import sys

import slicer


def main(arguments):
    if len(arguments) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    inputPath, outputFolder = arguments[0], arguments[1]
    modelPath = arguments[2] if len(arguments) == 3 else None
    import AnomalyDetect

    volumeNode = slicer.util.loadVolume(inputPath)
    logic = AnomalyDetect.AnomalyDetectLogic()
    outputs = logic.process(volumeNode, modelPath=modelPath, progress=lambda fraction, message: print(f"{100 * fraction:3.0f}% {message}"))
    os.makedirs(outputFolder, exist_ok=True)
    name = volumeNode.GetName()
    for node, fileName in ((outputs.mapNode, f"{name}_anomaly_map.nrrd"), (outputs.tableNode, f"{name}_slice_scores.csv")):
        if not slicer.util.saveNode(node, os.path.join(outputFolder, fileName)):
            raise RuntimeError(f"Could not write {os.path.join(outputFolder, fileName)}")
    print(logic.summaryText(outputs.result))
    return 0


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except Exception as error:  # report and exit non-zero rather than leave Slicer running
        print(f"AnomalyDetect failed: {error}", file=sys.stderr)
        status = 1
    slicer.util.exit(status)
