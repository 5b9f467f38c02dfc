"""AnomalyDetectLib: the Slicer-free core of AnomalyDetect.

Volumes in (k, j, i) order with an IJK→RAS matrix (:mod:`.volume`), intensity
normalisation (:mod:`.preprocess`), 2.5D patches (:mod:`.patches`), GMS maps
(:mod:`.gms`), model bundles (:mod:`.bundle`), the method registry (:mod:`.models`),
inference backends (:mod:`.backends`) and detection (:mod:`.pipeline`). Never imports
slicer, qt or the trainer; torch is imported only where networks run, so manifests can
be read without it, and detection with an exported model needs only onnxruntime.
"""

__version__ = "0.1.0"
