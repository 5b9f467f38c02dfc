"""Stand-in for Slicer's ``qt`` module (PythonQt's Qt bindings): only ``QIcon``.

``slicer.ScriptedLoadableModule.ScriptedLoadableModule.__init__`` sets the module icon
with ``qt.QIcon(path)``. Every other Qt class is absent (AttributeError), so widget code
cannot run in the stand-in.
"""


class QIcon:
    """Mirrors Qt's ``QIcon(const QString &fileName)`` constructor and ``isNull()``."""

    __slicer_source__ = "Qt: QIcon(const QString &fileName) (PythonQt, used by Base/Python/slicer/ScriptedLoadableModule.py)"

    def __init__(self, fileName=""):
        self._fileName = str(fileName)

    def isNull(self):
        return not self._fileName


QIcon.__init__.__slicer_source__ = "Qt: QIcon::QIcon(const QString &fileName)"
QIcon.isNull.__slicer_source__ = "Qt: bool QIcon::isNull() const"
