"""A stand-in for the parts of 3D Slicer's Python API that AnomalyDetect uses, for CI.

Put ``Testing/slicer_standin`` first on ``sys.path`` and ``import slicer`` gives this
package instead of Slicer's. Everything here mirrors a member of Slicer's own API with
the same name and a compatible signature (the source of each is recorded in its
``__slicer_source__`` and in a comment); anything Slicer has but the stand-in does not
raises AttributeError, so code that calls an API missing here fails its test instead of
silently passing. Data live in real VTK objects (vtkImageData, vtkMatrix4x4, vtkTable).

What is not provided: Qt widgets (qMRML*, the module widget), views and layouts, events
and observers, storage nodes, undo, singletons, parameter nodes.
"""

from . import util  # noqa: F401  (slicer.util)
from ._mirror import mirrors as _mirrors
from ._mrml_display_nodes import (  # noqa: F401  (node classes exposed as slicer.vtkMRML*)
    vtkMRMLDisplayNode,
    vtkMRMLScalarVolumeDisplayNode,
    vtkMRMLVolumeDisplayNode,
)
from ._mrml_nodes import (  # noqa: F401
    vtkMRMLDisplayableNode,
    vtkMRMLLinearTransformNode,
    vtkMRMLNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLStorableNode,
    vtkMRMLTableNode,
    vtkMRMLTransformableNode,
    vtkMRMLTransformNode,
    vtkMRMLVolumeNode,
)
from ._mrml_scene import vtkMRMLScene  # noqa: F401


@_mirrors("Base/QTCore/qSlicerCoreApplication.h (class qSlicerCoreApplication : public QApplication), as slicer.app")
class qSlicerApplication:
    """``slicer.app``: only the members below exist."""

    def __init__(self):
        import tempfile

        self._temporaryPath = tempfile.gettempdir()
        self._testingEnabled = True

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

from . import ScriptedLoadableModule  # noqa: E402, F401  (needs slicer.util, imports slicer)

del _mirrors
