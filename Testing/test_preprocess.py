"""Normalisation, foreground and scoring-region masks, slice resampling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from AnomalyDetectLib.errors import BundleError
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.preprocess import CTWindow, MRPercentile, interior_mask, normaliser_from_config, resize_slices, restore_slices


def test_mr_normalisation_is_scale_free_and_bounded():
    volume, _ = make_head_phantom(seed=1, shape=(8, 40, 40))
    normaliser = MRPercentile()
    small = normaliser.fit(volume.voxels).apply(volume.voxels)
    large = normaliser.fit(volume.voxels.astype(np.float32) * 17.0).apply(volume.voxels.astype(np.float32) * 17.0)
    np.testing.assert_allclose(small, large, atol=1e-5)
    assert small.min() >= 0.0 and small.max() <= 1.0
    scale = normaliser.fit(volume.voxels)
    foreground, head = normaliser.foreground(volume.voxels, scale), volume.voxels > 0
    assert not (foreground & ~head).any(), "background is never foreground"
    assert foreground[head].mean() > 0.99, "dark ventricles may drop out, but almost all of the head is foreground"


def test_ct_window_and_body_foreground():
    hu = np.array([[[-1000, -400, -160, 40, 240, 1200]]], dtype=np.int16)
    window = CTWindow(low_hu=-160, high_hu=240, body_hu=-500)
    scale = window.fit(hu)
    np.testing.assert_allclose(scale.apply(hu)[0, 0], [0, 0, 0, 0.5, 1, 1])
    np.testing.assert_array_equal(window.foreground(hu, scale)[0, 0], [False, True, True, True, True, True])


def test_normaliser_config_round_trip_and_errors():
    assert normaliser_from_config(MRPercentile(high_percentile=98.0).to_config()) == MRPercentile(high_percentile=98.0)
    assert normaliser_from_config(CTWindow().to_config()) == CTWindow()
    with pytest.raises(BundleError, match="Unknown normalisation"):
        normaliser_from_config({"kind": "pet_suv"})
    with pytest.raises(BundleError, match="unknown settings"):
        normaliser_from_config({"kind": "ct_window", "gamma": 2})


def test_resize_and_restore_keep_aspect_and_shape():
    slices = np.zeros((2, 30, 60), dtype=np.float32)
    slices[:, 10:20, 40:50] = 1.0
    small = resize_slices(slices, 32)
    assert small.shape == (2, 32, 32)
    # padded to 60 × 60 first: the square sits at rows 10–20, columns 40–50 of 60 → scaled by 32/60
    assert small[0, 8, 23] > 0.5 and small[0, 20, 23] == 0.0
    restored = restore_slices(small, (30, 60))
    assert restored.shape == (2, 30, 60)
    assert restored[0, 15, 45] > 0.5 and restored[0, 2, 5] < 0.05


def test_interior_mask_fills_holes_and_erodes_in_millimetres():
    rows, columns = np.mgrid[0:41, 0:41]
    disk = (rows - 20) ** 2 + (columns - 20) ** 2 <= 18**2
    ring = disk & ((rows - 20) ** 2 + (columns - 20) ** 2 > 4**2)  # a "ventricle" hole in the middle
    filled = interior_mask(ring[None], (1.0, 1.0), 0.0)[0]
    np.testing.assert_array_equal(filled, disk)
    eroded = interior_mask(ring[None], (1.0, 1.0), 5.0)[0]
    assert eroded[20, 20] and eroded[20, 20 + 12] and not eroded[20, 20 + 14]
    # with 2 mm columns the same 5 mm rim is 2.5 columns wide but 5 rows tall
    anisotropic = interior_mask(ring[None], (1.0, 2.0), 5.0)[0]
    assert anisotropic[20, 20 + 15] and not anisotropic[20 + 14, 20]
    assert not interior_mask(np.zeros((1, 5, 5), dtype=bool), (1.0, 1.0), 3.0).any()


def _deciles(normalised, foreground):
    return np.percentile(normalised[foreground], [10, 30, 50, 70, 90])


def test_histogram_standardisation_undoes_a_scanner_curve_that_percentile_scaling_keeps():
    from AnomalyDetectLib.preprocess import MRHistogram, fit_histogram_standard

    reference = make_head_phantom(seed=2, shape=(10, 48, 48))[0].voxels.astype(np.float32)
    # Another "scanner": the same anatomy through a monotone, non-linear grey-level curve.
    curved = 900.0 * (reference / reference.max()) ** 2.2 + 7.0
    standard = fit_histogram_standard(MRHistogram(), [reference])
    head = reference > 0
    target = _deciles(MRPercentile().fit(reference).apply(reference), head)
    by_percentile = _deciles(MRPercentile().fit(curved).apply(curved), head)
    by_histogram = _deciles(standard.fit(curved).apply(curved), head)
    assert np.abs(by_percentile - target).max() > 0.1, "percentile scaling keeps the curve"
    assert np.abs(by_histogram - target).max() < 0.03, "the standard scale maps the curve back"
    # fitted on that one volume, the standardisation is (up to tie-breaking) plain percentile scaling of it
    np.testing.assert_allclose(standard.fit(reference).apply(reference), MRPercentile().fit(reference).apply(reference), atol=2e-3)


def test_histogram_scale_is_monotone_bounded_and_extends_past_its_knots():
    from AnomalyDetectLib.preprocess import PiecewiseScale

    scale = PiecewiseScale((10.0, 20.0, 40.0), (0.0, 0.5, 0.9))
    values = scale.apply(np.array([0.0, 10.0, 15.0, 20.0, 30.0, 40.0, 45.0, 1e6], dtype=np.float32))
    np.testing.assert_allclose(values, [0.0, 0.0, 0.25, 0.5, 0.7, 0.9, 1.0, 1.0], atol=1e-6)
    assert scale.low == 10.0


def test_histogram_normaliser_config_round_trip_and_errors():
    from AnomalyDetectLib.preprocess import MRHistogram, fit_histogram_standard

    fitted = fit_histogram_standard(MRHistogram(), [make_head_phantom(seed=3, shape=(8, 40, 40))[0].voxels])
    assert normaliser_from_config(json.loads(json.dumps(fitted.to_config()))) == fitted
    with pytest.raises(BundleError, match="no fitted standard"):
        MRHistogram().fit(np.arange(1000.0).reshape(10, 10, 10))
    config = fitted.to_config()
    for bad in ({"standard": [0.2, 0.3]}, {"standard": [0.9, *config["standard"][1:]]}, {"standard": ["x"] * 9},
                {"percentiles": [50, 10]}, {"standard": [float("nan")] * 9}):
        with pytest.raises(BundleError):
            normaliser_from_config({**config, **bad})
