"""MRML scene of the stand-in, and the registry of the node classes it can create.

Only the members listed here exist; anything else raises AttributeError, like calling a
method that Slicer's vtkMRMLScene does not have. Each member names the Slicer header it
mirrors (paths in the Slicer/Slicer repository; checked against commit 8ed70d7 unless a
different commit is given). Behaviour is simplified where noted (no events, no undo, no
singletons), but return values and argument order follow the C++ API as Python sees it.
"""

from ._mirror import mirrors
from ._observable import _Observable

# Node classes by name, for AddNewNodeByClass (Slicer: vtkMRMLScene::RegisterNodeClass; the core
# node classes are registered in every scene). Here one registry serves all scenes: the node
# modules register their concrete classes with @_register when imported (slicer/__init__.py
# imports them all).
_NODE_CLASSES = {}


def _register(cls):
    _NODE_CLASSES[cls.__name__] = cls
    return cls


@mirrors("Libs/MRML/Core/vtkMRMLScene.h (class vtkMRMLScene : public vtkObject)")
class vtkMRMLScene(_Observable):
    # vtkMRMLScene.h: StateEvent 0x2000 | StartEvent 0x0100 / EndEvent 0x0200 | CloseState (0x0002 | BatchProcessState 0x0001)
    StartCloseEvent = 0x2000 | 0x0100 | 0x0003
    EndCloseEvent = 0x2000 | 0x0200 | 0x0003

    def __init__(self):
        self._nodes = []
        self._states = []  # StartState/EndState stack
        self._lastJump = None  # (r, a, s, jumpMode) of the last vtkMRMLSliceNode.JumpAllSlices (stand-in only)

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

    def _removeNode(self, n):
        self._nodes.remove(n)
        n._scene = None

    @mirrors(
        "Libs/MRML/Core/vtkMRMLScene.h: void RemoveNode(vtkMRMLNode *n); plus, as in the application, "
        "Modules/Loadable/Data/Logic/vtkSlicerDataModuleLogic.h OnMRMLSceneNodeRemoved (AutoRemoveDisplayAndStorageNodes, "
        "on by default): display nodes that only the removed displayable node referenced are removed too"
    )
    def RemoveNode(self, n):
        if n is None or n not in self._nodes:
            return
        self._removeNode(n)
        # vtkSlicerDataModuleLogic (loaded in every Slicer session, with or without a main window)
        # observes NodeRemovedEvent. The stand-in has no storage nodes.
        displayNodeIDs = list(n._references.get("display", [])) if n.IsA("vtkMRMLDisplayableNode") else []
        for displayNodeID in displayNodeIDs:
            displayNode = self.GetNodeByID(displayNodeID)
            if displayNode is None:
                continue
            referenced = any(displayNodeID in ids for node in self._nodes for ids in node._references.values())
            if not referenced:
                self.RemoveNode(displayNode)

    @mirrors(
        "Libs/MRML/Core/vtkMRMLScene.h: void Clear(int removeSingletons=0) (vtkMRMLScene.cxx: StartState(CloseState), "
        "RemoveAllNodes(removeSingletons), ResetNodes() resets the singletons kept, EndState(CloseState))"
    )
    def Clear(self, removeSingletons=0):
        self.InvokeEvent(self.StartCloseEvent)
        for node in list(self._nodes):
            if removeSingletons or not getattr(node, "GetSingletonTag", lambda: None)():
                self._removeNode(node)
        for node in list(self._nodes):
            node.Reset(None)  # only singletons are left
        self.InvokeEvent(self.EndCloseEvent)

    # vtkMRMLScene.h: enum StateType { BatchProcessState = 0x0001, CloseState = 0x0002 | BatchProcessState, ... }
    BatchProcessState = 0x0001

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: int StartState(unsigned long state, int anticipatedMaxProgress = 0) "
             "(states nest; returns the number of states after the push)")
    def StartState(self, state, anticipatedMaxProgress=0):
        self._states.append(int(state))
        return len(self._states)

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: int EndState(unsigned long state) (must match the last StartState; returns the number left)")
    def EndState(self, state):
        if not self._states or self._states[-1] != int(state):
            raise RuntimeError(f"EndState({state}) does not match the last StartState ({self._states[-1:] or 'none'})")
        self._states.pop()
        return len(self._states)

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: int GetStates()const (a combination of all current states)")
    def GetStates(self):
        combined = 0
        for state in self._states:
            combined |= state
        return combined

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: inline bool IsBatchProcessing()const")
    def IsBatchProcessing(self):
        return bool(self.GetStates() & self.BatchProcessState)

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode* GetSingletonNode(const char* singletonTag, const char* className)")
    def GetSingletonNode(self, singletonTag, className):
        for node in self._nodes:
            if node.IsA(className) and getattr(node, "GetSingletonTag", lambda: None)() == singletonTag:
                return node
        return None

    @mirrors("Libs/MRML/Core/vtkMRMLScene.h: vtkMRMLNode* CreateNodeByClass(const char* className) (not added to the scene)")
    def CreateNodeByClass(self, className):
        cls = _NODE_CLASSES.get(className)
        return cls() if cls is not None else None

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
