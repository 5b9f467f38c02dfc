"""Segmentations of the stand-in: vtkSegment, vtkSegmentation and the segmentation node with its display node.

Only the members listed here exist; anything else raises AttributeError, like calling a
method that Slicer's classes do not have. Each member names the Slicer header it mirrors
(paths in the Slicer/Slicer repository; vtkMRMLSegmentationNode.h checked at commit c299952,
vtkSegmentation.h at 5615e73, vtkSegment.h at 0290f72). Simplified: binary labelmap is the
only source representation; a segment's labelmap is a vtkImageData whose origin, spacing and
direction matrix (VTK 9) hold the geometry Slicer keeps in a vtkOrientedImageData; closed
surfaces are made without smoothing or decimation; no shared labelmaps, events or terminology.
"""

import numpy as np
import vtk
import vtk.util.numpy_support

from ._mirror import mirrors
from ._mrml_display_nodes import _getVector3, _vector3, vtkMRMLDisplayNode
from ._mrml_nodes import vtkMRMLDisplayableNode
from ._mrml_scene import _register

_CORE = "Libs/vtkSegmentationCore/"
BINARY_LABELMAP = "Binary labelmap"  # vtkSegmentationConverter::GetBinaryLabelmapRepresentationName()
CLOSED_SURFACE = "Closed surface"  # vtkSegmentationConverter::GetClosedSurfaceRepresentationName()


def _labelmapImage(narray, ijkToRAS):
    """A uint8 vtkImageData of ``narray`` (k, j, i) on the geometry of the 4x4 ``ijkToRAS``."""
    image = vtk.vtkImageData()
    image.SetDimensions(tuple(reversed(narray.shape)))
    spacing = np.linalg.norm(ijkToRAS[:3, :3], axis=0)
    direction = vtk.vtkMatrix3x3()
    direction.DeepCopy([float(value) for value in (ijkToRAS[:3, :3] / spacing).ravel()])
    image.SetSpacing(*spacing)
    image.SetOrigin(*ijkToRAS[:3, 3])
    image.SetDirectionMatrix(direction)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    _voxels(image)[:] = narray
    return image


def _voxels(image):
    return vtk.util.numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(tuple(reversed(image.GetDimensions())))


def _ijkToRAS(image):
    return np.array([[image.GetIndexToPhysicalMatrix().GetElement(r, c) for c in range(4)] for r in range(4)])


def _resample(image, shape, ijkToRAS):
    """Nearest-neighbour resampling of a labelmap image onto a (k, j, i) grid (0 outside the image)."""
    output = np.zeros(shape, dtype=np.uint8)
    if image is None or image.GetNumberOfPoints() == 0:
        return output
    source, sourceIJKToRAS = _voxels(image), _ijkToRAS(image)
    if source.shape == tuple(shape) and np.allclose(sourceIJKToRAS, ijkToRAS):
        output[:] = source
        return output
    targetToSource = np.linalg.inv(sourceIJKToRAS) @ ijkToRAS
    j, i = np.meshgrid(np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    for k in range(shape[0]):  # one slice at a time keeps memory small
        ijk = np.stack([i.ravel(), j.ravel(), np.full(i.size, k), np.ones(i.size)])
        si, sj, sk = np.rint(targetToSource[:3] @ ijk).astype(np.int64)
        inside = (si >= 0) & (si < source.shape[2]) & (sj >= 0) & (sj < source.shape[1]) & (sk >= 0) & (sk < source.shape[0])
        values = np.zeros(i.size, dtype=np.uint8)
        values[inside] = source[sk[inside], sj[inside], si[inside]]
        output[k] = values.reshape(i.shape)
    return output


@mirrors(_CORE + "vtkSegment.h (class vtkSegment : public vtkObject)")
class vtkSegment:
    def __init__(self):
        self._name = None
        self._color = (0.5, 0.5, 0.5)  # vtkSegment::SEGMENT_COLOR_INVALID
        self._labelValue = 1
        self._representations = {}

    @mirrors(_CORE + "vtkSegment.h: vtkGetStringMacro(Name)")
    def GetName(self):
        return self._name

    @mirrors(_CORE + "vtkSegment.h: vtkSetStringMacro(Name)")
    def SetName(self, name):
        self._name = None if name is None else str(name)

    @mirrors(_CORE + "vtkSegment.h: vtkGetVector3Macro(Color, double)")
    def GetColor(self, color=None):
        return _getVector3(self._color, color)

    @mirrors(_CORE + "vtkSegment.h: vtkSetVector3Macro(Color, double)")
    def SetColor(self, *color):
        self._color = _vector3(color)

    @mirrors(_CORE + "vtkSegment.h: vtkGetMacro(LabelValue, int)")
    def GetLabelValue(self):
        return self._labelValue

    @mirrors(_CORE + "vtkSegment.h: vtkDataObject* GetRepresentation(std::string name) (None if not present)")
    def GetRepresentation(self, name):
        return self._representations.get(name)

    @mirrors(_CORE + "vtkSegment.h: bool AddRepresentation(std::string type, vtkDataObject* representation) (true if changed)")
    def AddRepresentation(self, type, representation):
        changed = self._representations.get(type) is not representation
        self._representations[type] = representation
        return changed

    @mirrors(_CORE + "vtkSegment.h: bool RemoveRepresentation(std::string name) (true if there was one)")
    def RemoveRepresentation(self, name):
        return self._representations.pop(name, None) is not None


@mirrors(_CORE + "vtkSegmentation.h (class vtkSegmentation : public vtkObject)")
class vtkSegmentation:
    def __init__(self):
        self._segments = {}  # ID -> vtkSegment
        self._segmentIds = []  # display order
        self._segmentIdAutogeneratorIndex = 0

    def _generateUniqueSegmentID(self, id):
        # vtkSegmentation::GenerateUniqueSegmentID (vtkSegmentation.cxx): "Segment_1", "Segment_2", ...
        if id and id not in self._segments:
            return id
        id = id or "Segment"
        while True:
            self._segmentIdAutogeneratorIndex += 1
            candidate = f"{id}_{self._segmentIdAutogeneratorIndex}"
            if candidate not in self._segments:
                return candidate

    @mirrors(
        _CORE + "vtkSegmentation.h: std::string AddEmptySegment(std::string segmentId=\"\", std::string segmentName=\"\", "
        "double color[3]=nullptr) (returns the ID; the name defaults to the ID)"
    )
    def AddEmptySegment(self, segmentId="", segmentName="", color=None):
        segment = vtkSegment()
        if color is not None:
            segment.SetColor(color)
        segmentId = self._generateUniqueSegmentID(segmentId)
        segment.SetName(segmentName or segmentId)
        segment.AddRepresentation(BINARY_LABELMAP, vtk.vtkImageData())  # empty labelmap of the source representation
        self._segments[segmentId] = segment
        self._segmentIds.append(segmentId)
        return segmentId

    @mirrors(_CORE + "vtkSegmentation.h: vtkSegment* GetSegment(std::string segmentId) (None if not found)")
    def GetSegment(self, segmentId):
        return self._segments.get(segmentId)

    @mirrors(_CORE + "vtkSegmentation.h: int GetNumberOfSegments() const")
    def GetNumberOfSegments(self):
        return len(self._segmentIds)

    @mirrors(_CORE + "vtkSegmentation.h: std::string GetNthSegmentID(unsigned int index) const (\"\" if there is none)")
    def GetNthSegmentID(self, index):
        return self._segmentIds[index] if 0 <= index < len(self._segmentIds) else ""

    @mirrors(_CORE + "vtkSegmentation.h: vtkSegment* GetNthSegment(unsigned int index) const")
    def GetNthSegment(self, index):
        return self._segments.get(self.GetNthSegmentID(index))

    @mirrors(_CORE + "vtkSegmentation.h: void GetSegmentIDs(vtkStringArray* segmentIds) (python compatibility overload)")
    def GetSegmentIDs(self, segmentIds):
        segmentIds.Reset()
        for segmentId in self._segmentIds:
            segmentIds.InsertNextValue(segmentId)

    @mirrors(
        _CORE + "vtkSegmentation.h: std::string GetSegmentIdBySegmentName(std::string name) "
        "(case-insensitive, first match, \"\" if not found)"
    )
    def GetSegmentIdBySegmentName(self, name):
        for segmentId in self._segmentIds:
            segmentName = self._segments[segmentId].GetName() or ""
            if segmentName.lower() == str(name).lower():
                return segmentId
        return ""

    @mirrors(_CORE + "vtkSegmentation.h: void RemoveSegment(std::string segmentId)")
    def RemoveSegment(self, segmentId):
        if segmentId in self._segments:
            del self._segments[segmentId]
            self._segmentIds.remove(segmentId)

    @mirrors(_CORE + "vtkSegmentation.h: void RemoveAllSegments()")
    def RemoveAllSegments(self):
        self._segments.clear()
        self._segmentIds.clear()


@_register
@mirrors("Libs/MRML/Core/vtkMRMLSegmentationDisplayNode.h (class vtkMRMLSegmentationDisplayNode : public vtkMRMLDisplayNode)")
class vtkMRMLSegmentationDisplayNode(vtkMRMLDisplayNode):
    @mirrors("Libs/MRML/Core/vtkMRMLSegmentationDisplayNode.h: GetNodeTagName() returns \"SegmentationDisplay\"")
    def GetNodeTagName(self):
        return "SegmentationDisplay"


@_register
@mirrors("Libs/MRML/Core/vtkMRMLSegmentationNode.h (class vtkMRMLSegmentationNode : public vtkMRMLDisplayableNode)")
class vtkMRMLSegmentationNode(vtkMRMLDisplayableNode):
    def __init__(self):
        super().__init__()
        self._segmentation = vtkSegmentation()

    @mirrors("Libs/MRML/Core/vtkMRMLSegmentationNode.h: GetNodeTagName() returns \"Segmentation\"")
    def GetNodeTagName(self):
        return "Segmentation"

    @mirrors("Libs/MRML/Core/vtkMRMLSegmentationNode.h: static std::string GetReferenceImageGeometryReferenceRole()")
    @staticmethod  # mirrors() outermost: the class holds the staticmethod object
    def GetReferenceImageGeometryReferenceRole():
        return "referenceImageGeometryRef"

    @mirrors("Libs/MRML/Core/vtkMRMLSegmentationNode.h: vtkGetObjectMacro(Segmentation, vtkSegmentation)")
    def GetSegmentation(self):
        return self._segmentation

    @mirrors(
        "Libs/MRML/Core/vtkMRMLSegmentationNode.h: virtual void SetReferenceImageGeometryParameterFromVolumeNode("
        "vtkMRMLScalarVolumeNode* volumeNode) (nothing without image data; keeps a reference to the volume)"
    )
    def SetReferenceImageGeometryParameterFromVolumeNode(self, volumeNode):
        if volumeNode is None or volumeNode.GetImageData() is None:
            return
        self.SetNodeReferenceID(self.GetReferenceImageGeometryReferenceRole(), volumeNode.GetID())

    @mirrors(
        "Libs/MRML/Core/vtkMRMLSegmentationNode.h: void CreateDefaultDisplayNodes() override "
        "(vtkMRMLSegmentationNode.cxx: adds a vtkMRMLSegmentationDisplayNode unless one exists)"
    )
    def CreateDefaultDisplayNodes(self):
        node = self.GetDisplayNode()
        if node is not None and node.IsA("vtkMRMLSegmentationDisplayNode"):
            return
        if self._scene is None:
            return  # Slicer logs "Scene is invalid" and returns
        displayNode = self._scene.AddNewNodeByClass("vtkMRMLSegmentationDisplayNode")
        self.SetAndObserveDisplayNodeID(displayNode.GetID())

    @mirrors(
        "Libs/MRML/Core/vtkMRMLSegmentationNode.h: virtual vtkOrientedImageData* GetBinaryLabelmapInternalRepresentation("
        "const std::string segmentId) (a vtkImageData with direction matrix here; None for an unknown segment)"
    )
    def GetBinaryLabelmapInternalRepresentation(self, segmentId):
        segment = self._segmentation.GetSegment(segmentId)
        return None if segment is None else segment.GetRepresentation(BINARY_LABELMAP)

    @mirrors(
        "Libs/MRML/Core/vtkMRMLSegmentationNode.h: virtual bool CreateClosedSurfaceRepresentation() "
        "(discrete flying edges on each segment's labelmap, in RAS; no smoothing or decimation in the stand-in)"
    )
    def CreateClosedSurfaceRepresentation(self):
        for segmentId in self._segmentation._segmentIds:
            segment = self._segmentation.GetSegment(segmentId)
            surface = vtk.vtkPolyData()
            image = segment.GetRepresentation(BINARY_LABELMAP)
            if image is not None and image.GetNumberOfPoints() > 0:
                indexImage = vtk.vtkImageData()
                indexImage.ShallowCopy(image)
                indexImage.SetOrigin(0.0, 0.0, 0.0)
                indexImage.SetSpacing(1.0, 1.0, 1.0)
                indexImage.SetDirectionMatrix(vtk.vtkMatrix3x3())
                surfaceFilter = vtk.vtkDiscreteFlyingEdges3D()
                surfaceFilter.SetInputData(indexImage)
                surfaceFilter.SetValue(0, segment.GetLabelValue())
                transform = vtk.vtkTransform()
                transform.SetMatrix(image.GetIndexToPhysicalMatrix())
                toRAS = vtk.vtkTransformFilter()
                toRAS.SetInputConnection(surfaceFilter.GetOutputPort())
                toRAS.SetTransform(transform)
                toRAS.Update()
                surface.ShallowCopy(toRAS.GetOutput())
            segment.AddRepresentation(CLOSED_SURFACE, surface)
        return True

    @mirrors("Libs/MRML/Core/vtkMRMLSegmentationNode.h: virtual vtkPolyData* GetClosedSurfaceInternalRepresentation(const std::string segmentId)")
    def GetClosedSurfaceInternalRepresentation(self, segmentId):
        segment = self._segmentation.GetSegment(segmentId)
        return None if segment is None else segment.GetRepresentation(CLOSED_SURFACE)
