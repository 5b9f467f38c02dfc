"""MRML data node classes of the stand-in (node base classes, transforms, volumes, tables),
built on real VTK data objects. Display nodes are in ``_mrml_display_nodes``, the scene
in ``_mrml_scene``.

Only the members listed here exist; anything else raises AttributeError, like calling a
method that Slicer's MRML classes do not have. Each member names the Slicer header it
mirrors (paths in the Slicer/Slicer repository; checked against commit 8ed70d7 unless a
different commit is given). Behaviour is simplified where noted (no events, no undo, no
singletons), but return values and argument order follow the C++ API as Python sees it.
"""

import vtk

from ._mirror import mirrors
from ._mrml_scene import _register


@mirrors("Libs/MRML/Core/vtkMRMLNode.h (class vtkMRMLNode : public vtkObject)")
class vtkMRMLNode:
    def __init__(self):
        self._name = None
        self._id = None
        self._scene = None
        self._attributes = {}
        self._references = {}  # role -> list of referenced node IDs
        self._description = None

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

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkSetStringMacro(Description)")
    def SetDescription(self, description):
        self._description = None if description is None else str(description)

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkGetStringMacro(Description)")
    def GetDescription(self):
        return self._description

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

    @mirrors("Libs/MRML/Core/vtkMRMLTransformableNode.h: virtual void TransformPointToWorld(const double inLocal[3], double outWorld[3])")
    def TransformPointToWorld(self, inLocal, outWorld):
        # Through the chain of parent transforms. A stand-in transform node without
        # GetMatrixTransformToParent holds no matrix: the identity, as a new linear transform in Slicer.
        point = [float(inLocal[0]), float(inLocal[1]), float(inLocal[2]), 1.0]
        transformNode = self.GetParentTransformNode()
        while transformNode is not None:
            if hasattr(transformNode, "GetMatrixTransformToParent"):
                matrix = vtk.vtkMatrix4x4()
                transformNode.GetMatrixTransformToParent(matrix)
                point = list(matrix.MultiplyPoint(point))
            transformNode = transformNode.GetParentTransformNode()
        for index in range(3):
            outWorld[index] = point[index]

    @mirrors("Libs/MRML/Core/vtkMRMLTransformableNode.h: virtual void TransformPointFromWorld(const double inWorld[3], double outLocal[3])")
    def TransformPointFromWorld(self, inWorld, outLocal):
        toWorld = vtk.vtkMatrix4x4()  # node -> world through the chain of linear parent transforms
        transformNode = self.GetParentTransformNode()
        while transformNode is not None:
            if hasattr(transformNode, "GetMatrixTransformToParent"):
                matrix = vtk.vtkMatrix4x4()
                transformNode.GetMatrixTransformToParent(matrix)
                vtk.vtkMatrix4x4.Multiply4x4(matrix, toWorld, toWorld)
            transformNode = transformNode.GetParentTransformNode()
        toWorld.Invert()
        point = toWorld.MultiplyPoint([float(inWorld[0]), float(inWorld[1]), float(inWorld[2]), 1.0])
        for index in range(3):
            outLocal[index] = point[index]


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
    # Only linear transforms: a 4×4 matrix to the parent (identity until set), as a new linear transform node.

    @mirrors("Libs/MRML/Core/vtkMRMLTransformNode.h: virtual int SetMatrixTransformToParent(vtkMatrix4x4 *matrix)")
    def SetMatrixTransformToParent(self, matrix):
        self._toParent = vtk.vtkMatrix4x4()
        self._toParent.DeepCopy(matrix)
        return 1

    @mirrors("Libs/MRML/Core/vtkMRMLTransformNode.h: virtual int GetMatrixTransformToParent(vtkMatrix4x4* matrix)")
    def GetMatrixTransformToParent(self, matrix):
        toParent = getattr(self, "_toParent", None)
        if toParent is None:
            matrix.Identity()
        else:
            matrix.DeepCopy(toParent)
        return 1


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



@_register
@mirrors("Libs/MRML/Core/vtkMRMLLabelMapVolumeNode.h (class vtkMRMLLabelMapVolumeNode : public vtkMRMLScalarVolumeNode)")
class vtkMRMLLabelMapVolumeNode(vtkMRMLScalarVolumeNode):
    # Display nodes of label maps (vtkMRMLLabelMapVolumeDisplayNode) are not modelled: none is created.
    @mirrors("Libs/MRML/Core/vtkMRMLLabelMapVolumeNode.h: GetNodeTagName() returns \"LabelMapVolume\"")
    def GetNodeTagName(self):
        return "LabelMapVolume"

    @mirrors("Libs/MRML/Core/vtkMRMLLabelMapVolumeNode.h: void CreateDefaultDisplayNodes() override (label map display node: not modelled)")
    def CreateDefaultDisplayNodes(self):
        pass

@_register
@mirrors("Libs/MRML/Core/vtkMRMLVectorVolumeNode.h (class vtkMRMLVectorVolumeNode : public vtkMRMLScalarVolumeNode)")
class vtkMRMLVectorVolumeNode(vtkMRMLScalarVolumeNode):
    # Its display node (vtkMRMLVectorVolumeDisplayNode) and multi-component image data are not modelled.
    @mirrors("Libs/MRML/Core/vtkMRMLVectorVolumeNode.h: GetNodeTagName() returns \"VectorVolume\"")
    def GetNodeTagName(self):
        return "VectorVolume"

    @mirrors("Libs/MRML/Core/vtkMRMLVectorVolumeNode.h: void CreateDefaultDisplayNodes() override (not modelled)")
    def CreateDefaultDisplayNodes(self):
        pass


@_register
@mirrors("Libs/MRML/Core/vtkMRMLTensorVolumeNode.h (class vtkMRMLTensorVolumeNode : public vtkMRMLScalarVolumeNode)")
class vtkMRMLTensorVolumeNode(vtkMRMLScalarVolumeNode):
    @mirrors("Libs/MRML/Core/vtkMRMLTensorVolumeNode.h: GetNodeTagName() returns \"TensorVolume\"")
    def GetNodeTagName(self):
        return "TensorVolume"

    @mirrors("Libs/MRML/Core/vtkMRMLTensorVolumeNode.h: CreateDefaultDisplayNodes (not modelled)")
    def CreateDefaultDisplayNodes(self):
        pass


@_register
@mirrors("Libs/MRML/Core/vtkMRMLDiffusionWeightedVolumeNode.h (class vtkMRMLDiffusionWeightedVolumeNode : public vtkMRMLTensorVolumeNode)")
class vtkMRMLDiffusionWeightedVolumeNode(vtkMRMLTensorVolumeNode):
    @mirrors("Libs/MRML/Core/vtkMRMLDiffusionWeightedVolumeNode.h: GetNodeTagName() returns \"DiffusionWeightedVolume\"")
    def GetNodeTagName(self):
        return "DiffusionWeightedVolume"


@_register
@mirrors("Libs/MRML/Core/vtkMRMLDiffusionTensorVolumeNode.h (class vtkMRMLDiffusionTensorVolumeNode : public vtkMRMLTensorVolumeNode)")
class vtkMRMLDiffusionTensorVolumeNode(vtkMRMLTensorVolumeNode):
    @mirrors("Libs/MRML/Core/vtkMRMLDiffusionTensorVolumeNode.h: GetNodeTagName() returns \"DiffusionTensorVolume\"")
    def GetNodeTagName(self):
        return "DiffusionTensorVolume"


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

