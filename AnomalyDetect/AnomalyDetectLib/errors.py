"""Exceptions raised by AnomalyDetectLib.

Every error message is meant for a person: it names the file, node or value that was
wrong and, where possible, what to do about it. Callers (the CLI, the trainer, the
Slicer module) catch :class:`AnomalyDetectError` and show ``str(error)`` unchanged.
"""


class AnomalyDetectError(Exception):
    """Base class of every error this package raises on purpose."""


class VolumeError(AnomalyDetectError):
    """A volume could not be read, is of an unsupported shape, or holds unusable values."""


class AnnotationError(AnomalyDetectError):
    """A landmark file is unreadable, of an unsupported format, or holds unusable points."""


class BundleError(AnomalyDetectError):
    """A model bundle is missing, corrupt, truncated, of the wrong version or the wrong kind."""


class OutputError(AnomalyDetectError):
    """Results could not be written (missing or read-only folder, full disk)."""


class Cancelled(AnomalyDetectError):
    """The caller asked long-running work to stop (``should_cancel()`` returned True)."""
