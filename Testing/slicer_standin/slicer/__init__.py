"""A stand-in for the parts of 3D Slicer's Python API that AnomalyDetect uses, for CI.

Put ``Testing/slicer_standin`` first on ``sys.path`` and ``import slicer`` gives this
package instead of Slicer's. Everything here mirrors a member of Slicer's own API with
the same name and a compatible signature (the source of each is recorded in its
``__slicer_source__`` and in a comment); anything Slicer has but the stand-in does not
raises AttributeError, so code that calls an API missing here fails its test instead of
silently passing. Data live in real VTK objects (vtkImageData, vtkMatrix4x4, vtkTable).

Widgets (``qt``, ``ctk``, ``slicer.qMRML*``, ``slicer.util.loadUI``) and parameter nodes
(``slicer.parameterNodeWrapper``) are modelled for the module widget; observers exist only
on the scene and on parameter nodes. What is not provided: views and layouts (so no slice
nodes in the scene, and plots and markups are not drawn), storage nodes, undo, segment
representations other than binary labelmap and closed surface.
"""

from . import util  # noqa: F401  (slicer.util)
from ._mirror import mirrors as _mirrors
from ._mrml_display_nodes import (  # noqa: F401  (node classes exposed as slicer.vtkMRML*)
    vtkMRMLDisplayNode,
    vtkMRMLScalarVolumeDisplayNode,
    vtkMRMLVolumeDisplayNode,
)
from ._mrml_markups import (  # noqa: F401
    vtkMRMLMarkupsDisplayNode,
    vtkMRMLMarkupsFiducialDisplayNode,
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLMarkupsNode,
    vtkMRMLMarkupsROIDisplayNode,
    vtkMRMLMarkupsROINode,
)
from ._mrml_nodes import (  # noqa: F401
    vtkMRMLDiffusionTensorVolumeNode,
    vtkMRMLDiffusionWeightedVolumeNode,
    vtkMRMLDisplayableNode,
    vtkMRMLLabelMapVolumeNode,
    vtkMRMLLinearTransformNode,
    vtkMRMLNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLStorableNode,
    vtkMRMLTableNode,
    vtkMRMLTensorVolumeNode,
    vtkMRMLTransformableNode,
    vtkMRMLTransformNode,
    vtkMRMLVectorVolumeNode,
    vtkMRMLVolumeNode,
)
from ._mrml_plots import vtkMRMLPlotChartNode, vtkMRMLPlotSeriesNode  # noqa: F401
from ._mrml_scene import vtkMRMLScene  # noqa: F401
from ._mrml_scripted_module_node import vtkMRMLScriptedModuleNode  # noqa: F401
from ._mrml_segmentations import (  # noqa: F401  (vtkSegment, vtkSegmentation: slicer.* as in Slicer)
    vtkMRMLSegmentationDisplayNode,
    vtkMRMLSegmentationNode,
    vtkSegment,
    vtkSegmentation,
)
from ._mrml_slices import vtkMRMLSliceNode  # noqa: F401
from ._widgets import qMRMLNodeComboBox, qMRMLWidget, qSlicerScriptedLoadableModuleWidget  # noqa: F401


@_mirrors("Base/QTCore/qSlicerCoreApplication.h (class qSlicerCoreApplication : public QApplication), as slicer.app")
class qSlicerApplication:
    """``slicer.app``: only the members below exist."""

    def __init__(self):
        import tempfile

        self._temporaryPath = tempfile.gettempdir()
        self._testingEnabled = True
        #: (major, minor) of the Slicer release the stand-in behaves as: 5.8, the oldest release the
        #: extension supports (where ``connectGui`` returns None; tests may set (5, 10)).
        self._version = (5, 8)
        #: {(context, source text): translation}: empty = English, as Slicer without a language pack.
        self._translations = {}
        self._connections = {}

    @property
    @_mirrors("Base/QTCore/qSlicerCoreApplication.h: Q_PROPERTY(int majorVersion READ majorVersion CONSTANT)")
    def majorVersion(self):
        return self._version[0]

    @property
    @_mirrors("Base/QTCore/qSlicerCoreApplication.h: Q_PROPERTY(int minorVersion READ minorVersion CONSTANT)")
    def minorVersion(self):
        return self._version[1]

    @_mirrors("Qt: QCoreApplication::translate(const char* context, const char* sourceText) (Base/Python/slicer/i18n.py calls app.translate)")
    def translate(self, context, text):
        return self._translations.get((context, text), text)

    @_mirrors("Qt: QObject::connect(signal, slot) through PythonQt, on slicer.app (Base/QTGUI/qSlicerApplication.h: void startupCompleted())")
    def connect(self, signal, slot):
        self._connections.setdefault(signal, []).append(slot)
        return True

    def _emit(self, signal, *arguments):
        """Stand-in only (what the application does when it emits ``signal``): call its connected slots."""
        for slot in list(self._connections.get(signal, [])):
            slot(*arguments)

    @_mirrors(
        "Base/QTCore/qSlicerBaseQTCorePythonQtDecorators.h: void processEvents(qSlicerCoreApplication* app) "
        "(calls QCoreApplication::processEvents())"
    )
    def processEvents(self):
        pass  # no event loop in the stand-in

    @_mirrors(
        "Base/QTCore/qSlicerBaseQTCorePythonQtDecorators.h: bool static_qSlicerCoreApplication_testingEnabled() "
        "(testAttribute(AA_EnableTesting))"
    )
    def testingEnabled(self):
        return self._testingEnabled

    @property
    @_mirrors("Base/QTCore/qSlicerCoreApplication.h: Q_PROPERTY(QString temporaryPath READ temporaryPath WRITE setTemporaryPath)")
    def temporaryPath(self):
        return self._temporaryPath


#: ``slicer.app`` (Slicer: the qSlicerApplication singleton).
app = qSlicerApplication()

#: ``slicer.mrmlScene`` (Slicer: ``slicer.app.mrmlScene()``).
mrmlScene = vtkMRMLScene()

from . import (  # noqa: E402, F401  (ScriptedLoadableModule needs slicer.util; both import slicer, qt, ctk)
    ScriptedLoadableModule,
    i18n,
    parameterNodeWrapper,
)


def _createModule(name):
    # Base/Python/slicer/__init__.py: _createModule("slicer.modules", ...) makes an empty module that
    # the application fills with one attribute per loaded module (``slicer.modules.<modulename>``,
    # with ``.path``) and, for scripted modules, ``<ModuleName>Widget``. Tests fill it themselves.
    import sys
    import types

    module = types.ModuleType(name)
    sys.modules[name] = module
    return module


#: ``slicer.modules`` (empty until a test registers a module, as the application does when it loads one).
modules = _createModule("slicer.modules")
del _createModule

del _mirrors
