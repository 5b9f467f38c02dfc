"""GUI connectors of the parameterNodeWrapper stand-in (Base/Python/slicer/parameterNodeWrapper/guiConnectors.py).

Only the connectors for the widgets the stand-in has, with Slicer's rules: the widget's type
must match exactly (``type(widget) == ...``), a QComboBox needs a Choice (and is refilled
with the choices), a ctkPathLineEdit binds only pathlib types, a float widget takes its
range from WithinRange / Minimum / Maximum (else -inf..inf). Each connector listens to the
same signal and reads/writes the same property as Slicer's.
"""

import abc
import pathlib

import ctk
import qt
import slicer

from .._mirror import mirrors
from . import validators
from .serializers import findFirstAnnotation, splitAnnotations, unannotatedType

_G = "Base/Python/slicer/parameterNodeWrapper/guiConnectors.py: "
_PATH_TYPES = (pathlib.Path, pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePath, pathlib.PurePosixPath, pathlib.PureWindowsPath)


@mirrors(_G + "class GuiConnector(abc.ABC)")
class GuiConnector(abc.ABC):
    @mirrors(_G + "GuiConnector.__init__(self)")
    def __init__(self):
        super().__init__()
        self._callback = None

    @mirrors(_G + "GuiConnector.onChanged(self, callback)")
    def onChanged(self, callback):
        self._callback = callback
        if self._callback is None:
            self._disconnect()
        else:
            self._connect()

    @mirrors(_G + "GuiConnector.changed(self)")
    def changed(self):
        if self._callback:
            self._callback()

    def _connect(self):
        getattr(self._widget, self._SIGNAL).connect(self.changed)

    def _disconnect(self):
        getattr(self._widget, self._SIGNAL).disconnect(self.changed)

    @mirrors(_G + "GuiConnector.widget(self)")
    def widget(self):
        return self._widget

    @abc.abstractmethod
    @mirrors(_G + "GuiConnector.read(self)")
    def read(self):
        raise NotImplementedError("Must implement read")

    @abc.abstractmethod
    @mirrors(_G + "GuiConnector.write(self, value)")
    def write(self, value):
        raise NotImplementedError("Must implement write")


_registeredGuiConnectors = []


@mirrors(_G + "def parameterNodeGuiConnector(classtype=None)")
def parameterNodeGuiConnector(classtype=None):
    def wrap(cls):
        if not issubclass(cls, GuiConnector):
            raise TypeError("Must be a GuiConnector subclass")
        _registeredGuiConnectors.append(cls)
        return cls

    if classtype is None:
        return wrap
    return wrap(classtype)


@mirrors(_G + "def createGuiConnector(widget, datatype)")
def createGuiConnector(widget, datatype):
    for possibleConnectorType in _registeredGuiConnectors:
        if possibleConnectorType.canRepresent(widget, datatype):
            return possibleConnectorType.create(widget, datatype)
    raise RuntimeError(f"Unable to create GUI connector from datatype '{datatype}' to widget type '{type(widget)}'")


@parameterNodeGuiConnector
@mirrors(_G + "class QCheckBoxToBoolConnector(GuiConnector)")
class QCheckBoxToBoolConnector(GuiConnector):
    _SIGNAL = "stateChanged"

    @mirrors(_G + "QCheckBoxToBoolConnector.canRepresent(widget, datatype)")
    @staticmethod
    def canRepresent(widget, datatype):
        return unannotatedType(datatype) is bool and type(widget) is qt.QCheckBox

    @mirrors(_G + "QCheckBoxToBoolConnector.create(widget, datatype)")
    @staticmethod
    def create(widget, datatype):
        return QCheckBoxToBoolConnector(widget)

    @mirrors(_G + "QCheckBoxToBoolConnector.__init__(self, widget)")
    def __init__(self, widget):
        super().__init__()
        self._widget = widget

    @mirrors(_G + "QCheckBoxToBoolConnector.read(self)")
    def read(self):
        return self._widget.checked

    @mirrors(_G + "QCheckBoxToBoolConnector.write(self, value)")
    def write(self, value):
        self._widget.checked = value


@parameterNodeGuiConnector
@mirrors(_G + "class QDoubleSpinBoxCtkSliderWidgetToFloatConnector(GuiConnector) (ctkSliderWidget is not in the stand-in)")
class QDoubleSpinBoxCtkSliderWidgetToFloatConnector(GuiConnector):
    _SIGNAL = "valueChanged"

    @mirrors(_G + "QDoubleSpinBoxCtkSliderWidgetToFloatConnector.canRepresent(widget, datatype)")
    @staticmethod
    def canRepresent(widget, datatype):
        return unannotatedType(datatype) is float and type(widget) is qt.QDoubleSpinBox

    @mirrors(_G + "QDoubleSpinBoxCtkSliderWidgetToFloatConnector.create(widget, datatype)")
    @staticmethod
    def create(widget, datatype):
        return QDoubleSpinBoxCtkSliderWidgetToFloatConnector(widget, splitAnnotations(datatype)[1])

    @mirrors(_G + "QDoubleSpinBoxCtkSliderWidgetToFloatConnector.__init__(self, widget, annotations)")
    def __init__(self, widget, annotations):
        super().__init__()
        self._widget = widget
        withinRange = findFirstAnnotation(annotations, validators.WithinRange)
        minimum = findFirstAnnotation(annotations, validators.Minimum)
        maximum = findFirstAnnotation(annotations, validators.Maximum)
        if withinRange is not None:
            self._widget.minimum = withinRange.minimum
            self._widget.maximum = withinRange.maximum
        else:
            self._widget.minimum = minimum.minimum if minimum is not None else float("-inf")
            self._widget.maximum = maximum.maximum if maximum is not None else float("inf")

    @mirrors(_G + "QDoubleSpinBoxCtkSliderWidgetToFloatConnector.read(self)")
    def read(self):
        return self._widget.value

    @mirrors(_G + "QDoubleSpinBoxCtkSliderWidgetToFloatConnector.write(self, value)")
    def write(self, value):
        self._widget.value = value


@parameterNodeGuiConnector
@mirrors(_G + "class QComboBoxToStringableConnector(GuiConnector)")
class QComboBoxToStringableConnector(GuiConnector):
    _SIGNAL = "currentIndexChanged"

    @mirrors(_G + "QComboBoxToStringableConnector.canRepresent(widget, datatype)")
    @staticmethod
    def canRepresent(widget, datatype):
        return type(widget) is qt.QComboBox and unannotatedType(datatype) in (int, float, str, bool)

    @mirrors(_G + "QComboBoxToStringableConnector.create(widget, datatype)")
    @staticmethod
    def create(widget, datatype):
        choice = findFirstAnnotation(splitAnnotations(datatype)[1], validators.Choice)
        if choice is None:
            raise RuntimeError("ComboBoxToStringableConnector requires the Choice annotation to be used.")
        return QComboBoxToStringableConnector(widget, choice.choices)

    @mirrors(_G + "QComboBoxToStringableConnector.__init__(self, widget, choices)")
    def __init__(self, widget, choices):
        super().__init__()
        self._widget = widget
        self._choices = choices
        self._widget.clear()
        for c in self._choices:
            self._widget.addItem(str(c))

    @mirrors(_G + "QComboBoxToStringableConnector.read(self)")
    def read(self):
        return self._choices[self._widget.currentIndex]

    @mirrors(_G + "QComboBoxToStringableConnector.write(self, value)")
    def write(self, value):
        for index, c in enumerate(self._choices):
            if c == value:
                self._widget.currentIndex = index
                break
        else:
            raise ValueError(f"Unable to find value {value} in choices {self._choices}")


@parameterNodeGuiConnector
@mirrors(_G + "class ctkPathLineEditToPathConnector(GuiConnector)")
class ctkPathLineEditToPathConnector(GuiConnector):
    _SIGNAL = "currentPathChanged"

    @mirrors(_G + "ctkPathLineEditToPathConnector.canRepresent(widget, datatype)")
    @staticmethod
    def canRepresent(widget, datatype):
        return type(widget) is ctk.ctkPathLineEdit and unannotatedType(datatype) in _PATH_TYPES

    @mirrors(_G + "ctkPathLineEditToPathConnector.create(widget, datatype)")
    @staticmethod
    def create(widget, datatype):
        return ctkPathLineEditToPathConnector(widget, datatype)

    @mirrors(_G + "ctkPathLineEditToPathConnector.__init__(self, widget, datatype)")
    def __init__(self, widget, datatype):
        super().__init__()
        self._widget = widget
        self._type = unannotatedType(datatype)

    @mirrors(_G + "ctkPathLineEditToPathConnector.read(self)")
    def read(self):
        return self._type(self._widget.currentPath)

    @mirrors(_G + "ctkPathLineEditToPathConnector.write(self, value)")
    def write(self, value):
        self._widget.currentPath = str(value)


@parameterNodeGuiConnector
@mirrors(_G + "class qMRMLNodeComboBoxToNodeConnector(GuiConnector)")
class qMRMLNodeComboBoxToNodeConnector(GuiConnector):
    _SIGNAL = "currentNodeChanged"

    @mirrors(_G + "qMRMLNodeComboBoxToNodeConnector.canRepresent(widget, datatype)")
    @staticmethod
    def canRepresent(widget, datatype):
        nodeType = unannotatedType(datatype)
        return type(widget) is slicer.qMRMLNodeComboBox and isinstance(nodeType, type) and issubclass(nodeType, slicer.vtkMRMLNode)

    @mirrors(_G + "qMRMLNodeComboBoxToNodeConnector.create(widget, datatype)")
    @staticmethod
    def create(widget, datatype):
        return qMRMLNodeComboBoxToNodeConnector(widget, datatype)

    @mirrors(_G + "qMRMLNodeComboBoxToNodeConnector.__init__(self, widget, datatype)")
    def __init__(self, widget, datatype):
        super().__init__()
        self._widget = widget
        self._widget.nodeTypes = [unannotatedType(datatype).__name__]  # getNodeTypes(datatype) for one node class

    @mirrors(_G + "qMRMLNodeComboBoxToNodeConnector.read(self)")
    def read(self):
        return self._widget.currentNode()

    @mirrors(_G + "qMRMLNodeComboBoxToNodeConnector.write(self, value)")
    def write(self, value):
        self._widget.setCurrentNode(value)
