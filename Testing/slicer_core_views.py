"""Offscreen slice views of real Slicer core: what a Slicer slice view draws, to a numpy image or a PNG.

Slicer's slice view (qMRMLSliceWidget) is Qt, but what it draws is not: the slice logic
(``vtkMRMLSliceLogic``) reslices and blends the background and foreground volumes through their display
nodes (colour table, window/level, threshold, opacity), and the displayable managers of the slice-view
factory draw markups and segmentations. Here the same classes from the slicer-core wheel draw into an
offscreen VTK render window; the only part not Slicer's is the 2D image actor showing the slice logic's
blended image (in Slicer, CTK's vtkLightBoxRendererManager), which maps it 1:1 (window 255, level 127.5).
Needs :func:`slicer_core_backend.start` first (the Red, Yellow and Green slice logics are made there).
"""

import numpy as np
import vtk

#: Displayable managers of Slicer's slice views that draw what the module writes.
DISPLAYABLE_MANAGERS = ("vtkMRMLSegmentationsDisplayableManager2D", "vtkMRMLMarkupsDisplayableManager")


class OffscreenSliceView:
    """One slice view (``"Red"``: axial, ``"Yellow"``: sagittal, ``"Green"``: coronal) rendered offscreen."""

    def __init__(self, slicer, viewName="Red", size=(512, 512)):
        self.slicer = slicer
        appLogic = slicer.app.applicationLogic()
        logics = appLogic.GetSliceLogics()
        found = [logics.GetItemAsObject(i) for i in range(logics.GetNumberOfItems())]
        found = [logic for logic in found if logic.GetSliceNode() is not None and logic.GetSliceNode().GetLayoutName() == viewName]
        if not found:
            raise RuntimeError(f"No slice logic for the view '{viewName}' (start the backend first).")
        self.logic = found[0]
        self.sliceNode = self.logic.GetSliceNode()
        self.size = tuple(size)

        self.renderWindow = vtk.vtkRenderWindow()
        self.renderWindow.SetOffScreenRendering(1)
        self.renderWindow.SetSize(*self.size)
        self.renderer = vtk.vtkRenderer()
        self.renderer.GetActiveCamera().ParallelProjectionOn()
        self.renderWindow.AddRenderer(self.renderer)
        self.interactor = vtk.vtkRenderWindowInteractor()  # markups widgets need one, though nothing interacts
        self.interactor.SetRenderWindow(self.renderWindow)

        self.imageMapper = vtk.vtkImageMapper()
        self.imageMapper.SetColorWindow(255)
        self.imageMapper.SetColorLevel(127.5)
        self.imageActor = vtk.vtkActor2D()
        self.imageActor.SetMapper(self.imageMapper)
        self.imageActor.GetProperty().SetDisplayLocationToBackground()
        self.renderer.AddViewProp(self.imageActor)

        factory = slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance()
        factory.SetMRMLApplicationLogic(appLogic)
        for name in DISPLAYABLE_MANAGERS:
            if not factory.IsDisplayableManagerRegistered(name):
                factory.RegisterDisplayableManager(name)
        self.managers = slicer.vtkMRMLDisplayableManagerGroup()
        self.managers.Initialize(factory, self.renderer)
        self.managers.SetMRMLDisplayableNode(self.sliceNode)

    def show(self, background=None, foreground=None, foregroundOpacity=None, orientation="Axial"):
        """Set the layers (nodes; None keeps the current ones) and fit the view to the background, as Slicer does."""
        composite = self.logic.GetSliceCompositeNode()
        if background is not None:
            composite.SetBackgroundVolumeID(background.GetID())
        if foreground is not None:
            composite.SetForegroundVolumeID(foreground.GetID())
        if foregroundOpacity is not None:
            composite.SetForegroundOpacity(foregroundOpacity)
        self.sliceNode.SetOrientation(orientation)
        self.logic.ResizeSliceNode(*self.size)
        self.logic.FitSliceToBackground()

    def jumpTo(self, ras):
        """Move the slice to the world point ``ras`` (what a click in the panel's flagged list does)."""
        self.sliceNode.JumpSliceByOffsetting(*[float(v) for v in ras])

    def render(self):
        """The view as an (height, width, 3) uint8 RGB array, top row first."""
        self.logic.ResizeSliceNode(*self.size)
        self.imageMapper.SetInputConnection(self.logic.GetImageDataConnection())
        self.renderWindow.Render()
        grab = vtk.vtkWindowToImageFilter()
        grab.SetInput(self.renderWindow)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.Update()
        image = grab.GetOutput()
        width, height, _ = image.GetDimensions()
        from vtk.util.numpy_support import vtk_to_numpy

        return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, 3)[::-1].copy()

    def xyToRAS(self, x, y):
        """World coordinates of view pixel (x, y) (x right, y up from the bottom-left corner, as VTK counts)."""
        return np.array(self.sliceNode.GetXYToRAS().MultiplyPoint([x, y, 0.0, 1.0])[:3])

    def rasToXY(self, ras):
        """View pixel (x, y) of world point ``ras``."""
        rasToXY = vtk.vtkMatrix4x4()
        rasToXY.DeepCopy(self.sliceNode.GetXYToRAS())
        rasToXY.Invert()
        return np.array(rasToXY.MultiplyPoint([*[float(v) for v in ras], 1.0])[:2])

    def savePNG(self, path, rgb=None):
        rgb = self.render() if rgb is None else rgb
        height, width, _ = rgb.shape
        image = vtk.vtkImageData()
        image.SetDimensions(width, height, 1)
        from vtk.util.numpy_support import numpy_to_vtk

        image.GetPointData().SetScalars(numpy_to_vtk(rgb[::-1].reshape(-1, 3).copy(), deep=True, array_type=vtk.VTK_UNSIGNED_CHAR))
        writer = vtk.vtkPNGWriter()
        writer.SetFileName(str(path))
        writer.SetInputData(image)
        writer.Write()
        if writer.GetErrorCode():
            raise OSError(f"Could not write '{path}' (VTK error code {writer.GetErrorCode()}).")
        return path

    def close(self):
        self.managers.SetMRMLDisplayableNode(None)
        self.renderWindow.Finalize()
