"""Defaults shared by the command line, the library and the Slicer panel: one home for each.

Standard library only (nothing imported), so the Slicer module can read these when it loads,
before torch or numpy are installed in Slicer's Python.
"""

#: mm added beyond the two landmarks bounding a region of interest (``--roi-margin``, the panel's
#: *Margin*, ``RegionOfInterest.between``): a landmark marks an organ's or a vertebra's centre, so
#: the region reaches past it.
ROI_MARGIN_MM = 20.0

#: Calibrated thresholds (``trainer fit`` and ``trainer calibrate``): the slice threshold is this
#: quantile of the normal validation slices' scores, the pixel (map) threshold this quantile of
#: the normal validation pixels' map values.
SLICE_QUANTILE = 0.95
PIXEL_QUANTILE = 0.99
