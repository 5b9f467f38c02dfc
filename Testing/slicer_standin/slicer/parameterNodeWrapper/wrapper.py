"""The parameterNodeWrapper decorator of the stand-in (Base/Python/slicer/parameterNodeWrapper/wrapper.py).

Adds the same members to the decorated class as Slicer: one property per annotated field,
``allParameters``, ``parameterNode``, ``default``, ``dataType``, ``getValue``/``setValue``,
``connectGui``/``connectParametersToGui``/``disconnectGui`` and the vtkObject-like
``StartModify``/``EndModify``/``AddObserver``/``RemoveObserver``/``Modified`` forwarding to the
node. A missing parameter is written with its default when the wrapper is made, as in Slicer.
"""

import typing

import qt
import vtk

from .._mirror import mirrors
from .guiConnectors import GuiConnector, createGuiConnector
from .serializers import createSerializer, splitAnnotations

_W = "Base/Python/slicer/parameterNodeWrapper/wrapper.py: "

SlicerParameterNamePropertyName = "SlicerParameterName"


class _Parameter:
    def __init__(self, name, serializer, default, unalteredType):
        self.name = name
        self.basename = name
        self.serializer = serializer
        self.default = default
        self.unalteredType = unalteredType

    def read(self, parameterNode):
        if not self.serializer.isIn(parameterNode, self.name):
            self.serializer.write(parameterNode, self.name, self.default)
        return self.serializer.read(parameterNode, self.name)


def _checkParamName(wrapper, paramName):
    if paramName not in wrapper.allParameters:
        raise ValueError(f"Cannot find a param with the given name: {paramName}")


def _initMethod(self, parameterNode, prefix=None):
    self.parameterNode = parameterNode
    self._parameterGUIs = dict()
    self._nextParameterGUIsTag = 0
    self._updatingGUIFromParameterNode = False
    for parameter in self.allParameters.values():
        if not parameter.serializer.isIn(parameterNode, parameter.name):
            parameter.serializer.write(parameterNode, parameter.name, parameter.default)


def _getValue(self, name):
    _checkParamName(self, name)
    return self.allParameters[name].read(self.parameterNode)


def _setValue(self, name, value):
    _checkParamName(self, name)
    parameter = self.allParameters[name]
    parameter.serializer.write(self.parameterNode, parameter.name, value)


def _makeGuiToParamCallback(self, paramName, connector):
    def callback():
        wasModifying = self.StartModify()
        try:
            if not self._updatingGUIFromParameterNode:
                self.setValue(paramName, connector.read())
        finally:
            self.EndModify(wasModifying)

    return callback


def _updateGUIFromParameterNode(self):
    if self._updatingGUIFromParameterNode:
        return
    try:
        self._updatingGUIFromParameterNode = True
        wasModifying = self.StartModify()
        try:
            for guiMapping in list(self._parameterGUIs.values()):
                for paramName, connector in guiMapping.items():
                    connector.write(self.getValue(paramName))
        finally:
            self.EndModify(wasModifying)
    finally:
        self._updatingGUIFromParameterNode = False


def _connectParametersToGui(self, mapping):
    for paramName in mapping.keys():
        _checkParamName(self, paramName)
    mappingToConnector = {
        paramName: value if isinstance(value, GuiConnector) else createGuiConnector(value, self.dataType(paramName))
        for paramName, value in mapping.items()
    }
    tag = self._nextParameterGUIsTag
    self._nextParameterGUIsTag += 1
    self._parameterGUIs[tag] = mappingToConnector
    for paramName, connector in mappingToConnector.items():
        connector.write(self.getValue(paramName))
        connector.onChanged(_makeGuiToParamCallback(self, paramName, connector))
    # As in Slicer, this observer stays after disconnectGui (it then updates no widget).
    self.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda caller, event: _updateGUIFromParameterNode(self))
    return tag


def _isWidget(obj):
    return getattr(obj, "isWidgetType", lambda: False)()


def _connectGui(self, gui):
    paramNameToWidget = {}
    widgets = gui.findChildren(qt.QWidget) if _isWidget(gui) else gui.__dict__.values()
    for widget in widgets:
        if widget.property(SlicerParameterNamePropertyName):
            paramNameToWidget[widget.property(SlicerParameterNamePropertyName)] = widget
    tag = _connectParametersToGui(self, paramNameToWidget)
    # Slicer 5.8's connectGui drops the tag (returns None), so disconnectGui(tag) cannot disconnect it;
    # 5.10 returns it. The stand-in behaves as the release slicer.app says it is.
    import slicer

    return tag if (slicer.app.majorVersion, slicer.app.minorVersion) >= (5, 10) else None


def _disconnectGui(self, guiTag):
    if guiTag in self._parameterGUIs:
        for _, connector in self._parameterGUIs[guiTag].items():
            connector.onChanged(None)
        del self._parameterGUIs[guiTag]


def _processClass(classtype):
    members = typing.get_type_hints(classtype, include_extras=True)
    allParameters = dict()
    for name, nametype in members.items():
        membertype, annotations = splitAnnotations(nametype)
        try:
            serializer, annotations = createSerializer(membertype, annotations)
        except Exception as e:
            raise Exception(f"Unable to create serializer for {classtype} member {name}") from e
        default = getattr(classtype, name) if hasattr(classtype, name) else serializer.default()
        if annotations:
            raise NotImplementedError(f"annotations {annotations} of {name} are not modelled by the stand-in")
        allParameters[name] = _Parameter(name, serializer, default, nametype)
        setattr(classtype, name, property(lambda self, n=name: self.getValue(n), lambda self, value, n=name: self.setValue(n, value)))

    def checkedSetAttr(class_, attr, value):
        if hasattr(class_, attr):
            raise ValueError(f"Cannot use reserved name '{attr}' in a parameterNodeWrapper")
        setattr(class_, attr, value)

    checkedSetAttr(classtype, "allParameters", allParameters)
    checkedSetAttr(classtype, "_is_parameter_node_wrapper", True)
    classtype.__init__ = _initMethod
    checkedSetAttr(classtype, "default", lambda self, paramName: self.allParameters[paramName].default)
    checkedSetAttr(classtype, "dataType", staticmethod(lambda membername: allParameters[membername].unalteredType))
    checkedSetAttr(classtype, "getValue", _getValue)
    checkedSetAttr(classtype, "setValue", _setValue)
    checkedSetAttr(classtype, "connectGui", _connectGui)
    checkedSetAttr(classtype, "connectParametersToGui", _connectParametersToGui)
    checkedSetAttr(classtype, "disconnectGui", _disconnectGui)
    checkedSetAttr(classtype, "StartModify", lambda self: self.parameterNode.StartModify())
    checkedSetAttr(classtype, "EndModify", lambda self, wasModified: self.parameterNode.EndModify(wasModified))
    checkedSetAttr(classtype, "AddObserver",
                   lambda self, event, callback, priority=0.0: self.parameterNode.AddObserver(event, callback, priority))
    checkedSetAttr(classtype, "RemoveObserver", lambda self, tag: self.parameterNode.RemoveObserver(tag))
    checkedSetAttr(classtype, "Modified", lambda self: self.parameterNode.Modified())
    return classtype


@mirrors(_W + "def isParameterNodeWrapper(classOrObj)")
def isParameterNodeWrapper(classOrObj):
    return getattr(classOrObj, "_is_parameter_node_wrapper", False)


@mirrors(_W + "def parameterNodeWrapper(classtype=None)")
def parameterNodeWrapper(classtype=None):
    def wrap(cls):
        return _processClass(cls)

    if classtype is None:
        return wrap
    return wrap(classtype)
