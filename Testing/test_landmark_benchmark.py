"""Landmark benchmark arithmetic: identification rule, false reports, threshold choice, bootstrap, mean-position baseline."""

from __future__ import annotations

import numpy as np
from AnomalyDetectLib.landmark_detection import landmark_normaliser
from AnomalyDetectLib.volume import Volume

from trainer.landmark_benchmark import CaseRecord, MeanPositionBaseline, bootstrap, choose_threshold, group_figures, score_cases

CLASSES = ["a", "b", "c"]


def _cases():
    return [
        # a: 3 mm off (identified); b: 8 mm off but nearer to a (not identified); c not annotated, reported at 0.6
        CaseRecord("p1", {"a": [0, 0, 0], "b": [12, 0, 0]}, {"a": [3, 0, 0], "b": [4, 0, 0], "c": [50, 0, 0]},
                   {"a": 0.98, "b": 0.97, "c": 0.6}),
        # a: 20 mm off (reported, not identified); b annotated but not reported
        CaseRecord("p2", {"a": [0, 0, 0], "b": [0, 40, 0]}, {"a": [0, 0, 20]}, {"a": 0.98, "b": 0.1, "c": 0.2}),
    ]


def test_identification_needs_the_right_nearest_landmark_within_10_mm():
    figures = group_figures(score_cases(_cases(), CLASSES, 0.5), CLASSES)
    assert figures["annotated"] == 4 and figures["reported"] == 3 and figures["identified_10mm"] == 1
    assert figures["identification_rate_10mm"] == 0.25 and figures["median_error_mm"] == 8.0
    assert figures["false_reports"] == 1 and figures["absent"] == 2  # c: reported in p1, absent from both
    assert group_figures(score_cases(_cases(), CLASSES, 0.7), CLASSES)["false_reports"] == 0


def test_threshold_choice_and_bootstrap_intervals():
    assert choose_threshold(_cases(), CLASSES, [0.5, 0.7, 0.99]) == 0.7  # 0.99 loses identified a; 0.5 keeps a false report
    intervals = bootstrap(_cases(), CLASSES, 0.7, {"all": CLASSES, "a": ["a"]}, rounds=200)
    low, high = intervals["a"]["identification_rate_10mm"]
    assert low == 0.0 and high == 1.0  # one patient identifies a, the other does not
    assert intervals["all"]["median_error_mm"][0] <= 8.0 <= intervals["all"]["median_error_mm"][1]


def test_mean_position_baseline_follows_the_body_box():
    def body(offset, size):
        voxels = np.full((20, 20, 20), -1000, dtype=np.int16)
        voxels[offset:offset + size, offset:offset + size, offset:offset + size] = 40
        return Volume(voxels, np.eye(4), "body")

    baseline = MeanPositionBaseline(landmark_normaliser("CT")).fit([(body(2, 10), {"x": np.array([2.0, 2.0, 2.0])}),
                                                                   (body(4, 10), {"x": np.array([13.0, 13.0, 13.0])})])
    np.testing.assert_allclose(baseline.fractions["x"], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(baseline.predict(body(5, 11))["x"], [10.0, 10.0, 10.0])


def test_field_of_view_cuts_keep_voxels_in_place_and_leave_whole_organs_out():
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "benchmarks"))
    from landmarks_fov import crop_slices, organ_slices, slabs

    ijk_to_ras = np.array([[-2.0, 0, 0, 5.0], [0, -2.0, 0, 7.0], [0, 0, -2.5, 30.0], [0, 0, 0, 1]])
    volume = Volume(np.arange(40 * 4 * 4, dtype=np.int16).reshape(40, 4, 4), ijk_to_ras)
    cut = crop_slices(volume, 12, 30)
    assert cut.shape == (18, 4, 4) and (cut.voxels == volume.voxels[12:30]).all()
    corner = np.array([1, 2, 3, 1.0])  # voxel (i, j, k) = (1, 2, 3) of the cut is voxel (1, 2, 15) of the volume
    np.testing.assert_allclose(cut.ijk_to_ras @ corner, volume.ijk_to_ras @ np.array([1, 2, 15, 1.0]))

    labels = np.zeros((60, 4, 4), dtype=np.uint8)
    labels[5:12, 1, 1] = 1   # brainstem (head)
    labels[8:15, 2, 2] = 7   # mandible (head)
    labels[30:36, 1, 2] = 6  # larynx (neck); k grows towards the feet
    extents = organ_slices(labels)
    assert extents == {"Brainstem": (5, 11), "Mandible": (8, 14), "Larynx": (30, 35)}
    # 4-slice margin: neck keeps k ≥ 14 + 4 + 1; head keeps k < 30 − 4
    assert slabs(extents, 60, inferior_step=True, margin=4) == {"neck": (19, 60), "head": (0, 26)}
    assert slabs(extents, 60, inferior_step=True, margin=20) == {"neck": (35, 60)}, "slabs under 16 slices are dropped"
