"""Stand-in for Slicer's ``ctk`` module (CTK widgets): empty.

Only module widgets use CTK, and they cannot run without Qt; any attribute access raises
AttributeError.
"""
