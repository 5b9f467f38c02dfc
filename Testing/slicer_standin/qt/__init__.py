"""Stand-in for Slicer's ``qt`` module (PythonQt's Qt bindings): the widgets AnomalyDetect uses.

Why a stand-in: Slicer's ``qt`` is PythonQt, which is not on PyPI and not in the slicer-core wheel.

Only the classes and members below exist; anything else raises AttributeError, so widget
code (or a .ui file, see ``slicer.util.loadUI``) that uses a Qt API the stand-in was not
taught fails its test. Signals, properties and parenting follow PythonQt (see ``_core``).
Each member records the Qt API it mirrors (``Qt: ...``, Qt 5 documentation).
"""

from ._core import QObjectBase as _QObjectBase
from ._core import _source
from ._core import qproperty as _qproperty


@_source("Qt: QIcon(const QString &fileName) (PythonQt, used by Base/Python/slicer/ScriptedLoadableModule.py)")
class QIcon:
    @_source("Qt: QIcon::QIcon(const QString &fileName)")
    def __init__(self, fileName=""):
        self._fileName = str(fileName)

    @_source("Qt: bool QIcon::isNull() const")
    def isNull(self):
        return not self._fileName


@_source("Qt: class QObject")
class QObject(_QObjectBase):
    @_source("Qt: QObject::QObject(QObject *parent = nullptr)")
    def __init__(self, parent=None):
        super().__init__(parent)


@_source("Qt: class QWidget : public QObject, public QPaintDevice")
class QWidget(QObject):
    enabled = _qproperty("Qt: Q_PROPERTY(bool enabled READ isEnabled WRITE setEnabled)", "enabled", True, bool)
    toolTip = _qproperty("Qt: Q_PROPERTY(QString toolTip READ toolTip WRITE setToolTip)", "toolTip", "", str)
    visible = _qproperty("Qt: Q_PROPERTY(bool visible READ isVisible WRITE setVisible)", "visible", False, bool)

    @_source("Qt: QWidget::QWidget(QWidget *parent = nullptr, Qt::WindowFlags f = Qt::WindowFlags())")
    def __init__(self, parent=None):
        super().__init__(parent)
        self._layout = None

    @_source("Qt: bool QObject::isWidgetType() const (true for QWidget)")
    def isWidgetType(self):
        return True

    @_source("Qt: void QWidget::setEnabled(bool)")
    def setEnabled(self, enabled):
        self.enabled = enabled

    @_source("Qt: bool QWidget::isEnabled() const")
    def isEnabled(self):
        return self.enabled

    @_source("Qt: void QWidget::setToolTip(const QString &)")
    def setToolTip(self, toolTip):
        self.toolTip = toolTip

    @_source("Qt: void QWidget::show()")
    def show(self):
        self.visible = True

    @_source("Qt: void QWidget::hide()")
    def hide(self):
        self.visible = False

    @_source("Qt: QLayout *QWidget::layout() const")
    def layout(self):
        return self._layout

    @_source("Qt: void QWidget::setLayout(QLayout *layout)")
    def setLayout(self, layout):
        self._layout = layout
        layout._setOwner(self)


@_source("Qt: class QLayout : public QObject, public QLayoutItem")
class QLayout(QObject):
    @_source("Qt: QLayout::QLayout(QWidget *parent = nullptr)")
    def __init__(self, parent=None):
        super().__init__(None)
        self._owner = None
        self._items = []  # widgets, layouts and None (stretch/spacer)
        if parent is not None:
            parent.setLayout(self)

    def _setOwner(self, widget):
        self._owner = widget
        self.setParent(widget)
        for item in self._items:
            self._adopt(item)

    def _adopt(self, item):
        if isinstance(item, QWidget) and self._owner is not None:
            item.setParent(self._owner)
        elif isinstance(item, QLayout) and self._owner is not None:
            item._setOwner(self._owner)

    def _add(self, item):
        self._items.append(item)
        self._adopt(item)

    @_source("Qt: void QLayout::addWidget(QWidget *w)")
    def addWidget(self, w):
        self._add(w)

    @_source("Qt: int QLayout::count() const")
    def count(self):
        return len(self._items)


@_source("Qt: class QBoxLayout : public QLayout")
class QBoxLayout(QLayout):
    @_source("Qt: void QBoxLayout::addLayout(QLayout *layout, int stretch = 0)")
    def addLayout(self, layout, stretch=0):
        self._add(layout)

    @_source("Qt: void QBoxLayout::addStretch(int stretch = 0)")
    def addStretch(self, stretch=0):
        self._items.append(None)


@_source("Qt: class QVBoxLayout : public QBoxLayout")
class QVBoxLayout(QBoxLayout):
    pass


@_source("Qt: class QHBoxLayout : public QBoxLayout")
class QHBoxLayout(QBoxLayout):
    pass


@_source("Qt: class QFormLayout : public QLayout")
class QFormLayout(QLayout):
    @_source("Qt: void QFormLayout::addRow(QWidget *label, QWidget *field) / "
             "addRow(const QString &labelText, QWidget *field) / addRow(QWidget *widget)")
    def addRow(self, *args):
        for item in args:
            if isinstance(item, str):
                label = QLabel(item)
                self._add(label)
            else:
                self._add(item)


@_source("Qt: class QLabel : public QFrame")
class QLabel(QWidget):
    text = _qproperty("Qt: Q_PROPERTY(QString text READ text WRITE setText)", "text", "", str)
    wordWrap = _qproperty("Qt: Q_PROPERTY(bool wordWrap READ wordWrap WRITE setWordWrap)", "wordWrap", False, bool)

    @_source("Qt: QLabel::QLabel(const QString &text, QWidget *parent = nullptr)")
    def __init__(self, text="", parent=None):
        super().__init__(parent)
        self.text = text

    @_source("Qt: void QLabel::setText(const QString &)")
    def setText(self, text):
        self.text = text


@_source("Qt: class QAbstractButton : public QWidget")
class QAbstractButton(QWidget):
    _SIGNALS = {
        "clicked(bool)": "Qt: void QAbstractButton::clicked(bool checked = false)",
        "clicked()": "Qt: void QAbstractButton::clicked(bool checked = false) (default argument)",
        "toggled(bool)": "Qt: void QAbstractButton::toggled(bool checked)",
    }
    text = _qproperty("Qt: Q_PROPERTY(QString text READ text WRITE setText)", "text", "", str)
    checkable = _qproperty("Qt: Q_PROPERTY(bool checkable READ isCheckable WRITE setCheckable)", "checkable", False, bool)

    def _onChecked(self, old):
        if self.checked != old:
            self._emitChecked()

    def _emitChecked(self):
        self._emit("toggled(bool)", self.checked)

    checked = _qproperty("Qt: Q_PROPERTY(bool checked READ isChecked WRITE setChecked NOTIFY toggled USER true)", "checked", False, bool,
                         onSet=_onChecked)

    @_source("Qt: QAbstractButton::QAbstractButton(QWidget *parent = nullptr) (QPushButton(const QString &text, QWidget *parent))")
    def __init__(self, text="", parent=None):
        super().__init__(parent)
        self.text = text

    @_source("Qt: void QAbstractButton::setText(const QString &text)")
    def setText(self, text):
        self.text = text

    @_source("Qt: void QAbstractButton::setChecked(bool)")
    def setChecked(self, checked):
        if self.checkable:
            self.checked = checked

    @_source("Qt: bool QAbstractButton::isChecked() const")
    def isChecked(self):
        return self.checked

    @_source("Qt: void QAbstractButton::click() (does nothing when the button is disabled)")
    def click(self):
        if not self.enabled:
            return
        if self.checkable:
            self.checked = not self.checked
        self._emit("clicked(bool)", self.checked)
        self._emit("clicked()")


@_source("Qt: class QPushButton : public QAbstractButton")
class QPushButton(QAbstractButton):
    pass


@_source("Qt: class QCheckBox : public QAbstractButton")
class QCheckBox(QAbstractButton):
    _SIGNALS = {"stateChanged(int)": "Qt: void QCheckBox::stateChanged(int state)"}

    @_source("Qt: QCheckBox::QCheckBox(const QString &text, QWidget *parent = nullptr) (checkable)")
    def __init__(self, text="", parent=None):
        super().__init__(text, parent)
        self.checkable = True

    def _emitChecked(self):
        self._emit("stateChanged(int)", 2 if self.checked else 0)  # Qt::Checked / Qt::Unchecked
        super()._emitChecked()


@_source("Qt: class QComboBox : public QWidget")
class QComboBox(QWidget):
    _SIGNALS = {
        "currentIndexChanged(int)": "Qt: void QComboBox::currentIndexChanged(int index)",
        "currentTextChanged(QString)": "Qt: void QComboBox::currentTextChanged(const QString &text)",
    }

    @_source("Qt: QComboBox::QComboBox(QWidget *parent = nullptr)")
    def __init__(self, parent=None):
        super().__init__(parent)
        self._items = []
        self._current = -1

    def _select(self, index):
        if index == self._current:
            return
        self._current = index
        self._emit("currentIndexChanged(int)", index)
        self._emit("currentTextChanged(QString)", self.currentText)

    @property
    @_source("Qt: Q_PROPERTY(int currentIndex READ currentIndex WRITE setCurrentIndex NOTIFY currentIndexChanged)")
    def currentIndex(self):
        return self._current

    @currentIndex.setter
    def currentIndex(self, index):
        index = int(index)
        self._select(index if 0 <= index < len(self._items) else -1)

    @property
    @_source("Qt: Q_PROPERTY(QString currentText READ currentText WRITE setCurrentText NOTIFY currentTextChanged USER true)")
    def currentText(self):
        return self._items[self._current] if self._current >= 0 else ""

    @currentText.setter
    def currentText(self, text):
        # Not editable: selects the matching item if there is one (Qt 5).
        if str(text) in self._items:
            self._select(self._items.index(str(text)))

    @property
    @_source("Qt: Q_PROPERTY(int count READ count)")
    def count(self):
        return len(self._items)

    @_source("Qt: void QComboBox::setCurrentIndex(int index)")
    def setCurrentIndex(self, index):
        self.currentIndex = index

    @_source("Qt: void QComboBox::setCurrentText(const QString &text)")
    def setCurrentText(self, text):
        self.currentText = text

    @_source("Qt: void QComboBox::addItem(const QString &text, const QVariant &userData = QVariant())")
    def addItem(self, text, userData=None):
        self._items.append(str(text))
        if self._current < 0:
            self._select(0)  # the first item of an empty combo box becomes current

    @_source("Qt: void QComboBox::addItems(const QStringList &texts)")
    def addItems(self, texts):
        for text in texts:
            self.addItem(text)

    @_source("Qt: void QComboBox::clear()")
    def clear(self):
        self._items = []
        self._select(-1)

    @_source("Qt: QString QComboBox::itemText(int index) const")
    def itemText(self, index):
        return self._items[index] if 0 <= index < len(self._items) else ""

    @_source("Qt: int QComboBox::findText(const QString &text, Qt::MatchFlags flags = ...) const")
    def findText(self, text):
        return self._items.index(str(text)) if str(text) in self._items else -1


@_source("Qt: class QDoubleSpinBox : public QAbstractSpinBox")
class QDoubleSpinBox(QWidget):
    _SIGNALS = {"valueChanged(double)": "Qt: void QDoubleSpinBox::valueChanged(double d)"}

    def _bound(self, old):
        # Qt keeps minimum <= maximum and the value within them, rounded to `decimals`.
        value = self._props.get("value", 0.0)
        value = min(max(value, self.minimum), self.maximum)
        self._props["value"] = round(value, self.decimals) if abs(value) != float("inf") else value

    value = _qproperty("Qt: Q_PROPERTY(double value READ value WRITE setValue NOTIFY valueChanged USER true)", "value", 0.0, float,
                       notify=("valueChanged(double)",), onSet=_bound)
    minimum = _qproperty("Qt: Q_PROPERTY(double minimum READ minimum WRITE setMinimum)", "minimum", 0.0, float, onSet=_bound)
    maximum = _qproperty("Qt: Q_PROPERTY(double maximum READ maximum WRITE setMaximum)", "maximum", 99.99, float, onSet=_bound)
    decimals = _qproperty("Qt: Q_PROPERTY(int decimals READ decimals WRITE setDecimals)", "decimals", 2, int, onSet=_bound)
    singleStep = _qproperty("Qt: Q_PROPERTY(double singleStep READ singleStep WRITE setSingleStep)", "singleStep", 1.0, float)
    suffix = _qproperty("Qt: Q_PROPERTY(QString suffix READ suffix WRITE setSuffix)", "suffix", "", str)

    @_source("Qt: QDoubleSpinBox::QDoubleSpinBox(QWidget *parent = nullptr)")
    def __init__(self, parent=None):
        super().__init__(parent)

    @_source("Qt: void QDoubleSpinBox::setValue(double val)")
    def setValue(self, val):
        self.value = val

    @_source("Qt: void QDoubleSpinBox::setRange(double minimum, double maximum)")
    def setRange(self, minimum, maximum):
        self.minimum = minimum
        self.maximum = maximum


@_source("Qt: class QProgressBar : public QWidget")
class QProgressBar(QWidget):
    _SIGNALS = {"valueChanged(int)": "Qt: void QProgressBar::valueChanged(int value)"}
    value = _qproperty("Qt: Q_PROPERTY(int value READ value WRITE setValue NOTIFY valueChanged)", "value", 0, int,
                       notify=("valueChanged(int)",))
    minimum = _qproperty("Qt: Q_PROPERTY(int minimum READ minimum WRITE setMinimum)", "minimum", 0, int)
    maximum = _qproperty("Qt: Q_PROPERTY(int maximum READ maximum WRITE setMaximum)", "maximum", 100, int)

    @_source("Qt: QProgressBar::QProgressBar(QWidget *parent = nullptr)")
    def __init__(self, parent=None):
        super().__init__(parent)

    @_source("Qt: void QProgressBar::setValue(int value)")
    def setValue(self, value):
        self.value = value


@_source("Qt: class QListWidgetItem")
class QListWidgetItem:
    @_source("Qt: QListWidgetItem::QListWidgetItem(const QString &text, QListWidget *parent = nullptr)")
    def __init__(self, text="", parent=None):
        self._text = str(text)
        if parent is not None:
            parent.addItem(self)

    @_source("Qt: QString QListWidgetItem::text() const")
    def text(self):
        return self._text

    @_source("Qt: void QListWidgetItem::setText(const QString &text)")
    def setText(self, text):
        self._text = str(text)

    @_source("Qt: void QListWidgetItem::setToolTip(const QString &toolTip)")
    def setToolTip(self, toolTip):
        self._toolTip = str(toolTip)


@_source("Qt: class QListWidget : public QListView")
class QListWidget(QWidget):
    _SIGNALS = {
        "itemClicked(QListWidgetItem*)": "Qt: void QListWidget::itemClicked(QListWidgetItem *item)",
        "currentRowChanged(int)": "Qt: void QListWidget::currentRowChanged(int currentRow)",
    }

    @_source("Qt: QListWidget::QListWidget(QWidget *parent = nullptr)")
    def __init__(self, parent=None):
        super().__init__(parent)
        self._items = []
        self._currentRow = -1

    @property
    @_source("Qt: Q_PROPERTY(int count READ count)")
    def count(self):
        return len(self._items)

    @property
    @_source("Qt: Q_PROPERTY(int currentRow READ currentRow WRITE setCurrentRow NOTIFY currentRowChanged)")
    def currentRow(self):
        return self._currentRow

    @currentRow.setter
    def currentRow(self, row):
        row = int(row) if 0 <= int(row) < len(self._items) else -1
        if row != self._currentRow:
            self._currentRow = row
            self._emit("currentRowChanged(int)", row)

    @_source("Qt: void QListWidget::addItem(const QString &label) / addItem(QListWidgetItem *item)")
    def addItem(self, item):
        self._items.append(item if isinstance(item, QListWidgetItem) else QListWidgetItem(item))

    @_source("Qt: QListWidgetItem *QListWidget::item(int row) const")
    def item(self, row):
        return self._items[row] if 0 <= row < len(self._items) else None

    @_source("Qt: int QListWidget::row(const QListWidgetItem *item) const")
    def row(self, item):
        return self._items.index(item) if item in self._items else -1

    @_source("Qt: void QListWidget::clear()")
    def clear(self):
        self._items = []
        self.currentRow = -1
