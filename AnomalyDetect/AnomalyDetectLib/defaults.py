"""Defaults shared by the command line, the library and the Slicer panel: one home for each.

Standard library only (nothing imported), so the Slicer module can read these when it loads,
before torch or numpy are installed in Slicer's Python.
"""

#: mm added beyond the two landmarks bounding a region of interest (``--roi-margin``, the panel's
#: *Margin*, ``RegionOfInterest.between``): a landmark marks an organ's or a vertebra's centre, so
#: the region reaches past it.
ROI_MARGIN_MM = 20.0
