"""Stand-in for Slicer's ``ctk`` module (CTK widgets): the two AnomalyDetect's .ui file uses.

Why a stand-in: CTK's widgets are Qt (PythonQt), not in the slicer-core wheel.

Only the members below exist (AttributeError otherwise). They follow the CTK headers
(commontk/CTK, Libs/Widgets/*.h) as PythonQt shows them: Q_PROPERTYs as attributes,
signals connectable by signature or attribute (see ``qt._core``).
"""

import fnmatch
import re

import qt
from qt._core import _source
from qt._core import qproperty as _qproperty


@_source("Libs/Widgets/ctkCollapsibleButton.h (CTK; class ctkCollapsibleButton : public QAbstractButton)")
class ctkCollapsibleButton(qt.QAbstractButton):
    _SIGNALS = {"contentsCollapsed(bool)": "Libs/Widgets/ctkCollapsibleButton.h: void contentsCollapsed(bool)"}
    collapsed = _qproperty("Libs/Widgets/ctkCollapsibleButton.h: Q_PROPERTY(bool collapsed READ collapsed WRITE setCollapsed)",
                           "collapsed", False, bool, notify=("contentsCollapsed(bool)",))

    @_source("Libs/Widgets/ctkCollapsibleButton.h: ctkCollapsibleButton(const QString& text, QWidget *parent = 0)")
    def __init__(self, text="", parent=None):
        super().__init__(text, parent)

    @_source("Libs/Widgets/ctkCollapsibleButton.h: void setCollapsed(bool)")
    def setCollapsed(self, collapsed):
        self.collapsed = collapsed


@_source("Libs/Widgets/ctkPathLineEdit.h (CTK; class ctkPathLineEdit : public QWidget)")
class ctkPathLineEdit(qt.QWidget):
    # enum Filter (ctkPathLineEdit.h)
    Dirs = 0x001
    Files = 0x002
    Drives = 0x004
    Readable = 0x010
    Writable = 0x020
    _SIGNALS = {"currentPathChanged(QString)": "Libs/Widgets/ctkPathLineEdit.h: void currentPathChanged(const QString& path)",
                "validInputChanged(bool)": "Libs/Widgets/ctkPathLineEdit.h: void validInputChanged(bool)"}

    def _pathSet(self, old):
        # ctkPathLineEdit.cpp updateHasValidInput(): currentPathChanged is emitted only for text the
        # name-filter validator accepts (ctk::nameFiltersToRegExp: "*.ext" patterns; "*" adds none,
        # so "All files (*)" accepts nothing by itself); validInputChanged(bool) when that changes.
        path = self._props["currentPath"]
        valid = self._acceptable(path)
        if valid != self._props.get("_valid", self._acceptable(old)):
            self._props["_valid"] = valid
            self._emit("validInputChanged(bool)", valid)
        if valid and path != old:
            self._emit("currentPathChanged(QString)", path)

    def _acceptable(self, path):
        patterns = [pattern for nameFilter in self.nameFilters for pattern in re.findall(r"\*\.[\w.]+", nameFilter)]
        if not patterns:
            return True
        return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)

    currentPath = _qproperty("Libs/Widgets/ctkPathLineEdit.h: Q_PROPERTY(QString currentPath READ currentPath WRITE setCurrentPath USER true)",
                             "currentPath", "", str, onSet=_pathSet)
    filters = _qproperty("Libs/Widgets/ctkPathLineEdit.h: Q_PROPERTY(Filters filters READ filters WRITE setFilters)",
                         "filters", Dirs | Files | Drives, int)
    nameFilters = _qproperty("Libs/Widgets/ctkPathLineEdit.h: Q_PROPERTY(QStringList nameFilters READ nameFilters WRITE setNameFilters)",
                             "nameFilters", (), tuple)

    @_source("Libs/Widgets/ctkPathLineEdit.h: ctkPathLineEdit(QWidget *parent = 0)")
    def __init__(self, parent=None):
        super().__init__(parent)

    @_source("Libs/Widgets/ctkPathLineEdit.h: void setCurrentPath(const QString& path) (public slot)")
    def setCurrentPath(self, path):
        self.currentPath = path
