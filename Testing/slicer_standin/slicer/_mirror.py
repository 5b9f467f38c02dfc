"""Bookkeeping for the stand-in: every public function, class and method records the
Slicer source it mirrors, so a test can check that nothing unverified slips in.

Not part of Slicer's API (private module of the stand-in).
"""


def mirrors(source):
    """Mark ``obj`` as mirroring ``source`` (a path in the Slicer/Slicer repository, with detail)."""

    def mark(obj):
        obj.__slicer_source__ = source
        return obj

    return mark
