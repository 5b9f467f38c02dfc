"""Stand-in for ``slicer.util`` (Base/Python/slicer/util.py in Slicer/Slicer).

Each function keeps the name and signature of the Slicer function it mirrors (checked
against util.py at commit c0444d8) and the same behaviour for a headless application
without a main window. Functions that need Qt dialogs do what Slicer does when no main
window exists (log only), or answer as a user who declines (confirmations).
"""

import logging

import numpy as np
import vtk
import vtk.util.numpy_support

from ._mirror import mirrors as _mirrors

#: Messages passed to the display functions, for tests to inspect (stand-in only).
_displayedMessages = []


@_mirrors("Base/Python/slicer/util.py: def arrayFromVolume(volumeNode)")
def arrayFromVolume(volumeNode):
    scalarTypes = ["vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode"]
    vimage = volumeNode.GetImageData()
    nshape = tuple(reversed(volumeNode.GetImageData().GetDimensions()))
    if volumeNode.GetClassName() in scalarTypes:
        return vtk.util.numpy_support.vtk_to_numpy(vimage.GetPointData().GetScalars()).reshape(nshape)
    # Vector and tensor volumes are not part of the stand-in.
    raise RuntimeError("Unsupported volume type: " + volumeNode.GetClassName())


@_mirrors("Base/Python/slicer/util.py: def updateVolumeFromArray(volumeNode, narray)")
def updateVolumeFromArray(volumeNode, narray):
    vshape = tuple(reversed(narray.shape))
    if len(vshape) != 3:
        # Slicer also accepts 4D arrays for vector volumes, which the stand-in lacks.
        raise RuntimeError("Unsupported numpy array shape: " + str(narray.shape))
    vimage = volumeNode.GetImageData()
    if not vimage:
        vimage = vtk.vtkImageData()
        volumeNode.SetAndObserveImageData(vimage)
    vtype = vtk.util.numpy_support.get_vtk_array_type(narray.dtype)
    if vtype == vtk.VTK_LONG_LONG:
        raise RuntimeError("Unsupported numpy array type: long long")
    vimage.SetDimensions(vshape)
    vimage.AllocateScalars(vtype, 1)
    narrayTarget = arrayFromVolume(volumeNode)
    narrayTarget[:] = narray
    # Slicer also calls StorableModified() and fires ImageDataModifiedEvent; the stand-in has no observers.
    volumeNode.Modified()


@_mirrors("Base/Python/slicer/util.py: def addVolumeFromArray(narray, ijkToRAS=None, name=None, nodeClassName=None)")
def addVolumeFromArray(narray, ijkToRAS=None, name=None, nodeClassName=None):
    import slicer

    if name is None:
        name = ""
    if nodeClassName is None:
        nodeClassName = "vtkMRMLScalarVolumeNode"
    volumeNode = slicer.mrmlScene.AddNewNodeByClass(nodeClassName, name)
    if ijkToRAS is not None:
        if not isinstance(ijkToRAS, vtk.vtkMatrix4x4):
            ijkToRAS = vtkMatrixFromArray(ijkToRAS)
        volumeNode.SetIJKToRASMatrix(ijkToRAS)
    updateVolumeFromArray(volumeNode, narray)
    volumeNode.CreateDefaultDisplayNodes()
    return volumeNode


@_mirrors("Base/Python/slicer/util.py: def loadVolume(filename, properties={}, returnNode=False)")
def loadVolume(filename, properties={}, returnNode=False):  # noqa: B006 - Slicer's signature
    """Reads the file with SimpleITK (Slicer: its volumes IO plugin) into a scalar volume node; "name" names it."""
    import os

    import numpy as np
    import SimpleITK as sitk

    image = sitk.ReadImage(str(filename))
    direction = np.array(image.GetDirection(), dtype=float).reshape(3, 3)
    ijkToRAS = np.eye(4)
    ijkToRAS[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ direction @ np.diag(image.GetSpacing())  # LPS -> RAS
    ijkToRAS[:3, 3] = np.array(image.GetOrigin()) * [-1.0, -1.0, 1.0]
    name = properties.get("name") or os.path.basename(str(filename)).split(".")[0]
    node = addVolumeFromArray(sitk.GetArrayFromImage(image), ijkToRAS=ijkToRAS, name=name)
    return (True, node) if returnNode else node


@_mirrors("Base/Python/slicer/util.py: def arrayFromVTKMatrix(vmatrix)")
def arrayFromVTKMatrix(vmatrix):
    if isinstance(vmatrix, vtk.vtkMatrix4x4):
        matrixSize = 4
    elif isinstance(vmatrix, vtk.vtkMatrix3x3):
        matrixSize = 3
    else:
        raise RuntimeError("Input must be vtk.vtkMatrix3x3 or vtk.vtkMatrix4x4")
    narray = np.eye(matrixSize)
    for row in range(matrixSize):
        for column in range(matrixSize):
            narray[row, column] = vmatrix.GetElement(row, column)
    return narray


@_mirrors("Base/Python/slicer/util.py: def vtkMatrixFromArray(narray)")
def vtkMatrixFromArray(narray):
    narrayshape = narray.shape
    if narrayshape == (4, 4):
        vmatrix = vtk.vtkMatrix4x4()
    elif narrayshape == (3, 3):
        vmatrix = vtk.vtkMatrix3x3()
    else:
        raise RuntimeError("Unsupported numpy array shape: " + str(narrayshape) + " expected (4,4)")
    updateVTKMatrixFromArray(vmatrix, narray)
    return vmatrix


@_mirrors("Base/Python/slicer/util.py: def updateVTKMatrixFromArray(vmatrix, narray)")
def updateVTKMatrixFromArray(vmatrix, narray):
    if isinstance(vmatrix, vtk.vtkMatrix4x4):
        matrixSize = 4
    elif isinstance(vmatrix, vtk.vtkMatrix3x3):
        matrixSize = 3
    else:
        raise RuntimeError("Output vmatrix must be vtk.vtkMatrix3x3 or vtk.vtkMatrix4x4")
    if narray.shape != (matrixSize, matrixSize):
        raise RuntimeError(f"Input narray size must match output vmatrix size ({matrixSize}x{matrixSize})")
    vmatrix.DeepCopy([float(value) for value in np.asarray(narray).ravel()])


@_mirrors("Base/Python/slicer/util.py: def arrayFromTableColumn(tableNode, columnName)")
def arrayFromTableColumn(tableNode, columnName):
    columnData = tableNode.GetTable().GetColumnByName(columnName)
    return vtk.util.numpy_support.vtk_to_numpy(columnData)


@_mirrors(
    "Base/Python/slicer/util.py: def setSliceViewerLayers(background='keep-current', foreground='keep-current', "
    "label='keep-current', foregroundOpacity=None, labelOpacity=None, fit=False, rotateToVolumePlane=False)"
)
def setSliceViewerLayers(background="keep-current", foreground="keep-current", label="keep-current",
                         foregroundOpacity=None, labelOpacity=None, fit=False, rotateToVolumePlane=False):
    import slicer

    def _nodeID(nodeOrID):
        return nodeOrID.GetID() if isinstance(nodeOrID, slicer.vtkMRMLNode) else nodeOrID

    # Same loop as Slicer; the stand-in scene has no slice composite nodes (no views), so
    # this only checks the arguments. fit / rotateToVolumePlane need the layout manager,
    # which the stand-in application does not have (AttributeError, as without a GUI).
    num = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")
    for i in range(num):
        sliceViewer = slicer.mrmlScene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        if background != "keep-current":
            sliceViewer.SetBackgroundVolumeID(_nodeID(background))
        if foreground != "keep-current":
            sliceViewer.SetForegroundVolumeID(_nodeID(foreground))
        if foregroundOpacity is not None:
            sliceViewer.SetForegroundOpacity(foregroundOpacity)
        if label != "keep-current":
            sliceViewer.SetLabelVolumeID(_nodeID(label))
        if labelOpacity is not None:
            sliceViewer.SetLabelOpacity(labelOpacity)
    if rotateToVolumePlane or fit:
        slicer.app.layoutManager()


@_mirrors("Base/Python/slicer/util.py: def errorDisplay(text, windowTitle=None, parent=None, standardButtons=None, **kwargs)")
def errorDisplay(text, windowTitle=None, parent=None, standardButtons=None, **kwargs):
    # Without a main window Slicer only logs the message.
    logging.error(text)
    _displayedMessages.append(("error", text))


@_mirrors("Base/Python/slicer/util.py: def confirmOkCancelDisplay(text, windowTitle=None, parent=None, **kwargs)")
def confirmOkCancelDisplay(text, windowTitle=None, parent=None, **kwargs):
    # Nobody can press OK in a headless test: answer as a user who cancels.
    logging.info(text)
    _displayedMessages.append(("confirmOkCancel", text))
    return False


@_mirrors("Base/Python/slicer/util.py: def delayDisplay(message, autoCloseMsec=1000)")
def delayDisplay(message, autoCloseMsec=1000):
    import slicer

    logging.info(message)
    _displayedMessages.append(("delay", message))
    slicer.app.processEvents()


@_mirrors("Base/Python/slicer/util.py: def pip_install(requirements)")
def pip_install(requirements):
    raise RuntimeError(f"pip_install({requirements!r}) is not available in the Slicer stand-in used for tests.")


# --- packaging ---
# What AnomalyDetectSlicerLib/dependencies.py needs besides pip_install above; slicer.packaging
# (Slicer 5.11+) is mirrored in packaging.py beside this file.


@_mirrors("Base/Python/slicer/util.py: def mainWindow()")
def mainWindow():
    # Current Slicer takes no argument (older releases had verbose=True and printed a failure
    # message); the module calls it without arguments, which works in both. Slicer looks the main
    # window up among slicer.app.topLevelWidgets(); `Slicer --no-main-window` has none: None.
    return None


# --- plots, markups, segmentations ---
# Signatures of current Slicer's util.py (the index stores only old Slicer/Slicer versions of
# this file; checked in the forks RafaelPalomar/Slicer@afcce8f and jamesobutler/Slicer@22f9103).


@_mirrors("Base/Python/slicer/util.py: def arrayFromMarkupsControlPoints(markupsNode, world=False)")
def arrayFromMarkupsControlPoints(markupsNode, world=False):
    numberOfControlPoints = markupsNode.GetNumberOfControlPoints()
    narray = np.zeros([numberOfControlPoints, 3])
    for controlPointIndex in range(numberOfControlPoints):
        if world:
            markupsNode.GetNthControlPointPositionWorld(controlPointIndex, narray[controlPointIndex, :])
        else:
            markupsNode.GetNthControlPointPosition(controlPointIndex, narray[controlPointIndex, :])
    return narray


def _segmentReferenceVolume(segmentationNode, referenceVolumeNode):
    import slicer

    if not referenceVolumeNode:
        referenceVolumeNode = segmentationNode.GetNodeReference(slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole())
        if not referenceVolumeNode:
            raise RuntimeError(
                "No reference volume is found in the input segmentationNode, therefore a valid referenceVolumeNode input is required.")
    matrix = vtk.vtkMatrix4x4()
    referenceVolumeNode.GetIJKToRASMatrix(matrix)
    return referenceVolumeNode, arrayFromVTKMatrix(matrix)


@_mirrors("Base/Python/slicer/util.py: def arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, referenceVolumeNode=None)")
def arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, referenceVolumeNode=None):
    from ._mrml_segmentations import _resample

    referenceVolumeNode, ijkToRAS = _segmentReferenceVolume(segmentationNode, referenceVolumeNode)
    # Slicer exports the segment to a temporary labelmap volume on the reference geometry (a merged
    # labelmap: short voxels, label 1, nearest neighbour); the stand-in resamples the segment directly.
    if segmentationNode.GetSegmentation().GetSegment(segmentId) is None:
        raise RuntimeError("Export of segment failed.")
    shape = tuple(reversed(referenceVolumeNode.GetImageData().GetDimensions()))
    return _resample(segmentationNode.GetBinaryLabelmapInternalRepresentation(segmentId), shape, ijkToRAS).astype(np.int16)


@_mirrors(
    "Base/Python/slicer/util.py: def updateSegmentBinaryLabelmapFromArray(narray, segmentationNode, segmentId, referenceVolumeNode=None)"
)
def updateSegmentBinaryLabelmapFromArray(narray, segmentationNode, segmentId, referenceVolumeNode=None):
    from ._mrml_segmentations import BINARY_LABELMAP, _labelmapImage

    referenceVolumeNode, ijkToRAS = _segmentReferenceVolume(segmentationNode, referenceVolumeNode)
    segment = segmentationNode.GetSegmentation().GetSegment(segmentId)
    if segment is None:
        # Slicer imports through vtkSlicerSegmentationsModuleLogic; the stand-in only updates existing segments.
        raise RuntimeError("Importing of segment failed.")
    # Voxels > 0 are inside (Slicer normalizes the array to 0/1), on the reference volume's IJK-to-RAS;
    # 1D and 2D arrays become single-slice volumes, as in updateVolumeFromArray.
    narray = np.asarray(narray)
    narray = narray.reshape((1,) * (3 - narray.ndim) + narray.shape) if narray.ndim < 3 else narray
    segment.AddRepresentation(BINARY_LABELMAP, _labelmapImage((narray > 0).astype(np.uint8), ijkToRAS))
    segment.RemoveRepresentation("Closed surface")  # representations other than the source one are invalidated


# --- widgets ---
# Module widget support: .ui loading (see _uiloader.py), child widget lookup, observations.


@_mirrors("Base/Python/slicer/util.py: def findChildren(widget=None, name='', text='', title='', className='')")
def findChildren(widget=None, name="", text="", title="", className=""):
    import fnmatch

    if not widget:
        widget = mainWindow()
    if not widget:
        return []
    children = []
    parents = [widget]
    kwargs = {"name": name, "text": text, "title": title, "className": className}
    expected_matches = [key for key, value in kwargs.items() if value]
    while parents:
        p = parents.pop()
        if not hasattr(p, "children"):
            continue
        parents += p.children()
        matched_filter_criteria = 0
        for attribute in expected_matches:
            if hasattr(p, attribute):
                attr_name = getattr(p, attribute)
                if attribute == "className":
                    attr_name = attr_name()
                if isinstance(attr_name, str) and fnmatch.fnmatchcase(attr_name, kwargs[attribute]):
                    matched_filter_criteria += 1
        if matched_filter_criteria == len(expected_matches):
            children.append(p)
    return children


@_mirrors("Base/Python/slicer/util.py: def loadUI(path)")
def loadUI(path):
    # Slicer loads the file with qt.QUiLoader; the stand-in parses the XML (see _uiloader.py).
    import os

    from ._uiloader import loadUIFile

    if not os.path.isfile(path):
        errorMessage = "Could not load UI file: file not found " + str(path) + "\n\n"
        raise RuntimeError(errorMessage)
    widget = loadUIFile(path)
    if not widget:
        errorMessage = "Could not load UI file: " + str(path) + "\n\n"
        raise RuntimeError(errorMessage)
    return widget


@_mirrors("Base/Python/slicer/util.py: def childWidgetVariables(widget)")
def childWidgetVariables(widget):
    ui = type("", (), {})()  # empty object
    childWidgets = findChildren(widget)
    for childWidget in childWidgets:
        if hasattr(childWidget, "name"):
            setattr(ui, childWidget.name, childWidget)
    return ui


@_mirrors("Base/Python/slicer/util.py: def modulePath(moduleName)")
def modulePath(moduleName):
    import slicer

    return getattr(slicer.modules, moduleName.lower()).path  # Slicer: eval("slicer.modules.%s.path" % moduleName.lower())


@_mirrors("Base/Python/slicer/util.py: def reloadScriptedModule(moduleName)")
def reloadScriptedModule(moduleName):
    """Re-executes the module file into a fresh ``sys.modules[moduleName]`` and builds a new widget from it.

    As in Slicer, only the module file is executed again: modules it imports stay as cached in
    ``sys.modules``. Slicer hides the old widget representation's children and empties its layout
    before making the new widget in it; the stand-in has no module manager and reuses the old
    widget's parent.
    """
    import importlib.util
    import os
    import sys

    import slicer

    widgetName = moduleName + "Widget"
    filePath = modulePath(moduleName)
    folder = os.path.dirname(filePath)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(moduleName, filePath)
    reloadedModule = importlib.util.module_from_spec(spec)
    sys.modules[moduleName] = reloadedModule
    spec.loader.exec_module(reloadedModule)
    oldWidget = getattr(slicer.modules, widgetName, None)
    parent = getattr(oldWidget, "parent", None)
    if oldWidget is not None:
        oldWidget.cleanup()
    widget = getattr(reloadedModule, widgetName)(parent)
    widget.setup()
    setattr(slicer.modules, widgetName, widget)
    return reloadedModule


@_mirrors("Base/Python/slicer/util.py: class NodeModify")
class NodeModify:
    """Context manager to conveniently compress mrml node modified event."""

    @_mirrors("Base/Python/slicer/util.py: NodeModify.__init__(self, node)")
    def __init__(self, node):
        self.node = node

    def __enter__(self):
        self.wasModifying = self.node.StartModify()
        return self.node

    def __exit__(self, type, value, traceback):
        self.node.EndModify(self.wasModifying)


@_mirrors("Base/Python/slicer/util.py: class VTKObservationMixin")
class VTKObservationMixin:
    @_mirrors("Base/Python/slicer/util.py: VTKObservationMixin.__init__(self)")
    def __init__(self):
        super().__init__()
        self.__observations = {}  # {obj: {event: {method: (group, tag, priority)}}}

    @property
    @_mirrors("Base/Python/slicer/util.py: VTKObservationMixin.Observations(self)")
    def Observations(self):
        return [
            (obj, event, method, group, tag, priority)
            for obj, events in self.__observations.items()
            for event, methods in events.items()
            for method, (group, tag, priority) in methods.items()
        ]

    @_mirrors("Base/Python/slicer/util.py: VTKObservationMixin.removeObservers(self, method=None)")
    def removeObservers(self, method=None):
        for obj, events in list(self.__observations.items()):
            for _event, methods in events.items():
                for m in list(methods):
                    if method is None or m == method:
                        _group, tag, _priority = methods.pop(m)
                        obj.RemoveObserver(tag)
        if method is None:
            self.__observations.clear()

    @_mirrors("Base/Python/slicer/util.py: VTKObservationMixin.addObserver(self, obj, event, method, group='none', priority=0.0)")
    def addObserver(self, obj, event, method, group="none", priority=0.0):
        from warnings import warn

        events = self.__observations.setdefault(obj, {})
        methods = events.setdefault(event, {})
        if method in methods:
            warn("already has observer", stacklevel=2)
            return
        tag = obj.AddObserver(event, method, priority)
        methods[method] = group, tag, priority

    @_mirrors("Base/Python/slicer/util.py: VTKObservationMixin.removeObserver(self, obj, event, method)")
    def removeObserver(self, obj, event, method):
        from warnings import warn

        try:
            _group, tag, _priority = self.__observations[obj][event].pop(method)
            obj.RemoveObserver(tag)
        except KeyError:
            warn("does not have observer", stacklevel=2)

    @_mirrors("Base/Python/slicer/util.py: VTKObservationMixin.hasObserver(self, obj, event, method)")
    def hasObserver(self, obj, event, method):
        return method in self.__observations.get(obj, {}).get(event, {})
