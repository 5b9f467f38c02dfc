"""Slicer's Qt widget classes in the stand-in (exposed as ``slicer.qMRML*`` / ``slicer.qSlicer*``).

Why a stand-in: qMRMLWidgets are Qt classes, not in the slicer-core wheel; the scene they show is Slicer's own.

Built on the ``qt`` stand-in (PythonQt-style signals and properties). There is no Qt model of the
scene behind them, so the node combo box reads the scene when asked instead of
observing it: a node removed from the scene stops being the current node without a
``currentNodeChanged`` signal, and a node added to an empty combo box is not selected
automatically (the widget selects the first volume itself, as the module template does).
"""

import qt
from qt._core import _source
from qt._core import qproperty as _qproperty


@_source("Libs/MRML/Widgets/qMRMLWidget.h (class qMRMLWidget : public QWidget)")
class qMRMLWidget(qt.QWidget):
    _SIGNALS = {"mrmlSceneChanged(vtkMRMLScene*)": "Libs/MRML/Widgets/qMRMLWidget.h: void mrmlSceneChanged(vtkMRMLScene*)"}

    @_source("Libs/MRML/Widgets/qMRMLWidget.h: qMRMLWidget(QWidget *parent=nullptr)")
    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None

    @_source("Libs/MRML/Widgets/qMRMLWidget.h: virtual void setMRMLScene(vtkMRMLScene* newScene) (public slot; emits mrmlSceneChanged)")
    def setMRMLScene(self, newScene):
        if newScene is self._scene:
            return
        self._scene = newScene
        self._emit("mrmlSceneChanged(vtkMRMLScene*)", newScene)

    @_source("Libs/MRML/Widgets/qMRMLWidget.h: Q_INVOKABLE vtkMRMLScene* mrmlScene()const")
    def mrmlScene(self):
        return self._scene


@_source("Base/QTGUI/qSlicerScriptedLoadableModuleWidget.h (class qSlicerScriptedLoadableModuleWidget : public qSlicerAbstractModuleWidget)")
class qSlicerScriptedLoadableModuleWidget(qMRMLWidget):
    """The parent Slicer gives a scripted module's widget; ``isEntered`` tells whether the module is shown."""

    @property
    @_source("Base/QTGUI/qSlicerAbstractModuleWidget.h: Q_PROPERTY(bool isEntered READ isEntered)")
    def isEntered(self):
        return self._props.get("isEntered", False)

    @_source("Base/QTGUI/qSlicerAbstractModuleWidget.h: virtual void enter() (the module is shown)")
    def enter(self):
        self._props["isEntered"] = True

    @_source("Base/QTGUI/qSlicerAbstractModuleWidget.h: virtual void exit() (another module is shown)")
    def exit(self):
        self._props["isEntered"] = False


@_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h (class qMRMLNodeComboBox : public qMRMLWidget)")
class qMRMLNodeComboBox(qMRMLWidget):
    _SIGNALS = {
        "currentNodeChanged(vtkMRMLNode*)": "Libs/MRML/Widgets/qMRMLNodeComboBox.h: void currentNodeChanged(vtkMRMLNode* node)",
        "currentNodeChanged(bool)": "Libs/MRML/Widgets/qMRMLNodeComboBox.h: void currentNodeChanged(bool validNode)",
        "currentNodeIDChanged(QString)": "Libs/MRML/Widgets/qMRMLNodeComboBox.h: void currentNodeIDChanged(const QString& id)",
    }
    nodeTypes = _qproperty("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_PROPERTY(QStringList nodeTypes READ nodeTypes WRITE setNodeTypes)",
                           "nodeTypes", (), tuple)
    showHidden = _qproperty("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_PROPERTY(bool showHidden READ showHidden WRITE setShowHidden)",
                            "showHidden", False, bool)
    showChildNodeTypes = _qproperty(
        "Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_PROPERTY(bool showChildNodeTypes READ showChildNodeTypes WRITE setShowChildNodeTypes)",
        "showChildNodeTypes", True, bool)
    noneEnabled = _qproperty("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_PROPERTY(bool noneEnabled READ noneEnabled WRITE setNoneEnabled)",
                             "noneEnabled", False, bool)
    addEnabled = _qproperty("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_PROPERTY(bool addEnabled READ addEnabled WRITE setAddEnabled)",
                            "addEnabled", True, bool)
    removeEnabled = _qproperty("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_PROPERTY(bool removeEnabled READ removeEnabled WRITE setRemoveEnabled)",
                               "removeEnabled", True, bool)
    selectNodeUponCreation = _qproperty(
        "Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_PROPERTY(bool selectNodeUponCreation READ selectNodeUponCreation WRITE setSelectNodeUponCreation)",
        "selectNodeUponCreation", True, bool)

    @_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h: qMRMLNodeComboBox(QWidget* parent = nullptr)")
    def __init__(self, parent=None):
        super().__init__(parent)
        self._currentNode = None

    def _accepts(self, node):
        if node is None or self._scene is None or node.GetScene() is not self._scene:
            return False
        if self.showChildNodeTypes:
            return any(node.IsA(nodeType) for nodeType in self.nodeTypes)
        return node.GetClassName() in self.nodeTypes

    @_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_INVOKABLE int nodeCount()const")
    def nodeCount(self):
        return len(self._nodes())

    @_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_INVOKABLE vtkMRMLNode* nodeFromIndex(int index)const")
    def nodeFromIndex(self, index):
        nodes = self._nodes()
        return nodes[index] if 0 <= index < len(nodes) else None

    def _nodes(self):
        if self._scene is None:
            return []
        nodes = [self._scene.GetNthNode(n) for n in range(self._scene.GetNumberOfNodes())]
        return [node for node in nodes if self._accepts(node)]

    @_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_INVOKABLE vtkMRMLNode* currentNode()const")
    def currentNode(self):
        return self._currentNode if self._accepts(self._currentNode) else None

    @property
    @_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h: Q_PROPERTY(QString currentNodeID READ currentNodeID WRITE setCurrentNodeID "
             "NOTIFY currentNodeIDChanged)")
    def currentNodeID(self):
        node = self.currentNode()
        return node.GetID() if node is not None else ""

    @currentNodeID.setter
    def currentNodeID(self, nodeID):
        self.setCurrentNodeID(nodeID)

    @_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h: void setMRMLScene(vtkMRMLScene* scene) override (public slot)")
    def setMRMLScene(self, scene):
        super().setMRMLScene(scene)
        if self._currentNode is not None and not self._accepts(self._currentNode):
            self.setCurrentNode(None)

    @_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h: void setCurrentNode(vtkMRMLNode* newCurrentNode) "
             "(public slot; a node not listed gives no current node)")
    def setCurrentNode(self, newCurrentNode):
        node = newCurrentNode if self._accepts(newCurrentNode) else None
        if node is self._currentNode:
            return
        self._currentNode = node
        self._emit("currentNodeChanged(vtkMRMLNode*)", node)
        self._emit("currentNodeChanged(bool)", node is not None)
        self._emit("currentNodeIDChanged(QString)", node.GetID() if node is not None else "")

    @_source("Libs/MRML/Widgets/qMRMLNodeComboBox.h: void setCurrentNodeID(const QString& nodeID) (public slot)")
    def setCurrentNodeID(self, nodeID):
        self.setCurrentNode(self._scene.GetNodeByID(nodeID) if self._scene is not None and nodeID else None)
