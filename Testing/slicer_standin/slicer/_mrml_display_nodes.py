"""MRML display node classes of the stand-in (how a node is shown: colour table, window/level,
threshold, colour, opacity, visibility). Markups and segmentation display nodes are with their nodes.

Only the members listed here exist; anything else raises AttributeError, like calling a
method that Slicer's MRML classes do not have. Each member names the Slicer header it
mirrors (paths in the Slicer/Slicer repository; checked against commit 8ed70d7 unless a
different commit is given). Behaviour is simplified where noted (no events, no undo, no
singletons), but return values and argument order follow the C++ API as Python sees it.
"""

from ._mirror import mirrors
from ._mrml_nodes import vtkMRMLNode
from ._mrml_scene import _register

VTK_SHORT_MIN, VTK_SHORT_MAX = -32768, 32767  # vtkType.h


@mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h (class vtkMRMLDisplayNode : public vtkMRMLNode)")
class vtkMRMLDisplayNode(vtkMRMLNode):
    def __init__(self):
        super().__init__()
        self._colorNodeID = None
        self._visibility = 1
        self._opacity = 1.0
        self._color = (0.9, 0.9, 0.3)  # vtkMRMLDisplayNode.cxx constructor
        self._selectedColor = (1.0, 0.0, 0.0)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: virtual void SetAndObserveColorNodeID(const char *ColorNodeID)")
    def SetAndObserveColorNodeID(self, colorNodeID):
        self._colorNodeID = None if colorNodeID is None else str(colorNodeID)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkGetStringMacro(ColorNodeID)")
    def GetColorNodeID(self):
        return self._colorNodeID

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkSetMacro(Visibility, int)")
    def SetVisibility(self, visibility):
        self._visibility = int(visibility)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkGetMacro(Visibility, int)")
    def GetVisibility(self):
        return self._visibility

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkSetMacro(Opacity, double)")
    def SetOpacity(self, opacity):
        self._opacity = float(opacity)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkGetMacro(Opacity, double)")
    def GetOpacity(self):
        return self._opacity

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkSetVector3Macro(Color, double) (SetColor(r, g, b) or SetColor(double[3]))")
    def SetColor(self, *color):
        self._color = _vector3(color)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkGetVector3Macro(Color, double) (a tuple, or fills a double[3])")
    def GetColor(self, color=None):
        return _getVector3(self._color, color)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkSetVector3Macro(SelectedColor, double)")
    def SetSelectedColor(self, *color):
        self._selectedColor = _vector3(color)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h: vtkGetVector3Macro(SelectedColor, double)")
    def GetSelectedColor(self, color=None):
        return _getVector3(self._selectedColor, color)


def _vector3(args):
    """The value of a vtkSetVector3Macro call: three numbers, or one sequence of three."""
    values = args[0] if len(args) == 1 else args
    values = tuple(float(value) for value in values)
    if len(values) != 3:
        raise TypeError(f"expected 3 values, got {len(values)}")
    return values


def _getVector3(values, out=None):
    """vtkGetVector3Macro as Python sees it: a tuple, or, given a double[3], fills it and returns None."""
    if out is None:
        return tuple(values)
    for index in range(3):
        out[index] = values[index]
    return None


@mirrors("Libs/MRML/Core/vtkMRMLVolumeDisplayNode.h (class vtkMRMLVolumeDisplayNode : public vtkMRMLDisplayNode)")
class vtkMRMLVolumeDisplayNode(vtkMRMLDisplayNode):
    pass


@_register
@mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h (class vtkMRMLScalarVolumeDisplayNode : public vtkMRMLVolumeDisplayNode)")
class vtkMRMLScalarVolumeDisplayNode(vtkMRMLVolumeDisplayNode):
    def __init__(self):
        super().__init__()
        self._autoWindowLevel = 1
        self._window = 256.0
        self._level = 128.0
        self._applyThreshold = 0
        self._lowerThreshold = float(VTK_SHORT_MIN)  # header: "Defaults to VTK_SHORT_MIN"
        self._upperThreshold = float(VTK_SHORT_MAX)

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: GetNodeTagName() returns \"VolumeDisplay\"")
    def GetNodeTagName(self):
        return "VolumeDisplay"

    @mirrors(
        "Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: void SetDefaultColorMap() override "
        "(Grey table: vtkMRMLColorLogic::GetColorTableNodeID(vtkMRMLColorTableNode::Grey))"
    )
    def SetDefaultColorMap(self):
        self.SetAndObserveColorNodeID("vtkMRMLColorTableNodeGrey")

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: vtkSetMacro(AutoWindowLevel, int)")
    def SetAutoWindowLevel(self, autoWindowLevel):
        self._autoWindowLevel = int(autoWindowLevel)

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: vtkGetMacro(AutoWindowLevel, int)")
    def GetAutoWindowLevel(self):
        return self._autoWindowLevel

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: virtual void SetWindowLevel(double window, double level)")
    def SetWindowLevel(self, window, level):
        self._window = float(window)
        self._level = float(level)

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: void SetWindowLevelMinMax(double min, double max)")
    def SetWindowLevelMinMax(self, min, max):
        self.SetWindowLevel(float(max) - float(min), 0.5 * (float(min) + float(max)))

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: double GetWindow()")
    def GetWindow(self):
        return self._window

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: double GetLevel()")
    def GetLevel(self):
        return self._level

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: double GetWindowLevelMin()")
    def GetWindowLevelMin(self):
        return self._level - 0.5 * self._window

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: double GetWindowLevelMax()")
    def GetWindowLevelMax(self):
        return self._level + 0.5 * self._window

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h (commit 0ef1635): virtual void SetApplyThreshold(int)")
    def SetApplyThreshold(self, applyThreshold):
        self._applyThreshold = int(applyThreshold)

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: vtkGetMacro(ApplyThreshold, int)")
    def GetApplyThreshold(self):
        return self._applyThreshold

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: virtual void SetLowerThreshold(double lower)")
    def SetLowerThreshold(self, lower):
        self._lowerThreshold = float(lower)

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: virtual double GetLowerThreshold()")
    def GetLowerThreshold(self):
        return self._lowerThreshold

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: virtual void SetUpperThreshold(double upper)")
    def SetUpperThreshold(self, upper):
        self._upperThreshold = float(upper)

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: virtual double GetUpperThreshold()")
    def GetUpperThreshold(self):
        return self._upperThreshold

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeDisplayNode.h: virtual void SetThreshold(double lower, double upper)")
    def SetThreshold(self, lower, upper):
        self.SetLowerThreshold(lower)
        self.SetUpperThreshold(upper)
