"""vtkMRMLScriptedModuleNode of the stand-in: the parameter node of scripted modules.

A string-to-string parameter map plus node references (Libs/MRML/Core/vtkMRMLScriptedModuleNode.h),
with the vtkMRMLNode members parameter nodes need: singleton tag, StartModify/EndModify and
ModifiedEvent observers. Setting a parameter or reference to a different value fires
ModifiedEvent (once per StartModify/EndModify block), as in Slicer; unchanged values fire nothing.
"""

from ._mirror import mirrors
from ._mrml_nodes import vtkMRMLNode
from ._mrml_scene import _register
from ._observable import MODIFIED_EVENT, _Observable


@_register
@mirrors("Libs/MRML/Core/vtkMRMLScriptedModuleNode.h (class vtkMRMLScriptedModuleNode : public vtkMRMLNode)")
class vtkMRMLScriptedModuleNode(_Observable, vtkMRMLNode):
    def __init__(self):
        super().__init__()
        self._parameters = {}
        self._singletonTag = None
        self._disableModified = 0
        self._modifiedWhileDisabled = False

    @mirrors("Libs/MRML/Core/vtkMRMLScriptedModuleNode.h: const char* GetNodeTagName() override (\"ScriptedModule\")")
    def GetNodeTagName(self):
        return "ScriptedModule"

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: void Modified() override (held back between StartModify and EndModify)")
    def Modified(self):
        if self._disableModified:
            self._modifiedWhileDisabled = True
            return
        self.InvokeEvent(MODIFIED_EVENT)

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: virtual int StartModify()")
    def StartModify(self):
        previous = self._disableModified
        self._disableModified = 1
        return previous

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: virtual int EndModify(int previousDisableModifiedEventState)")
    def EndModify(self, previousDisableModifiedEventState):
        self._disableModified = previousDisableModifiedEventState
        if not self._disableModified and self._modifiedWhileDisabled:
            self._modifiedWhileDisabled = False
            self.Modified()
        return self._disableModified

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkSetStringMacro(SingletonTag) (void SetSingletonTag(const char*))")
    def SetSingletonTag(self, tag):
        self._singletonTag = tag

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkGetStringMacro(SingletonTag)")
    def GetSingletonTag(self):
        return self._singletonTag

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: virtual void Reset(vtkMRMLNode* defaultNode) (called on kept singletons by vtkMRMLScene::Clear)")
    def Reset(self, defaultNode):
        self._parameters = {}
        self._attributes = {}
        self._references = {}
        self.Modified()

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: void SetAttribute(const char* name, const char* value)")
    def SetAttribute(self, name, value):
        super().SetAttribute(name, value)

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: vtkMRMLNode* SetNodeReferenceID(const char* referenceRole, const char* referencedNodeID)")
    def SetNodeReferenceID(self, referenceRole, referencedNodeID):
        old = self.GetNodeReferenceID(referenceRole)
        node = super().SetNodeReferenceID(referenceRole, referencedNodeID)
        if (referencedNodeID or None) != old:
            self.Modified()
        return node

    @mirrors("Libs/MRML/Core/vtkMRMLNode.h: void RemoveNodeReferenceIDs(const char* referenceRole)")
    def RemoveNodeReferenceIDs(self, referenceRole):
        if self._references.pop(referenceRole, None) is not None:
            self.Modified()

    @mirrors("Libs/MRML/Core/vtkMRMLScriptedModuleNode.h: bool HasParameter(const std::string& name) const")
    def HasParameter(self, name):
        return name in self._parameters

    @mirrors("Libs/MRML/Core/vtkMRMLScriptedModuleNode.h: void SetParameter(const std::string& name, const std::string& value)")
    def SetParameter(self, name, value):
        value = str(value)
        if self._parameters.get(name) == value:
            return
        self._parameters[name] = value
        self.Modified()

    @mirrors("Libs/MRML/Core/vtkMRMLScriptedModuleNode.h: void UnsetParameter(const std::string& name)")
    def UnsetParameter(self, name):
        if self._parameters.pop(name, None) is not None:
            self.Modified()

    @mirrors("Libs/MRML/Core/vtkMRMLScriptedModuleNode.h: std::string GetParameter(const std::string& name) const (\"\" when not set)")
    def GetParameter(self, name):
        return self._parameters.get(name, "")

    @mirrors("Libs/MRML/Core/vtkMRMLScriptedModuleNode.h: std::vector<std::string> GetParameterNames()")
    def GetParameterNames(self):
        return list(self._parameters)
