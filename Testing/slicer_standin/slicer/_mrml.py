"""MRML scene and node classes of the stand-in, built on real VTK data objects.

Only the members listed here exist; anything else raises AttributeError, like calling a
method that Slicer's MRML classes do not have. Each member names the Slicer header it
mirrors (paths in the Slicer/Slicer repository; checked against commit 8ed70d7 unless a
different commit is given). Behaviour is simplified where noted (no events, no undo, no
singletons), but return values and argument order follow the C++ API as Python sees it.
"""

import vtk

from ._mirror import mirrors

_NODE_CLASSES = {}


def _register(cls):
    _NODE_CLASSES[cls.__name__] = cls
    return cls


@mirrors("Libs/MRML/Core/vtkMRMLNode.h (class vtkMRMLNode : public vtkObject)")
class vtkMRMLNode:
    def __init__(self):
        self._name = None
        self._id = None
        self._scene = None
        self._attributes = {}
        self._references = {}  # role -> list of referenced node IDs

    # vtkTypeMacro(vtkMRMLNode, vtkObject) gives GetClassName() and IsA().
    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkTypeMacro -> vtkObjectBase::GetClassName()")
    def GetClassName(self):
        return type(self).__name__

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkTypeMacro -> vtkObjectBase::IsA(const char*)")
    def IsA(self, className):
        names = [cls.__name__ for cls in type(self).__mro__] + ["vtkObject", "vtkObjectBase"]
        return int(className in names)

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: virtual const char* GetNodeTagName() = 0")
    def GetNodeTagName(self):
        raise NotImplementedError(f"{type(self).__name__} is abstract")

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkGetStringMacro(Name)")
    def GetName(self):
        return self._name

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkSetStringMacro(Name)")
    def SetName(self, name):
        self._name = None if name is None else str(name)

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkGetStringMacro(ID)")
    def GetID(self):
        return self._id

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: virtual vtkMRMLScene* GetScene()")
    def GetScene(self):
        return self._scene

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: void Modified() override")
    def Modified(self):
        pass  # the stand-in has no observers

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: void SetAttribute(const char* name, const char* value)")
    def SetAttribute(self, name, value):
        if not name:
            return
        if value is None:
            self._attributes.pop(name, None)
        else:
            self._attributes[name] = str(value)

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: const char* GetAttribute(const char* name)")
    def GetAttribute(self, name):
        return self._attributes.get(name)

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkMRMLNode* SetNodeReferenceID(const char* referenceRole, const char* referencedNodeID)")
    def SetNodeReferenceID(self, referenceRole, referencedNodeID):
        if referencedNodeID:
            self._references[referenceRole] = [referencedNodeID]
        else:
            self._references.pop(referenceRole, None)
        return self.GetNodeReference(referenceRole)

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: const char *GetNodeReferenceID(const char* referenceRole)")
    def GetNodeReferenceID(self, referenceRole):
        ids = self._references.get(referenceRole) or [None]
        return ids[0]

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkMRMLNode* GetNodeReference(const char* referenceRole)")
    def GetNodeReference(self, referenceRole):
        nodeID = self.GetNodeReferenceID(referenceRole)
        if nodeID is None or self._scene is None:
            return None
        return self._scene.GetNodeByID(nodeID)


@mirrors("Libs/MRML/Core/vtkMRMLStorableNode.h (class vtkMRMLStorableNode : public vtkMRMLNode)")
class vtkMRMLStorableNode(vtkMRMLNode):
    pass


@mirrors("Libs/MRML/Core/vtkMRMLTransformableNode.h (class vtkMRMLTransformableNode : public vtkMRMLStorableNode)")
class vtkMRMLTransformableNode(vtkMRMLStorableNode):
    _TRANSFORM_ROLE = "transform"  # vtkMRMLTransformableNode::TransformNodeReferenceRole

    @mirrors("Libs/MRML/Core/vtkMRMLTransformableNode.h: bool SetAndObserveTransformNodeID(const char *transformNodeID)")
    def SetAndObserveTransformNodeID(self, transformNodeID):
        self.SetNodeReferenceID(self._TRANSFORM_ROLE, transformNodeID)
        return True

    @mirrors("Libs/MRML/Core/vtkMRMLTransformableNode.h: const char *GetTransformNodeID()")
    def GetTransformNodeID(self):
        return self.GetNodeReferenceID(self._TRANSFORM_ROLE)

    @mirrors("Libs/MRML/Core/vtkMRMLTransformableNode.h: vtkMRMLTransformNode* GetParentTransformNode()")
    def GetParentTransformNode(self):
        return self.GetNodeReference(self._TRANSFORM_ROLE)


@mirrors("Libs/MRML/Core/vtkMRMLDisplayableNode.h (class vtkMRMLDisplayableNode : public vtkMRMLTransformableNode)")
class vtkMRMLDisplayableNode(vtkMRMLTransformableNode):
    _DISPLAY_ROLE = "display"  # vtkMRMLDisplayableNode::DisplayNodeReferenceRole

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayableNode.h: void SetAndObserveDisplayNodeID(const char *displayNodeID)")
    def SetAndObserveDisplayNodeID(self, displayNodeID):
        if displayNodeID:
            ids = self._references.setdefault(self._DISPLAY_ROLE, [])
            if ids:
                ids[0] = displayNodeID
            else:
                ids.append(displayNodeID)
        else:
            ids = self._references.get(self._DISPLAY_ROLE, [])
            if ids:
                del ids[0]

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayableNode.h: int GetNumberOfDisplayNodes()")
    def GetNumberOfDisplayNodes(self):
        return len(self._references.get(self._DISPLAY_ROLE, []))

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayableNode.h: const char *GetDisplayNodeID()")
    def GetDisplayNodeID(self):
        return self.GetNodeReferenceID(self._DISPLAY_ROLE)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayableNode.h: vtkMRMLDisplayNode* GetNthDisplayNode(int n)")
    def GetNthDisplayNode(self, n):
        ids = self._references.get(self._DISPLAY_ROLE, [])
        if self._scene is None or not 0 <= n < len(ids):
            return None
        return self._scene.GetNodeByID(ids[n])

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayableNode.h: vtkMRMLDisplayNode* GetDisplayNode()")
    def GetDisplayNode(self):
        return self.GetNthDisplayNode(0)

    @mirrors("Libs/MRML/Core/vtkMRMLDisplayableNode.h: virtual void CreateDefaultDisplayNodes() (no-op in the base class)")
    def CreateDefaultDisplayNodes(self):
        pass


@mirrors("Libs/MRML/Core/vtkMRMLTransformNode.h (class vtkMRMLTransformNode : public vtkMRMLDisplayableNode)")
class vtkMRMLTransformNode(vtkMRMLDisplayableNode):
    pass


@_register
@mirrors("Libs/MRML/Core/vtkMRMLLinearTransformNode.h (commit f88c110; class vtkMRMLLinearTransformNode : public vtkMRMLTransformNode)")
class vtkMRMLLinearTransformNode(vtkMRMLTransformNode):
    @mirrors("Libs/MRML/Core/vtkMRMLLinearTransformNode.h: GetNodeTagName() returns \"LinearTransform\"")
    def GetNodeTagName(self):
        return "LinearTransform"


@mirrors("Libs/MRML/Core/vtkMRMLVolumeNode.h (class vtkMRMLVolumeNode : public vtkMRMLDisplayableNode)")
class vtkMRMLVolumeNode(vtkMRMLDisplayableNode):
    # vtkMRMLVolumeNode.h: enum { ImageDataModifiedEvent = 18001 }
    ImageDataModifiedEvent = 18001

    def __init__(self):
        super().__init__()
        self._ijkToRAS = vtk.vtkMatrix4x4()
        self._imageData = None

    @mirrors("Libs/MRML/Core/vtkMRMLVolumeNode.h: void GetIJKToRASMatrix(vtkMatrix4x4* mat)")
    def GetIJKToRASMatrix(self, mat):
        mat.DeepCopy(self._ijkToRAS)

    @mirrors("Libs/MRML/Core/vtkMRMLVolumeNode.h: void SetIJKToRASMatrix(vtkMatrix4x4* mat)")
    def SetIJKToRASMatrix(self, mat):
        # Slicer stores origin, spacing (column norms) and unit directions and recomposes
        # them; for a non-degenerate matrix that gives back the same matrix.
        self._ijkToRAS.DeepCopy(mat)

    @mirrors("Libs/MRML/Core/vtkMRMLVolumeNode.h: virtual vtkImageData* GetImageData()")
    def GetImageData(self):
        return self._imageData

    @mirrors("Libs/MRML/Core/vtkMRMLVolumeNode.h: virtual void SetAndObserveImageData(vtkImageData *ImageData)")
    def SetAndObserveImageData(self, imageData):
        self._imageData = imageData

    @mirrors("Libs/MRML/Core/vtkMRMLVolumeNode.h: virtual vtkMRMLVolumeDisplayNode* GetVolumeDisplayNode()")
    def GetVolumeDisplayNode(self):
        node = self.GetDisplayNode()
        return node if node is not None and node.IsA("vtkMRMLVolumeDisplayNode") else None


@_register
@mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeNode.h (class vtkMRMLScalarVolumeNode : public vtkMRMLVolumeNode)")
class vtkMRMLScalarVolumeNode(vtkMRMLVolumeNode):
    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeNode.h: GetNodeTagName() returns \"Volume\"")
    def GetNodeTagName(self):
        return "Volume"

    @mirrors("Libs/MRML/Core/vtkMRMLScalarVolumeNode.h: virtual vtkMRMLScalarVolumeDisplayNode* GetScalarVolumeDisplayNode()")
    def GetScalarVolumeDisplayNode(self):
        node = self.GetDisplayNode()
        return node if node is not None and node.IsA("vtkMRMLScalarVolumeDisplayNode") else None

    @mirrors(
        "Libs/MRML/Core/vtkMRMLScalarVolumeNode.h: void CreateDefaultDisplayNodes() override; "
        "body in vtkMRMLScalarVolumeNode.cxx: returns if a scalar display node exists, else adds one with the default colour map"
    )
    def CreateDefaultDisplayNodes(self):
        if self.GetScalarVolumeDisplayNode() is not None:
            return
        if self._scene is None:
            return  # Slicer logs "scene is invalid" and returns
        displayNode = self._scene.AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
        if not displayNode.GetColorNodeID():
            displayNode.SetDefaultColorMap()
        self.SetAndObserveDisplayNodeID(displayNode.GetID())


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


@_register
@mirrors("Libs/MRML/Core/vtkMRMLTableNode.h (class vtkMRMLTableNode : public vtkMRMLStorableNode)")
class vtkMRMLTableNode(vtkMRMLStorableNode):
    def __init__(self):
        super().__init__()
        self._table = vtk.vtkTable()
        self._columnProperties = {}  # (column name, property) -> value

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: GetNodeTagName() returns \"Table\"")
    def GetNodeTagName(self):
        return "Table"

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: virtual void SetAndObserveTable(vtkTable* table)")
    def SetAndObserveTable(self, table):
        self._table = table

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: vtkGetObjectMacro(Table, vtkTable)")
    def GetTable(self):
        return self._table

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: int GetNumberOfRows()")
    def GetNumberOfRows(self):
        return 0 if self._table is None else int(self._table.GetNumberOfRows())

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: int GetNumberOfColumns()")
    def GetNumberOfColumns(self):
        return 0 if self._table is None else int(self._table.GetNumberOfColumns())

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: std::string GetColumnName(int columnIndex)")
    def GetColumnName(self, columnIndex):
        if self._table is None or not 0 <= columnIndex < self._table.GetNumberOfColumns():
            return ""
        return self._table.GetColumnName(columnIndex) or ""

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: void SetColumnUnitLabel(const std::string& columnName, const std::string& unitLabel)")
    def SetColumnUnitLabel(self, columnName, unitLabel):
        self._columnProperties[(columnName, "unitLabel")] = str(unitLabel)

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: std::string GetColumnUnitLabel(const std::string& columnName)")
    def GetColumnUnitLabel(self, columnName):
        return self._columnProperties.get((columnName, "unitLabel"), "")

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: void SetColumnDescription(const std::string& columnName, const std::string& description)")
    def SetColumnDescription(self, columnName, description):
        self._columnProperties[(columnName, "description")] = str(description)

    @mirrors("Libs/MRML/Core/vtkMRMLTableNode.h: std::string GetColumnDescription(const std::string& columnName)")
    def GetColumnDescription(self, columnName):
        return self._columnProperties.get((columnName, "description"), "")


@mirrors("Libs/MRML/Core/vtkMRMLScene.h (class vtkMRMLScene : public vtkObject)")
class vtkMRMLScene:
    def __init__(self):
        self._nodes = []

    def _generateUniqueID(self, node):
        # vtkMRMLScene::GenerateUniqueID: class name followed by a number.
        number = 1
        while self.GetNodeByID(f"{node.GetClassName()}{number}") is not None:
            number += 1
        return f"{node.GetClassName()}{number}"

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: std::string GenerateUniqueName(const std::string& baseName)")
    def GenerateUniqueName(self, baseName):
        names = {node.GetName() for node in self._nodes}
        if baseName not in names:
            return baseName
        number = 1
        while f"{baseName}_{number}" in names:
            number += 1
        return f"{baseName}_{number}"

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode* AddNode(vtkMRMLNode *nodeToAdd) (body: vtkMRMLScene.cxx AddNodeNoNotify)")
    def AddNode(self, nodeToAdd):
        if nodeToAdd is None:
            return None
        if nodeToAdd in self._nodes:
            return nodeToAdd  # Slicer warns "already added"
        if not nodeToAdd.GetID() or self.GetNodeByID(nodeToAdd.GetID()) is not None:
            nodeToAdd._id = self._generateUniqueID(nodeToAdd)
        if not nodeToAdd.GetName():
            nodeToAdd.SetName(self.GenerateUniqueName(nodeToAdd.GetNodeTagName()))
        nodeToAdd._scene = self
        self._nodes.append(nodeToAdd)
        return nodeToAdd

    @mirrors(
        "Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode* AddNewNodeByClass(std::string className, std::string nodeBaseName = \"\") "
        "(body: vtkMRMLScene.cxx, sets the name as given, returns NULL for an unknown class)"
    )
    def AddNewNodeByClass(self, className, nodeBaseName=""):
        cls = _NODE_CLASSES.get(className)
        if cls is None:
            return None
        node = cls()
        if nodeBaseName:
            node.SetName(nodeBaseName)
        return self.AddNode(node)

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: void RemoveNode(vtkMRMLNode *n)")
    def RemoveNode(self, n):
        if n is None or n not in self._nodes:
            return
        self._nodes.remove(n)
        n._scene = None

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: void Clear(int removeSingletons=0)")
    def Clear(self, removeSingletons=0):
        for node in list(self._nodes):
            self.RemoveNode(node)

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode *GetNodeByID(const char* name)")
    def GetNodeByID(self, name):
        for node in self._nodes:
            if node.GetID() == name:
                return node
        return None

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: int GetNumberOfNodes()")
    def GetNumberOfNodes(self):
        return len(self._nodes)

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode* GetNthNode(int n)")
    def GetNthNode(self, n):
        return self._nodes[n] if 0 <= n < len(self._nodes) else None

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode *GetFirstNodeByName(const char* name)")
    def GetFirstNodeByName(self, name):
        return self.GetFirstNode(name)

    @mirrors(
        "Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode *GetFirstNode(const char* byName = nullptr, const char* byClass = nullptr, "
        "const int* byHideFromEditors = nullptr, bool exactNameMatch = true)"
    )
    def GetFirstNode(self, byName=None, byClass=None, byHideFromEditors=None, exactNameMatch=True):
        for node in self._nodes:
            name = node.GetName() or ""
            if byName is not None and not (name == byName if exactNameMatch else name.startswith(byName)):
                continue
            if byClass is not None and not node.IsA(byClass):
                continue
            return node  # byHideFromEditors: the stand-in has no hidden nodes
        return None

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: int GetNumberOfNodesByClass(const char* className)")
    def GetNumberOfNodesByClass(self, className):
        return sum(1 for node in self._nodes if node.IsA(className))

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode* GetNthNodeByClass(int n, const char* className)")
    def GetNthNodeByClass(self, n, className):
        nodes = [node for node in self._nodes if node.IsA(className)]
        return nodes[n] if 0 <= n < len(nodes) else None

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode* GetFirstNodeByClass(const char* className)")
    def GetFirstNodeByClass(self, className):
        return self.GetNthNodeByClass(0, className)
