"""Markups nodes of the stand-in: point lists (fiducials) and ROI boxes, with their display nodes.

Only the members listed here exist; anything else raises AttributeError, like calling a
method that Slicer's MRML classes do not have. Each member names the Slicer header it
mirrors (paths in the Slicer/Slicer repository; vtkMRMLMarkupsNode.h checked at commit
5b35d72, which has the AddControlPoint(x, y, z, label) overload). Behaviour is simplified:
no events, no measurements, no curve; world coordinates go through the node's
TransformPointToWorld. Control points exist on point lists only (in Slicer every
markups node has them; the stand-in ROI is a box given by centre and size).
"""

import vtk

from ._mirror import mirrors
from ._mrml_display_nodes import _getVector3, _vector3, vtkMRMLDisplayNode
from ._mrml_nodes import vtkMRMLDisplayableNode
from ._mrml_scene import _register

_MARKUPS = "Modules/Loadable/Markups/MRML/"


@_register
@mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h (class vtkMRMLMarkupsDisplayNode : public vtkMRMLDisplayNode)")
class vtkMRMLMarkupsDisplayNode(vtkMRMLDisplayNode):
    def __init__(self):
        super().__init__()
        # vtkMRMLMarkupsDisplayNode.cxx constructor (commit b1e3bdf)
        self._color = (0.4, 1.0, 1.0)
        self._selectedColor = (1.0, 0.5, 0.5)
        self._textScale = 3.0
        self._glyphScale = 1.0
        self._glyphSize = 5.0
        self._pointLabelsVisibility = False

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: GetNodeTagName() returns \"MarkupsDisplay\"")
    def GetNodeTagName(self):
        return "MarkupsDisplay"

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: vtkSetMacro(TextScale,double)")
    def SetTextScale(self, textScale):
        self._textScale = float(textScale)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: vtkGetMacro(TextScale,double)")
    def GetTextScale(self):
        return self._textScale

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: vtkSetMacro(GlyphScale,double)")
    def SetGlyphScale(self, glyphScale):
        self._glyphScale = float(glyphScale)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: vtkGetMacro(GlyphScale,double)")
    def GetGlyphScale(self):
        return self._glyphScale

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: vtkSetMacro(GlyphSize,double)")
    def SetGlyphSize(self, glyphSize):
        self._glyphSize = float(glyphSize)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: vtkGetMacro(GlyphSize,double)")
    def GetGlyphSize(self):
        return self._glyphSize

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: vtkSetMacro(PointLabelsVisibility, bool)")
    def SetPointLabelsVisibility(self, pointLabelsVisibility):
        self._pointLabelsVisibility = bool(pointLabelsVisibility)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsDisplayNode.h: vtkGetMacro(PointLabelsVisibility, bool)")
    def GetPointLabelsVisibility(self):
        return self._pointLabelsVisibility


@_register
@mirrors(_MARKUPS + "vtkMRMLMarkupsFiducialDisplayNode.h (: public vtkMRMLMarkupsDisplayNode; point labels shown by default)")
class vtkMRMLMarkupsFiducialDisplayNode(vtkMRMLMarkupsDisplayNode):
    def __init__(self):
        super().__init__()
        self._pointLabelsVisibility = True

    @mirrors(_MARKUPS + "vtkMRMLMarkupsFiducialDisplayNode.h: GetNodeTagName() returns \"MarkupsFiducialDisplay\"")
    def GetNodeTagName(self):
        return "MarkupsFiducialDisplay"


@_register
@mirrors(_MARKUPS + "vtkMRMLMarkupsROIDisplayNode.h (class vtkMRMLMarkupsROIDisplayNode : public vtkMRMLMarkupsDisplayNode)")
class vtkMRMLMarkupsROIDisplayNode(vtkMRMLMarkupsDisplayNode):
    @mirrors(_MARKUPS + "vtkMRMLMarkupsROIDisplayNode.h: GetNodeTagName() returns \"MarkupsROIDisplay\"")
    def GetNodeTagName(self):
        return "MarkupsROIDisplay"


@mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h (abstract class vtkMRMLMarkupsNode : public vtkMRMLDisplayableNode)")
class vtkMRMLMarkupsNode(vtkMRMLDisplayableNode):
    # vtkMRMLMarkupsNode.h: enum { PositionUndefined, PositionPreview, PositionDefined, PositionMissing, PositionStatus_Last }
    PositionUndefined, PositionPreview, PositionDefined, PositionMissing, PositionStatus_Last = range(5)

    _DISPLAY_NODE_CLASS = "vtkMRMLMarkupsDisplayNode"

    def __init__(self):
        super().__init__()
        self._locked = 0

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: void SetLocked(int locked)")
    def SetLocked(self, locked):
        self._locked = int(locked)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: vtkGetMacro(Locked, int)")
    def GetLocked(self):
        return self._locked

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: vtkMRMLMarkupsDisplayNode *GetMarkupsDisplayNode()")
    def GetMarkupsDisplayNode(self):
        node = self.GetDisplayNode()
        return node if node is not None and node.IsA("vtkMRMLMarkupsDisplayNode") else None

    @mirrors(
        _MARKUPS + "vtkMRMLMarkupsNode.h: void CreateDefaultDisplayNodes() override (body in the .cxx of each class: "
        "returns if a markups display node exists, else adds one of the class's display node class)"
    )
    def CreateDefaultDisplayNodes(self):
        if self.GetMarkupsDisplayNode() is not None:
            return
        if self._scene is None:
            return  # Slicer logs "scene is invalid" and returns
        displayNode = self._scene.AddNewNodeByClass(self._DISPLAY_NODE_CLASS)
        self.SetAndObserveDisplayNodeID(displayNode.GetID())


class _ControlPoints:
    """Control point members of vtkMRMLMarkupsNode (private to the stand-in: only point lists use them)."""

    def _initControlPoints(self):
        self._controlPoints = []  # dicts: position, label, description, status
        self._lastUsedControlPointNumber = 0
        self._controlPointLabelFormat = "%N-%d"  # vtkMRMLMarkupsNode.h member initializer

    def _points(self):
        return self._controlPoints

    def _point(self, n):
        points = self._points()
        return points[n] if isinstance(n, int) and 0 <= n < len(points) else None  # Slicer logs an error

    def _generateLabel(self, number):
        # GenerateControlPointLabel: %N is the node name, then printf with the number.
        formatString = self._controlPointLabelFormat.replace("%N", self.GetName() or "", 1)
        try:
            return formatString % number
        except (TypeError, ValueError):
            return formatString

    @mirrors(
        _MARKUPS + "vtkMRMLMarkupsNode.h: int AddControlPoint(vtkVector3d point, std::string label = std::string()); "
        "int AddControlPoint(double point[3], std::string label = std::string()); "
        "int AddControlPoint(double x, double y, double z, std::string label = std::string()) "
        "(returns the new index; an empty label is generated from ControlPointLabelFormat)"
    )
    def AddControlPoint(self, *args):
        if args and isinstance(args[0], (int, float)):
            if len(args) not in (3, 4):
                raise TypeError("AddControlPoint(x, y, z, label='') takes 3 or 4 arguments")
            position, label = args[:3], (args[3] if len(args) == 4 else "")
        elif len(args) in (1, 2) and len(args[0]) == 3:
            position, label = args[0], (args[1] if len(args) == 2 else "")
        else:
            raise TypeError("AddControlPoint expects (point[3] or vtkVector3d, label='') or (x, y, z, label='')")
        points = self._points()
        self._lastUsedControlPointNumber += 1  # GenerateUniqueControlPointID
        label = str(label) or self._generateLabel(self._lastUsedControlPointNumber)
        points.append({"position": [float(value) for value in position], "label": label, "description": "",
                       "status": self.PositionDefined})
        return len(points) - 1

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: int GetNumberOfControlPoints()")
    def GetNumberOfControlPoints(self):
        return len(self._points())

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: virtual void RemoveAllControlPoints()")
    def RemoveAllControlPoints(self):
        # The .cxx (commit 3e1e460) does not reset LastUsedControlPointNumber here.
        self._points().clear()

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: void RemoveNthControlPoint(int pointIndex)")
    def RemoveNthControlPoint(self, pointIndex):
        point = self._point(pointIndex)
        if point is None:
            return
        if point["label"] == self._generateLabel(self._lastUsedControlPointNumber):
            self._lastUsedControlPointNumber -= 1  # lets the number of a removed preview point be reused
        del self._points()[pointIndex]

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: std::string GetNthControlPointLabel(int n = 0) (empty if n is invalid)")
    def GetNthControlPointLabel(self, n=0):
        point = self._point(n)
        return "" if point is None else point["label"]

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: void SetNthControlPointLabel(int n, std::string label)")
    def SetNthControlPointLabel(self, n, label):
        point = self._point(n)
        if point is not None:
            point["label"] = str(label)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: std::string GetNthControlPointDescription(int n = 0)")
    def GetNthControlPointDescription(self, n=0):
        point = self._point(n)
        return "" if point is None else point["description"]

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: void SetNthControlPointDescription(int n, std::string description)")
    def SetNthControlPointDescription(self, n, description):
        point = self._point(n)
        if point is not None:
            point["description"] = str(description)

    @mirrors(
        _MARKUPS + "vtkMRMLMarkupsNode.h: void GetNthControlPointPosition(int pointIndex, double point[3]) "
        "(fills point, zeros if invalid); double* GetNthControlPointPosition(int pointIndex) (a tuple, None if invalid)"
    )
    def GetNthControlPointPosition(self, pointIndex, point=None):
        controlPoint = self._point(pointIndex)
        if point is None:
            return None if controlPoint is None else tuple(controlPoint["position"])
        position = [0.0, 0.0, 0.0] if controlPoint is None else controlPoint["position"]
        for index in range(3):
            point[index] = position[index]
        return None

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: vtkVector3d GetNthControlPointPositionVector(int pointIndex) ((0,0,0) if invalid)")
    def GetNthControlPointPositionVector(self, pointIndex):
        controlPoint = self._point(pointIndex)
        return vtk.vtkVector3d(*(controlPoint["position"] if controlPoint is not None else (0.0, 0.0, 0.0)))

    @mirrors(
        _MARKUPS + "vtkMRMLMarkupsNode.h: int GetNthControlPointPositionWorld(int pointIndex, double worldxyz[3]) "
        "(0 on failure, 1 on success); vtkVector3d GetNthControlPointPositionWorld(int pointIndex)"
    )
    def GetNthControlPointPositionWorld(self, pointIndex, worldxyz=None):
        controlPoint = self._point(pointIndex)
        if worldxyz is None:
            world = vtk.vtkVector3d(0.0, 0.0, 0.0)
            if controlPoint is not None:
                self.TransformPointToWorld(controlPoint["position"], world)
            return world
        if controlPoint is None:
            return 0
        self.TransformPointToWorld(controlPoint["position"], worldxyz)
        return 1

    @mirrors(
        _MARKUPS + "vtkMRMLMarkupsNode.h: void SetNthControlPointPosition(const int pointIndex, const double x, const double y, "
        "const double z, int positionStatus = PositionDefined); "
        "void SetNthControlPointPosition(const int pointIndex, const double position[3], int positionStatus = PositionDefined)"
    )
    def SetNthControlPointPosition(self, pointIndex, *args):
        if args and isinstance(args[0], (int, float)):
            position, status = args[:3], (args[3] if len(args) > 3 else self.PositionDefined)
        else:
            position, status = args[0], (args[1] if len(args) > 1 else self.PositionDefined)
        controlPoint = self._point(pointIndex)
        if controlPoint is not None:
            controlPoint["position"] = [float(value) for value in position]
            controlPoint["status"] = int(status)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: std::string GetControlPointLabelFormat()")
    def GetControlPointLabelFormat(self):
        return self._controlPointLabelFormat

    @mirrors(_MARKUPS + "vtkMRMLMarkupsNode.h: void SetControlPointLabelFormat(std::string format)")
    def SetControlPointLabelFormat(self, format):
        self._controlPointLabelFormat = str(format)


@_register
@mirrors(_MARKUPS + "vtkMRMLMarkupsFiducialNode.h (class vtkMRMLMarkupsFiducialNode : public vtkMRMLMarkupsNode)")
class vtkMRMLMarkupsFiducialNode(vtkMRMLMarkupsNode, _ControlPoints):
    _DISPLAY_NODE_CLASS = "vtkMRMLMarkupsFiducialDisplayNode"  # vtkMRMLMarkupsFiducialNode.cxx CreateDefaultDisplayNodes

    def __init__(self):
        super().__init__()
        self._initControlPoints()

    @mirrors(_MARKUPS + "vtkMRMLMarkupsFiducialNode.h: GetNodeTagName() returns \"MarkupsFiducial\"")
    def GetNodeTagName(self):
        return "MarkupsFiducial"


@_register
@mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h (commit e9cb608; class vtkMRMLMarkupsROINode : public vtkMRMLMarkupsNode)")
class vtkMRMLMarkupsROINode(vtkMRMLMarkupsNode):
    # vtkMRMLMarkupsROINode.h: enum { ROITypeBox, ROITypeBoundingBox, ROIType_Last }
    ROITypeBox, ROITypeBoundingBox, ROIType_Last = range(3)

    _DISPLAY_NODE_CLASS = "vtkMRMLMarkupsROIDisplayNode"  # vtkMRMLMarkupsROINode.cxx CreateDefaultDisplayNodes

    def __init__(self):
        super().__init__()
        self._roiType = self.ROITypeBox
        self._size = (0.0, 0.0, 0.0)  # double Size[3]{ 0.0, 0.0, 0.0 }
        self._center = (0.0, 0.0, 0.0)  # translation of ObjectToNodeMatrix (identity at first)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: GetNodeTagName() returns \"MarkupsROI\"")
    def GetNodeTagName(self):
        return "MarkupsROI"

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: void SetCenter(const double center[3]); void SetCenter(double x, double y, double z)")
    def SetCenter(self, *center):
        self._center = _vector3(center)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: void GetCenter(double center[3]); vtkVector3d GetCenter()")
    def GetCenter(self, center=None):
        if center is None:
            return vtk.vtkVector3d(*self._center)
        _getVector3(self._center, center)
        return None

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: void SetSize(const double size[3]); void SetSize(double x, double y, double z)")
    def SetSize(self, *size):
        self._size = _vector3(size)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: vtkGetVector3Macro(Size, double) (a tuple, or fills a double[3])")
    def GetSize(self, size=None):
        return _getVector3(self._size, size)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: int SetXYZ(double center[3]); int SetXYZ(double x, double y, double z) (SetCenter, returns true)")
    def SetXYZ(self, *center):
        self.SetCenter(*center)
        return 1

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: bool GetXYZ(double center[3]) (GetCenter, returns true)")
    def GetXYZ(self, center):
        self.GetCenter(center)
        return True

    @mirrors(
        _MARKUPS + "vtkMRMLMarkupsROINode.h: void SetRadiusXYZ(double radiusXYZ[3]); void SetRadiusXYZ(double x, double y, double z) "
        "(size: twice the radius)"
    )
    def SetRadiusXYZ(self, *radiusXYZ):
        self.SetSize(*(2.0 * value for value in _vector3(radiusXYZ)))

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: void GetRadiusXYZ(double radiusXYZ[3])")
    def GetRadiusXYZ(self, radiusXYZ):
        _getVector3([0.5 * value for value in self._size], radiusXYZ)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: void GetRASBounds(double bounds[6]) override "
             "(axis-aligned bounding box of the ROI in world coordinates; identity ObjectToNode orientation here)")
    def GetRASBounds(self, bounds):
        corners = [[c + sign * 0.5 * s for c, s, sign in zip(self._center, self._size, signs)]
                   for signs in ((x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1))]
        world = []
        for corner in corners:
            point = [0.0, 0.0, 0.0]
            self.TransformPointToWorld(corner, point)
            world.append(point)
        for axis in range(3):
            bounds[2 * axis] = min(point[axis] for point in world)
            bounds[2 * axis + 1] = max(point[axis] for point in world)

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: vtkGetMacro(ROIType, int)")
    def GetROIType(self):
        return self._roiType

    @mirrors(_MARKUPS + "vtkMRMLMarkupsROINode.h: void SetROIType(int roiType)")
    def SetROIType(self, roiType):
        self._roiType = int(roiType)
