"""QObject/QWidget machinery of the ``qt`` stand-in: PythonQt-style signals and properties.

Not part of Qt's API (private module). What it models, as PythonQt shows Qt to Python:

* signals: ``obj.connect("clicked(bool)", slot)`` and ``obj.clicked.connect(slot)``; a slot
  is called with as many of the signal's arguments as it accepts (PythonQt does the same);
  connecting to a signal the class does not declare raises (PythonQt prints a warning and
  returns False), so a typo fails the test;
* Q_PROPERTYs as Python attributes (``button.enabled = False``) next to their setters;
  changing a property from code emits its notify signal, as Qt does;
* dynamic properties (``property(name)`` / ``setProperty(name, value)``), object names,
  parents and children (``findChildren``), layouts that re-parent the widgets added to them.

Not modelled: painting, sizes, focus, the event loop, deleteLater, thread affinity. An
exception raised in a slot propagates to whoever emitted the signal (PythonQt prints it
and carries on), so tests see it.
"""

import builtins
import inspect


def _source(source):
    def mark(obj):
        obj.__slicer_source__ = source
        return obj

    return mark


def _normalize(signature):
    return signature.replace(" ", "").replace("constQString&", "QString")


def _callSlot(slot, args):
    """Call ``slot`` with as many leading ``args`` as it takes (PythonQt's rule)."""
    try:
        parameters = inspect.signature(slot).parameters.values()
    except (TypeError, ValueError):
        return slot(*args)
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return slot(*args)
    count = sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    return slot(*args[:count])


class _BoundSignal:
    def __init__(self, owner, signature):
        self._owner = owner
        self._signature = signature

    def connect(self, slot):
        return self._owner.connect(self._signature, slot)

    def disconnect(self, slot=None):
        return self._owner.disconnect(self._signature, slot)

    def emit(self, *args):
        self._owner._emit(self._signature, *args)


class _Signal:
    """Class attribute for a signal name: ``obj.name`` is its first declared overload."""

    def __init__(self, name):
        self._name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return _BoundSignal(obj, obj._signaturesNamed(self._name)[0])


def qproperty(source, attr, default=None, cast=None, notify=(), onSet=None):
    """A Q_PROPERTY as a Python property; ``source`` is recorded on its getter."""

    def fget(self):
        return self._props.get(attr, default)

    def fset(self, value):
        if cast is not None:
            value = cast(value)
        old = fget(self)
        self._props[attr] = value
        if onSet is not None:
            onSet(self, old)
        if fget(self) != old:
            for signature in notify:
                self._emit(signature, fget(self))

    fget.__slicer_source__ = source
    fget.__name__ = attr
    return property(fget, fset)


class QObjectBase:
    """Shared base of the stand-in's QObject classes (see the module docstring)."""

    #: Declared signals of this class (normalised signature -> Qt source); merged along the MRO.
    _SIGNALS = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for signature in cls.__dict__.get("_SIGNALS", {}):
            name = signature.split("(")[0]
            if name not in cls.__dict__:
                setattr(cls, name, _Signal(name))

    def __init__(self, parent=None):
        self._props = {}
        self._dynamicProperties = {}
        self._connections = {}
        self._parentObject = None
        self._childObjects = []
        self._objectName = ""
        if parent is not None:
            self.setParent(parent)

    @classmethod
    def _declaredSignals(cls):
        signals = {}
        for klass in reversed(cls.__mro__):
            signals.update(klass.__dict__.get("_SIGNALS", {}))
        return signals

    def _signaturesNamed(self, name):
        return [s for s in self._declaredSignals() if s.split("(")[0] == name]

    def _checkedSignature(self, signal):
        signature = _normalize(signal)
        if signature not in self._declaredSignals():
            raise AttributeError(f"{type(self).__name__} has no signal '{signal}' in the stand-in")
        return signature

    def _emit(self, signature, *args):
        for slot in list(self._connections.get(signature, [])):
            _callSlot(slot, args)

    @_source("Qt: bool QObject::connect(const QObject* sender, const char* signal, ...) (PythonQt: obj.connect(signal, callable))")
    def connect(self, signal, slot):
        self._connections.setdefault(self._checkedSignature(signal), []).append(slot)
        return True

    @_source("Qt: bool QObject::disconnect(const char* signal, ...) (PythonQt: obj.disconnect(signal, callable))")
    def disconnect(self, signal, slot=None):
        slots = self._connections.get(self._checkedSignature(signal), [])
        if slot is None:
            slots.clear()
            return True
        if slot in slots:
            slots.remove(slot)
            return True
        return False

    @_source("Qt: QVariant QObject::property(const char* name) const (static and dynamic properties)")
    def property(self, name):
        if name in self._dynamicProperties:
            return self._dynamicProperties[name]
        if isinstance(getattr(type(self), name, None), builtins.property):
            return getattr(self, name)
        return None

    @_source("Qt: bool QObject::setProperty(const char* name, const QVariant& value)")
    def setProperty(self, name, value):
        if isinstance(getattr(type(self), name, None), builtins.property):
            setattr(self, name, value)
            return True
        self._dynamicProperties[name] = value
        return False  # Qt returns false for dynamic properties

    @builtins.property
    @_source("Qt: Q_PROPERTY(QString objectName READ objectName WRITE setObjectName)")
    def objectName(self):
        return self._objectName

    @objectName.setter
    def objectName(self, value):
        self._objectName = str(value)

    @builtins.property
    @_source("Qt: QObject::objectName, as PythonQt's 'name' (used by Base/Python/slicer/util.py childWidgetVariables)")
    def name(self):
        return self._objectName

    @name.setter
    def name(self, value):
        self._objectName = str(value)

    @_source("Qt: void QObject::setObjectName(const QString& name)")
    def setObjectName(self, name):
        self.objectName = name

    @_source("Qt: QObject* QObject::parent() const")
    def parent(self):
        return self._parentObject

    @_source("Qt: void QObject::setParent(QObject* parent)")
    def setParent(self, parent):
        if self._parentObject is not None and self in self._parentObject._childObjects:
            self._parentObject._childObjects.remove(self)
        self._parentObject = parent
        if parent is not None:
            parent._childObjects.append(self)

    @_source("Qt: const QObjectList& QObject::children() const")
    def children(self):
        return list(self._childObjects)

    @_source("Qt: QList<T> QObject::findChildren(const QString& name = QString()) const (PythonQt: findChildren(type))")
    def findChildren(self, type=None):
        found = []
        for child in self._childObjects:
            if type is None or isinstance(child, type):
                found.append(child)
            found.extend(child.findChildren(type))
        return found

    @_source("Qt: bool QObject::isWidgetType() const")
    def isWidgetType(self):
        return False

    @_source("Qt: bool QObject::inherits(const char* className) const")
    def inherits(self, className):
        return any(klass.__name__ == className for klass in type(self).__mro__)

    @_source("Qt: const char* QMetaObject::className() const (PythonQt: obj.className())")
    def className(self):
        return type(self).__name__
