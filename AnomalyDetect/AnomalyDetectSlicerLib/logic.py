"""Logic of the AnomalyDetect module: MRML nodes in, AnomalyDetectLib detection, MRML nodes out.

A thin adapter: it copies the input node into an AnomalyDetectLib ``Volume``, runs landmark
detection and anomaly detection there, and writes the results into the scene
(``scene_outputs``). The parts of AnomalyDetectLib that need torch or SimpleITK are imported
only inside functions, because torch may not be installed in Slicer's Python yet (see
``dependencies``); ``AnomalyDetectLib.defaults`` imports nothing.
"""

import logging

import slicer
from AnomalyDetectLib.defaults import ROI_MARGIN_MM
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic

from . import scene_outputs


class AnomalyDetectOutputs:
    """What :meth:`AnomalyDetectLogic.process` made.

    ``mapNode`` (scalar volume "<input> anomaly map"), ``tableNode`` ("<input> slice scores"),
    ``plotSeriesNode`` and ``plotChartNode`` (score vs slice), and when asked for
    ``landmarksNode`` (markups point list), ``roiNode`` (markups ROI) and ``segmentationNode``
    (thresholded map); None for outputs not made. ``result`` is the AnomalyDetectLib
    ``DetectionResult`` (slice_scores, flagged, volume_score, ...), ``landmarks`` the
    ``LandmarkResult`` or None.
    """

    def __init__(self, result, nodes, landmarks=None):
        self.result = result
        self.landmarks = landmarks
        self.mapNode = nodes.get("map")
        self.tableNode = nodes.get("table")
        self.plotSeriesNode = nodes.get("series")
        self.plotChartNode = nodes.get("chart")
        self.landmarksNode = nodes.get("landmarks")
        self.roiNode = nodes.get("roi")
        self.segmentationNode = nodes.get("segmentation")


class AnomalyDetectLogic(ScriptedLoadableModuleLogic):
    """Converts nodes to AnomalyDetectLib volumes, runs detection and writes the results to the scene.

    Usable without the widget (Python console, ``Slicer --no-main-window`` scripts, tests)::

        import AnomalyDetect
        logic = AnomalyDetect.AnomalyDetectLogic()
        volumeNode = slicer.util.loadVolume("/path/to/flair.nii.gz")
        outputs = logic.process(volumeNode)   # bundled model; modelPath="...", device="cpu" or "cuda"
        print(logic.summaryText(outputs.result))

    Uses ScriptedLoadableModuleLogic base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    MAP_REFERENCE_ROLE = scene_outputs.OUTPUTS["map"][0]
    TABLE_REFERENCE_ROLE = scene_outputs.OUTPUTS["table"][0]
    SOURCE_ATTRIBUTE = scene_outputs.SOURCE_ATTRIBUTE
    MAP_COLOR_NODE_ID = scene_outputs.MAP_COLOR_NODE_ID
    MAP_OPACITY = 0.5
    #: Share of the progress bar given to landmark detection when it runs.
    LANDMARK_SHARE = 0.3

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        from .parameters import AnomalyDetectParameterNode

        return AnomalyDetectParameterNode(super().getParameterNode())

    #: Volume classes derived from vtkMRMLScalarVolumeNode that hold no single-channel CT or MR image,
    #: with what to tell the user. In Slicer vector volumes derive from vtkMRMLTensorVolumeNode (so they
    #: come first), diffusion-tensor volumes from vtkMRMLTensorVolumeNode, and diffusion-weighted volumes
    #: directly from vtkMRMLScalarVolumeNode.
    NOT_IMAGE_VOLUMES = (
        ("vtkMRMLLabelMapVolumeNode", "a label map"),
        ("vtkMRMLVectorVolumeNode", "a vector (multi-component, e.g. colour) volume"),
        ("vtkMRMLTensorVolumeNode", "a tensor or diffusion volume"),
        ("vtkMRMLDiffusionWeightedVolumeNode", "a tensor or diffusion volume"),
    )

    @classmethod
    def notImageVolumeReason(cls, volumeNode):
        """What ``volumeNode`` is when it is not a plain scalar image the models can analyse, else None."""
        for className, description in cls.NOT_IMAGE_VOLUMES:
            if volumeNode.IsA(className):
                return description
        return None

    @classmethod
    def firstImageVolumeNode(cls):
        """The first plain scalar volume of the scene (no label map, vector, tensor or diffusion volume), or None."""
        for index in range(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
            node = slicer.mrmlScene.GetNthNodeByClass(index, "vtkMRMLScalarVolumeNode")
            if cls.notImageVolumeReason(node) is None:
                return node
        return None

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
    def defaultLandmarkModelPath():
        """Path of the shipped head-and-neck CT landmark model, or None when it is not installed."""
        try:
            from AnomalyDetectLib.bundle import default_landmark_bundle_path
            from AnomalyDetectLib.errors import AnomalyDetectError
        except ImportError:
            return None
        try:
            return default_landmark_bundle_path()
        except AnomalyDetectError:
            return None

    @staticmethod
    def describeModel(modelPath=None):
        """Several lines about a model bundle (None: the bundled one): method, modality, input, metrics, thresholds.

        Reads only the manifest. Raises ``AnomalyDetectLib.errors.BundleError`` naming the problem
        for a missing, corrupt or foreign file.
        """
        from AnomalyDetectLib import bundle as bundleLib

        path = modelPath or bundleLib.default_bundle_path()
        return "\n".join(bundleLib.model_card(bundleLib.read_manifest(path)))

    @staticmethod
    def modelThresholds(modelPath=None):
        """The bundle's calibrated thresholds: ``{"slice": ..., "map": ...}``."""
        from AnomalyDetectLib import bundle as bundleLib
        from AnomalyDetectLib.errors import BundleError

        path = modelPath or bundleLib.default_bundle_path()
        thresholds = bundleLib.read_spec(path).thresholds
        if thresholds.slice is None or thresholds.map is None:
            raise BundleError(f"'{path}' holds no calibrated thresholds; it is not an anomaly model.")
        return {"slice": float(thresholds.slice), "map": float(thresholds.map)}

    @staticmethod
    def landmarkNames(landmarkModelPath):
        """Names of the landmarks a landmark bundle finds."""
        from AnomalyDetectLib import bundle as bundleLib
        from AnomalyDetectLib.manifest import LANDMARKS

        return bundleLib.read_spec(landmarkModelPath).require_kind(LANDMARKS, landmarkModelPath).classes

    @staticmethod
    def volumeFromNode(volumeNode):
        """An AnomalyDetectLib Volume holding a copy of the node's voxels and its IJK→RAS matrix.

        The matrix is the node's own (parent transforms are not applied); outputs get the
        same parent transform, so they stay aligned with the input.
        """
        from AnomalyDetectLib.volume import Volume

        return Volume(
            voxels=slicer.util.arrayFromVolume(volumeNode).copy(),
            ijk_to_ras=slicer.util.arrayFromVTKMatrix(scene_outputs.inputMatrix(volumeNode)),
            name=volumeNode.GetName() or "volume",
        )

    def process(self, inputVolumeNode, modelPath=None, device="auto", sliceThreshold=None, landmarkModelPath=None, roiBetween=None,
                roiMargin=ROI_MARGIN_MM, createSegmentation=False, progress=None, shouldCancel=None, showResult=True, inputROINode=None,
                backend="auto"):
        """Detect anomalies in ``inputVolumeNode`` and add or update its output nodes.

        :param inputVolumeNode: vtkMRMLScalarVolumeNode to analyse (its voxels are not modified;
            it gains references to its outputs).
        :param modelPath: anomaly model bundle; None for the bundled default model.
        :param device: "auto", "cpu", "cuda" or "cuda:N".
        :param backend: "auto" (PyTorch when installed, else onnxruntime on the bundle's ONNX graph), "torch" or "onnx".
        :param sliceThreshold: flag slices above this score; None for the model's calibrated threshold.
        :param landmarkModelPath: landmark bundle; when given, landmarks are detected and written
            as a markups point list "<input> landmarks".
        :param roiBetween: two landmark names: analyse only slices between them (plus ``roiMargin``
            mm); the ROI is written as "<input> region of interest". Needs ``landmarkModelPath``.
        :param inputROINode: a vtkMRMLMarkupsROINode the user placed: analyse only what it covers
            (a rotated ROI counts as its axis-aligned bounding box in the input's coordinates).
            Not together with ``roiBetween``.
        :param createSegmentation: also write "<input> anomaly segmentation" (map above the
            model's map threshold).
        :param progress: called as ``progress(fraction, message)`` while running.
        :param shouldCancel: polled between batches; when it returns True,
            ``AnomalyDetectLib.errors.Cancelled`` is raised and the scene is left unchanged.
        :param showResult: with a main window, show the map over the input and the plot in the layout.
        :return: :class:`AnomalyDetectOutputs`.

        Nodes are created or changed only after detection succeeded; if writing them fails, the
        nodes this run created are removed. Re-running on the same input replaces the outputs;
        optional outputs (landmarks, ROI, segmentation) of an earlier run that this run does not
        make are removed, so what the scene shows always belongs to one run.
        """
        from AnomalyDetectLib import bundle as bundleLib
        from AnomalyDetectLib.errors import AnomalyDetectError
        from AnomalyDetectLib.pipeline import Detector

        if inputVolumeNode is None or not inputVolumeNode.IsA("vtkMRMLScalarVolumeNode") or inputVolumeNode.GetImageData() is None:
            raise AnomalyDetectError(_("Select an input scalar volume that holds image data."))
        # IsA("vtkMRMLScalarVolumeNode") also holds for these subclasses.
        reason = self.notImageVolumeReason(inputVolumeNode)
        if reason is not None:
            raise AnomalyDetectError(_("'{name}' is {kind}; select a single-channel CT or MR image volume.").format(
                name=inputVolumeNode.GetName(), kind=reason))
        if roiBetween and not landmarkModelPath:
            raise AnomalyDetectError("A region between two landmarks needs a landmark model to find them.")
        if roiBetween and inputROINode is not None:
            raise AnomalyDetectError("Give one region of interest: either two landmarks or your own ROI, not both.")
        userRegion = self.regionFromROINode(inputVolumeNode, inputROINode) if inputROINode is not None else None
        report = progress or (lambda fraction, message: None)

        volume = self.volumeFromNode(inputVolumeNode)
        bundle = bundleLib.load_bundle(modelPath or bundleLib.default_bundle_path())
        detector = Detector.from_bundle(bundle, device, backend)  # checks the model kind before the long work
        landmarks = region = None
        share = 0.0
        if landmarkModelPath:
            from AnomalyDetectLib.landmark_detection import landmarks_and_roi

            share = self.LANDMARK_SHARE
            landmarkBundle = bundleLib.load_bundle(landmarkModelPath)
            landmarks, region = landmarks_and_roi(volume, landmarkBundle, roiBetween, float(roiMargin), device,
                                                  lambda f, m: report(share * f, m), shouldCancel, backend=backend)
        detectionRegion = region or userRegion  # the user's own ROI is in the scene already: only a landmark region is written
        logging.info(f"AnomalyDetect: analysing '{volume.name}' {volume.shape} with '{bundle.path}'")
        result = detector.run(volume, lambda f, m: report(share + (1.0 - share) * f, m), shouldCancel, roi=detectionRegion)
        if sliceThreshold is not None:
            result = result.with_slice_threshold(sliceThreshold)

        if inputVolumeNode.GetScene() is None:
            raise AnomalyDetectError(f"The input volume '{volume.name}' was removed from the scene while it was being analysed.")
        nodes = self._writeOutputs(inputVolumeNode, volume, result, landmarks, region, createSegmentation)
        outputs = AnomalyDetectOutputs(result, nodes, landmarks)
        if showResult and slicer.util.mainWindow() is not None:
            self.showOutputs(inputVolumeNode, outputs)
        logging.info("AnomalyDetect: " + self.summaryText(result))
        return outputs

    def detectLandmarks(self, inputVolumeNode, landmarkModelPath=None, device="auto", progress=None, shouldCancel=None):
        """Detect landmarks only (no anomaly model) and add or update the point list "<input> landmarks".

        :param landmarkModelPath: landmark bundle; None for the shipped head-and-neck CT model.
        :return: (``LandmarkResult``, the markups point list node). One control point per landmark
            found (label = name, description = confidence); absent landmarks are not placed.
            Other outputs of an earlier anomaly run on this input are left as they are.
        """
        from AnomalyDetectLib import bundle as bundleLib
        from AnomalyDetectLib.errors import AnomalyDetectError
        from AnomalyDetectLib.landmark_detection import LandmarkDetector

        if inputVolumeNode is None or not inputVolumeNode.IsA("vtkMRMLScalarVolumeNode") or inputVolumeNode.GetImageData() is None:
            raise AnomalyDetectError("Select an input scalar volume that holds image data.")
        detector = LandmarkDetector.from_bundle(bundleLib.load_bundle(landmarkModelPath or bundleLib.default_landmark_bundle_path()), device)
        volume = self.volumeFromNode(inputVolumeNode)
        landmarks = detector.detect(volume, progress=progress, should_cancel=shouldCancel)
        if inputVolumeNode.GetScene() is None:
            raise AnomalyDetectError(f"The input volume '{volume.name}' was removed from the scene while it was being analysed.")
        writer = scene_outputs.OutputWriter(inputVolumeNode)
        slicer.mrmlScene.StartState(slicer.mrmlScene.BatchProcessState)
        try:
            node = writer.node("landmarks")
            try:
                scene_outputs.writeLandmarks(node, landmarks)
                self._followTransform(node, inputVolumeNode)
            except Exception:
                writer.rollback()
                raise
            role = scene_outputs.OUTPUTS["landmarks"][0]
            inputVolumeNode.SetNodeReferenceID(role, node.GetID())
        finally:
            slicer.mrmlScene.EndState(slicer.mrmlScene.BatchProcessState)
        logging.info(f"AnomalyDetect: {len(landmarks.found)} landmarks found in '{volume.name}'; absent: {', '.join(landmarks.absent) or 'none'}")
        return landmarks, node

    def _writeOutputs(self, inputVolumeNode, volume, result, landmarks, region, createSegmentation):
        writer = scene_outputs.OutputWriter(inputVolumeNode)
        nodes = {}
        # One batch: views and widgets update once at the end, and Slicer's markups logic does not
        # make the new landmark list or ROI the active place node (it skips that while batch processing),
        # so the user's next point still goes where it went before.
        slicer.mrmlScene.StartState(slicer.mrmlScene.BatchProcessState)
        try:
            self._writeOutputNodes(writer, nodes, inputVolumeNode, volume, result, landmarks, region, createSegmentation)
        finally:
            slicer.mrmlScene.EndState(slicer.mrmlScene.BatchProcessState)
        return nodes

    def _writeOutputNodes(self, writer, nodes, inputVolumeNode, volume, result, landmarks, region, createSegmentation):
        try:
            nodes["map"] = writer.node("map")
            scene_outputs.writeMap(nodes["map"], inputVolumeNode, result.anomaly_map, result.map_threshold)
            nodes["table"] = writer.node("table")
            scene_outputs.writeTable(nodes["table"], volume.slice_positions_mm(), result)
            nodes["series"], nodes["chart"] = writer.node("series"), writer.node("chart")
            scene_outputs.writePlot(nodes["series"], nodes["chart"], nodes["table"], writer.inputName, result.slice_threshold)
            if landmarks is not None:
                nodes["landmarks"] = writer.node("landmarks")
                scene_outputs.writeLandmarks(nodes["landmarks"], landmarks)
                self._followTransform(nodes["landmarks"], inputVolumeNode)
            if region is not None:
                nodes["roi"] = writer.node("roi")
                scene_outputs.writeROI(nodes["roi"], region, volume)
                self._followTransform(nodes["roi"], inputVolumeNode)
            if createSegmentation:
                nodes["segmentation"] = writer.node("segmentation")
                scene_outputs.writeSegmentation(nodes["segmentation"], inputVolumeNode, result.anomaly_map, result.map_threshold)
        except Exception:
            writer.rollback()
            raise
        writer.removeStale(key for key in ("landmarks", "roi", "segmentation") if key not in nodes)
        writer.link(nodes)

    @staticmethod
    def regionFromROINode(inputVolumeNode, roiNode):
        """The ``RegionOfInterest`` (in the input's own RAS coordinates) that a markups ROI covers."""
        import numpy as np
        from AnomalyDetectLib.errors import AnomalyDetectError
        from AnomalyDetectLib.roi import RegionOfInterest

        if not roiNode.IsA("vtkMRMLMarkupsROINode"):
            raise AnomalyDetectError(f"'{roiNode.GetName()}' is not a markups ROI.")
        size = list(roiNode.GetSize())  # VTK wraps vtkGetVector3Macro's getter as a tuple, without an output argument
        if not all(np.isfinite(size)) or min(size) <= 0:
            raise AnomalyDetectError(f"The ROI '{roiNode.GetName()}' has no extent yet (size {tuple(size)}); place it or give it a size first.")
        bounds = [0.0] * 6
        roiNode.GetRASBounds(bounds)  # world coordinates, axis-aligned
        corners = []
        for x in bounds[0:2]:
            for y in bounds[2:4]:
                for z in bounds[4:6]:
                    local = [0.0, 0.0, 0.0]
                    inputVolumeNode.TransformPointFromWorld([x, y, z], local)  # undo the input's parent transform
                    corners.append(local)
        corners = np.asarray(corners)
        return RegionOfInterest.box(corners.min(axis=0), corners.max(axis=0), source=f"markups ROI '{roiNode.GetName()}'")

    @staticmethod
    def _followTransform(node, inputVolumeNode):
        node.SetAndObserveTransformNodeID(inputVolumeNode.GetTransformNodeID())

    def showOutputs(self, inputVolumeNode, outputs):
        """Map over the input in the slice views and the score plot in the layout (needs a main window)."""
        slicer.util.setSliceViewerLayers(background=inputVolumeNode, foreground=outputs.mapNode, foregroundOpacity=self.MAP_OPACITY)
        slicer.modules.plots.logic().ShowChartInLayout(outputs.plotChartNode)

    def jumpToSlice(self, inputVolumeNode, sliceIndex):
        """Centre the slice views on the centre of slice ``sliceIndex`` (k) of the input (world coordinates)."""
        dimensions = inputVolumeNode.GetImageData().GetDimensions()
        if not 0 <= int(sliceIndex) < dimensions[2]:
            raise IndexError(f"Slice {sliceIndex} is outside '{inputVolumeNode.GetName()}' (0..{dimensions[2] - 1}).")
        ijk = [(dimensions[0] - 1) / 2.0, (dimensions[1] - 1) / 2.0, float(sliceIndex), 1.0]
        local = scene_outputs.inputMatrix(inputVolumeNode).MultiplyPoint(ijk)[:3]
        world = [0.0, 0.0, 0.0]
        inputVolumeNode.TransformPointToWorld(list(local), world)
        slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, world[0], world[1], world[2],
                                              slicer.vtkMRMLSliceNode.CenteredJumpSlice)
        return world

    @staticmethod
    def summaryText(result):
        """One line: volume score, threshold, flagged slices (and skipped ones), time; and whether the masked (skull-stripped) profile scored it."""
        flagged = result.flagged_slices
        slices = len(result.slice_scores)
        if flagged:
            shown = ", ".join(str(k) for k in flagged[:12]) + (", ..." if len(flagged) > 12 else "")
            flaggedText = f"{len(flagged)} of {slices} slices flagged (k = {shown})"
        else:
            flaggedText = f"no slice of {slices} flagged"
        skipped = 0 if result.skipped is None else int(result.skipped.sum())
        skippedText = f"; {skipped} outside the region of interest" if skipped else ""
        seconds = result.timings.get("total")
        timeText = f" in {seconds:.1f} s" if seconds is not None else ""
        maskedText = " Skull-stripped (masked) volume: scored with the model's profile for such volumes." if result.profile == "masked" else ""
        return (f"Volume score {result.volume_score:.3g} (slice threshold {result.slice_threshold:.3g}); "
                f"{flaggedText}{skippedText}{timeText}.{maskedText}")
