"""Qt Designer .ui files read into the stand-in's widgets (what QUiLoader does for slicer.util.loadUI).

Why a stand-in: QUiLoader is Qt (PythonQt), not in the slicer-core wheel.

Not part of Slicer's API (private module). The XML is parsed with xml.etree; every
``<widget class=...>`` is made from the stand-in class of that name (``qt``, ``ctk`` or
``slicer``) and an unknown class raises RuntimeError, so a .ui file cannot use a widget the
stand-in (and so the review behind it) does not know. Properties are set through the
stand-in's Q_PROPERTYs; ``stdset="0"`` properties become dynamic properties (e.g.
``SlicerParameterName``); a property the class does not model raises, except the purely
visual ones in ``_IGNORED_PROPERTIES``. Layouts re-parent their widgets as in Qt; spacers are
skipped. ``<connections>`` are made with ``connect(signal, receiver.slot)``.
"""

import xml.etree.ElementTree as ElementTree

#: Geometry and looks: no behaviour to model.
_IGNORED_PROPERTIES = {"geometry", "sizePolicy", "minimumSize", "maximumSize", "alignment", "frameShape", "frameShadow",
                       "textFormat", "orientation", "sizeHint", "margin", "spacing"}


def _widgetClass(className):
    import ctk
    import qt
    import slicer

    for namespace in (qt, ctk, slicer):
        cls = getattr(namespace, className, None)
        if isinstance(cls, type):
            return cls
    raise RuntimeError(f"Widget class '{className}' of the .ui file is not in the stand-in (qt, ctk, slicer)")


def _value(element):
    """Python value of a Designer property value element (<string>, <bool>, <stringlist>, <set>...)."""
    tag = element.tag
    text = element.text or ""
    if tag in ("string", "cstring"):
        return text
    if tag == "bool":
        return text.strip() == "true"
    if tag == "number":
        return int(text)
    if tag == "double":
        return float(text)
    if tag == "stringlist":
        return [item.text or "" for item in element.findall("string")]
    if tag in ("enum", "set"):
        return _enumValue(text)
    raise RuntimeError(f"Property value <{tag}> is not modelled by the stand-in's loadUI")


def _enumValue(text):
    value = 0
    for part in text.split("|"):
        className, _, name = part.strip().rpartition("::")
        cls = _widgetClass(className) if className else None
        if cls is None or not hasattr(cls, name):
            raise RuntimeError(f"Enum value '{part}' is not in the stand-in")
        value |= getattr(cls, name)
    return value


def _applyProperty(widget, element):
    name = element.get("name")
    if name in _IGNORED_PROPERTIES:
        return
    value = _value(list(element)[0])
    if element.get("stdset") == "0":
        widget.setProperty(name, value)
    elif isinstance(getattr(type(widget), name, None), property):
        setattr(widget, name, value)
    else:
        raise RuntimeError(f"Property '{name}' of {type(widget).__name__} '{widget.objectName}' is not modelled by the stand-in")


def _buildWidget(element, parent, widgets):
    widget = _widgetClass(element.get("class"))()
    widget.objectName = element.get("name", "")
    widgets[widget.objectName] = widget
    for child in element:
        if child.tag == "property":
            _applyProperty(widget, child)
        elif child.tag == "layout":
            widget.setLayout(_buildLayout(child, widgets))
        elif child.tag == "widget":
            _buildWidget(child, widget, widgets)
    if parent is not None and widget.parent() is None:
        widget.setParent(parent)
    return widget


def _buildLayout(element, widgets):
    layout = _widgetClass(element.get("class"))()
    layout.objectName = element.get("name", "")
    for item in element.findall("item"):
        for child in item:
            if child.tag == "widget":
                layout._add(_buildWidget(child, None, widgets))
            elif child.tag == "layout":
                layout._add(_buildLayout(child, widgets))
            elif child.tag == "spacer":
                layout._items.append(None)
    return layout


def loadUIFile(path):
    """The top-level widget of the .ui file ``path``, built from stand-in classes."""
    root = ElementTree.parse(path).getroot()
    top = root.find("widget")
    if top is None:
        return None
    widgets = {}
    widget = _buildWidget(top, None, widgets)
    for connection in root.findall("connections/connection"):
        sender = widgets[connection.findtext("sender")]
        receiver = widgets[connection.findtext("receiver")]
        slotName = connection.findtext("slot").split("(")[0]
        sender.connect(connection.findtext("signal"), getattr(receiver, slotName))
    return widget
