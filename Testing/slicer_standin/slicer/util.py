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
