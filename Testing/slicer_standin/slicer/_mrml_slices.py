"""Slice view node of the stand-in: only what scripted modules call without a view of their own.

The stand-in models ``Slicer --no-main-window``: there are no views, so the scene holds no
slice nodes and vtkMRMLSliceNode is not registered with it (AddNewNodeByClass returns None).
Each member names the Slicer header it mirrors (paths in the Slicer/Slicer repository).
"""

from ._mirror import mirrors
from ._mrml_nodes import vtkMRMLNode


@mirrors("Libs/MRML/Core/vtkMRMLSliceNode.h (class vtkMRMLSliceNode : public vtkMRMLAbstractViewNode)")
class vtkMRMLSliceNode(vtkMRMLNode):
    # vtkMRMLSliceNode.h: enum {DefaultJumpSlice=-1, CenteredJumpSlice=0, OffsetJumpSlice};
    DefaultJumpSlice = -1
    CenteredJumpSlice = 0
    OffsetJumpSlice = 1

    @mirrors("Libs/MRML/Core/vtkMRMLSliceNode.h: GetNodeTagName() returns \"Slice\"")
    def GetNodeTagName(self):
        return "Slice"

    @mirrors(
        "Libs/MRML/Core/vtkMRMLSliceNode.h: static void JumpAllSlices(vtkMRMLScene* scene, double r, double a, double s, "
        "int jumpMode = vtkMRMLSliceNode::DefaultJumpSlice, int viewGroup = -1, vtkMRMLSliceNode* exclude = nullptr)"
    )
    @staticmethod  # mirrors() outermost: the class holds the staticmethod object
    def JumpAllSlices(scene, r, a, s, jumpMode=DefaultJumpSlice, viewGroup=-1, exclude=None):
        # Slicer moves every slice node of the scene (of viewGroup, except exclude); the stand-in
        # scene has none, so it only records the request for tests.
        if scene is None:
            return  # Slicer logs "invalid scene" and returns
        scene._lastJump = (float(r), float(a), float(s), int(jumpMode))
