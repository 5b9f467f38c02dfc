"""Regions of interest: construction, slice and pixel masks, and detection restricted to them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.cli import main as cli_main
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.pipeline import detect
from AnomalyDetectLib.roi import RegionOfInterest
from AnomalyDetectLib.volume import Volume, write_volume

pytestmark = pytest.mark.usefixtures("one_thread")


def _slice_z(volume: Volume) -> np.ndarray:
    return volume.ijk_to_ras[2, 3] + np.arange(volume.shape[0]) * volume.ijk_to_ras[2, 2]


def test_construction_and_errors():
    roi = RegionOfInterest.between({"T12": (0.0, 10.0, 100.0), "L5": (5.0, -3.0, 40.0)}, "T12", "L5", margin_mm=10)
    assert roi.lower == (-np.inf, -np.inf, 30.0) and roi.upper == (np.inf, np.inf, 110.0)
    assert "T12" in roi.source and roi.describe()["lower_ras_mm"] == [None, None, 30.0]
    box = RegionOfInterest.between({"a": (0, 0, 0), "b": (10, 20, 30)}, "a", "b", margin_mm=0, axes="RAS")
    assert box.contains(np.array([[5, 5, 5], [11, 5, 5]])).tolist() == [True, False]
    assert RegionOfInterest.z_range(50, 20).lower[2] == 20
    with pytest.raises(AnomalyDetectError, match=r"\['L5'\] not found"):
        RegionOfInterest.between({"T12": (0, 0, 0)}, "T12", "L5")
    with pytest.raises(AnomalyDetectError, match="empty"):
        RegionOfInterest((0, 0, 10), (1, 1, 5))
    with pytest.raises(AnomalyDetectError, match="axes"):
        RegionOfInterest.between({"a": (0, 0, 0), "b": (1, 1, 1)}, "a", "b", axes="XY")


def test_pixel_and_slice_masks_follow_geometry():
    matrix = np.array([[-0.5, 0, 0, 10.0], [0, -0.5, 0, 20.0], [0, 0, 2.0, -5.0], [0, 0, 0, 1]])
    volume = Volume(np.zeros((10, 8, 12), dtype=np.int16), matrix)
    roi = RegionOfInterest.box((6.0, -100, 0.0), (100, 100, 6.0))  # x ≥ 6 mm: columns i ≤ 8; z 0..6: k 3..5
    assert np.flatnonzero(roi.slice_mask(volume)).tolist() == [3, 4, 5]
    mask = roi.pixel_masks(volume, [4])[0]
    assert mask[:, :9].all() and not mask[:, 9:].any()


def test_detection_inside_a_z_range_matches_the_whole_volume_run(trained_bundle_path):
    bundle = load_bundle(trained_bundle_path)
    volume, _ = make_head_phantom(seed=70, shape=(20, 48, 48), lesion=True)
    whole = detect(volume, bundle, device="cpu")
    z = _slice_z(volume)
    roi = RegionOfInterest.z_range(z[6] - 0.1, z[13] + 0.1)
    part = detect(volume, bundle, device="cpu", roi=roi)
    inside = np.zeros(20, dtype=bool)
    inside[6:14] = True
    np.testing.assert_array_equal(part.skipped, ~inside)
    assert np.all(part.slice_scores[~inside] == 0) and not part.flagged[~inside].any()
    assert not part.anomaly_map[~inside].any()
    np.testing.assert_allclose(part.raw_slice_scores[inside], whole.raw_slice_scores[inside], rtol=1e-5)
    np.testing.assert_allclose(part.anomaly_map[inside], whole.anomaly_map[inside], atol=1e-6)
    summary = part.summary()
    assert summary["skipped_slices"] == [k for k in range(20) if not inside[k]] and summary["roi"]["source"] == "user"
    assert whole.summary()["roi"] is None and whole.summary()["skipped_slices"] == []


def test_a_box_roi_zeroes_the_map_outside_it(trained_bundle_path):
    bundle = load_bundle(trained_bundle_path)
    volume, _ = make_head_phantom(seed=71, shape=(12, 48, 48), lesion=True)
    roi = RegionOfInterest.box((-1000, -20.0, -1000), (1000, 1000, 1000))  # y ≥ -20 mm: rows j ≤ 20
    result = detect(volume, bundle, device="cpu", roi=roi)
    outside = ~np.stack([roi.pixel_masks(volume, [k])[0] for k in range(12)])
    assert outside.any() and not result.anomaly_map[outside].any()
    assert result.anomaly_map[~outside].any()


def test_cli_reports_the_roi(trained_bundle_path, tmp_path):
    volume, _ = make_head_phantom(seed=72, shape=(16, 40, 40), lesion=True)
    path = tmp_path / "v.nii.gz"
    write_volume(volume, str(path))
    z = _slice_z(volume)
    out = tmp_path / "out"
    code = cli_main(["detect", str(path), "--model", trained_bundle_path, "--out", str(out), "--quiet",
                     "--roi-z", f"{z[4]:.3f}", f"{z[9]:.3f}"])
    assert code == 0
    summary = json.loads((out / "v_summary.json").read_text())
    assert summary["skipped_slices"] == [0, 1, 2, 3, 10, 11, 12, 13, 14, 15]
    rows = (out / "v_slices.csv").read_text().splitlines()
    assert rows[0] == "slice,position_mm,score,flagged,skipped" and rows[1].endswith(",1") and rows[6].endswith(",0")


def test_a_region_missing_the_volume_is_an_error_and_a_thin_slab_still_meets_its_slice(trained_bundle_path):
    bundle = load_bundle(trained_bundle_path)
    volume, _ = make_head_phantom(seed=73, shape=(10, 40, 40))
    z = _slice_z(volume)  # 2 mm apart
    with pytest.raises(AnomalyDetectError, match="does not meet"):
        detect(volume, bundle, device="cpu", roi=RegionOfInterest.z_range(z[-1] + 50, z[-1] + 60))
    thin = RegionOfInterest.z_range(z[4] + 0.3, z[4] + 0.6)  # inside slice 4's slab, between pixel-centre planes
    assert np.flatnonzero(thin.slice_mask(volume)).tolist() == [4]
    box = RegionOfInterest.box((-1000, -1000, z[4] + 0.3), (1000, 1000, z[4] + 0.6))
    assert np.flatnonzero(box.slice_mask(volume)).tolist() == [4] and box.pixel_masks(volume, [4]).all()
