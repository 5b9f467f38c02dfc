"""MRML display node classes of the stand-in (how a node is shown: colour table, window/level).

Only the members listed here exist; anything else raises AttributeError, like calling a
method that Slicer's MRML classes do not have. Each member names the Slicer header it
mirrors (paths in the Slicer/Slicer repository; checked against commit 8ed70d7 unless a
different commit is given). Behaviour is simplified where noted (no events, no undo, no
singletons), but return values and argument order follow the C++ API as Python sees it.
"""

from ._mirror import mirrors
from ._mrml_nodes import vtkMRMLNode
from ._mrml_scene import _register


@mirrors("Libs/MRML/Core/vtkMRMLDisplayNode.h (class vtkMRMLDisplayNode : public vtkMRMLNode)")
class vtkMRMLDisplayNode(vtkMRMLNode):
    def __init__(self):
        super().__init__()
        self._colorNodeID = None
        self._visibility = 1

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

