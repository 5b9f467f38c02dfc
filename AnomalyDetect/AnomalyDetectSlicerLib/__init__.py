"""The Slicer side of AnomalyDetect: logic, widget and self-test of the scripted module.

``AnomalyDetect.py`` (the module file Slicer loads) only declares the module and imports
these classes, so Slicer finds ``AnomalyDetectWidget`` and ``AnomalyDetectTest`` in its
namespace. Unlike AnomalyDetectLib (the core, which never imports slicer or qt), this
package needs Slicer; AnomalyDetectLib, numpy and torch are imported only inside functions.

From the Slicer Python console, either works::

    import AnomalyDetect
    logic = AnomalyDetect.AnomalyDetectLogic()

    from AnomalyDetectSlicerLib import AnomalyDetectLogic
    logic = AnomalyDetectLogic()
"""

from .logic import AnomalyDetectLogic, AnomalyDetectOutputs
from .self_test import AnomalyDetectTest
from .widget import AnomalyDetectWidget

__all__ = ["AnomalyDetectLogic", "AnomalyDetectOutputs", "AnomalyDetectTest", "AnomalyDetectWidget"]
