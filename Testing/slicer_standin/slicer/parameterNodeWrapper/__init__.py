"""Stand-in for ``slicer.parameterNodeWrapper`` (Base/Python/slicer/parameterNodeWrapper/):
typed access to a vtkMRMLScriptedModuleNode and two-way binding to widgets.

Why a stand-in: Slicer's package binds Qt widgets (PythonQt) and is not in the slicer-core wheel.
The parameter node it wraps is Slicer's own vtkMRMLScriptedModuleNode (slicer-core).

Same public names, storage format and widget connectors as Slicer for what AnomalyDetect
uses: ``parameterNodeWrapper``; the validators; serializers for int, float, str, bool and
MRML nodes (values via SetParameter; nodes via SetNodeReferenceID plus an empty parameter of
the same name); GUI connectors for QCheckBox (bool), QDoubleSpinBox (float), QComboBox
(str/int/float/bool with a Choice), ctkPathLineEdit (pathlib paths only, as in Slicer) and
qMRMLNodeComboBox (nodes). Any other widget/type pair raises RuntimeError in connectGui, as
``createGuiConnector`` does in Slicer.

Not modelled: value caching (reads go to the node each time; observable behaviour is the
same), parameterPack, lists/tuples/dicts/unions/enums, Default annotations, guiCreation,
the Decimals/SingleStep annotations.
"""

from .guiConnectors import GuiConnector, createGuiConnector, parameterNodeGuiConnector  # noqa: F401
from .serializers import (  # noqa: F401
    BoolSerializer,
    NodeSerializer,
    NumberSerializer,
    Serializer,
    StringSerializer,
    ValidatedSerializer,
    createSerializer,
)
from .validators import Choice, Exclude, IsInstance, Maximum, Minimum, NotNone, Validator, WithinRange  # noqa: F401
from .wrapper import SlicerParameterNamePropertyName, isParameterNodeWrapper, parameterNodeWrapper  # noqa: F401
