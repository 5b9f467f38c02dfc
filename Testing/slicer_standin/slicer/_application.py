"""``slicer.app`` and the entries of ``slicer.modules``: the Qt application side of Slicer.

Slicer's application object is a QApplication (qSlicerApplication) and its loaded modules are
Qt objects (qSlicerAbstractCoreModule); neither is in the slicer-core wheel (no PythonQt on PyPI).
These classes hold what the wheel does provide: the real scene, application logic and module
logics that ``Testing/slicer_core_backend.py`` builds.
"""

from ._mirror import mirrors as _mirrors


@_mirrors("Base/QTCore/qSlicerCoreApplication.h (class qSlicerCoreApplication : public QApplication), as slicer.app")
class qSlicerApplication:
    """``slicer.app``: only the members below exist; scene and application logic are Slicer's (slicer-core)."""

    def __init__(self, scene, applicationLogic):
        import tempfile

        self._scene = scene
        self._applicationLogic = applicationLogic
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

    @_mirrors("Base/QTCore/qSlicerCoreApplication.h: Q_INVOKABLE vtkMRMLScene* mrmlScene()const")
    def mrmlScene(self):
        return self._scene

    @_mirrors("Base/QTCore/qSlicerCoreApplication.h: Q_INVOKABLE vtkSlicerApplicationLogic* applicationLogic()const")
    def applicationLogic(self):
        return self._applicationLogic

    @_mirrors("Qt: QApplication::topLevelWidgets() (Base/Python/slicer/util.py lookupTopLevelWidget; none without a main window)")
    def topLevelWidgets(self):
        return []

    @property
    @_mirrors("Qt: Q_PROPERTY(QString applicationName READ applicationName) of QCoreApplication")
    def applicationName(self):
        return "Slicer"

    @property
    @_mirrors("Base/QTCore/qSlicerCoreApplication.h: Q_PROPERTY(QString temporaryPath READ temporaryPath WRITE setTemporaryPath)")
    def temporaryPath(self):
        return self._temporaryPath


@_mirrors("Base/QTCore/qSlicerAbstractCoreModule.h (class qSlicerAbstractCoreModule: slicer.modules.<name> of a loaded module)")
class qSlicerAbstractCoreModule:
    """A loaded module: its name, its file (``path``) and its logic (a real vtkSlicer*Logic)."""

    def __init__(self, name, logic=None, path=""):
        self._name = name
        self._logic = logic
        self._path = path

    @property
    @_mirrors("Base/QTCore/qSlicerAbstractCoreModule.h: Q_PROPERTY(QString name READ name)")
    def name(self):
        return self._name

    @property
    @_mirrors("Base/QTCore/qSlicerAbstractCoreModule.h: Q_PROPERTY(QString path READ path)")
    def path(self):
        return self._path

    @_mirrors("Base/QTCore/qSlicerAbstractCoreModule.h: Q_INVOKABLE vtkMRMLAbstractLogic* logic()")
    def logic(self):
        return self._logic
