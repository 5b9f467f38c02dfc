"""Tests of the overview montage (AnomalyDetectLib.overview) and evaluation metrics (trainer.metrics)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from AnomalyDetectLib.errors import OutputError
from AnomalyDetectLib.overview import FRAME_ABOVE, FRAME_BELOW, heat_colours, render_overview, write_png

from trainer.metrics import pixel_metrics, plot_roc, position_matched, slice_metrics

# ---------------------------------------------------------------- overview


def test_heat_colours_shape_and_ends():
    colours = heat_colours(np.array([[0.0, 0.5, 1.0, 2.0, np.nan]]))
    assert colours.shape == (1, 5, 3) and colours.dtype == np.uint8
    assert tuple(colours[0, 0]) == (0, 0, 4)  # dark end
    assert tuple(colours[0, 2]) == (252, 255, 164)  # bright end
    assert tuple(colours[0, 3]) == tuple(colours[0, 2])  # clipped
    assert tuple(colours[0, 4]) == tuple(colours[0, 0])  # NaN -> dark end
    brightness = heat_colours(np.linspace(0, 1, 50)).astype(int).sum(axis=1)
    assert np.all(np.diff(brightness) >= 0)  # perceptually ordered: monotonically brighter


def test_render_overview_shape_and_dtype():
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(40, 60)) for _ in range(4)]
    maps = [rng.random((40, 60)) for _ in range(4)]
    rgb = render_overview(images, maps, [3, 7, 11, 15], [0.1, 0.9, 0.2, 0.8], threshold=0.5, map_threshold=0.7, columns=3, tile=64)
    assert rgb.dtype == np.uint8
    assert rgb.shape == (2 * 64, 3 * 64, 3)
    one = render_overview(images[:1], maps[:1], [3], [0.1], threshold=0.5, map_threshold=0.7, columns=3, tile=64)
    assert one.shape == (64, 64, 3)


def test_overlay_only_where_map_exceeds_threshold():
    rng = np.random.default_rng(1)
    tile = 64
    frame = max(2, tile // 64)
    size = tile - 2 * frame  # slice fills the tile exactly: no resampling
    image = rng.random((size, size))
    amap = np.zeros((size, size))
    amap[30:40, 20:45] = 0.9  # well above
    amap[45:50, 10:20] = 0.5000001  # barely above
    amap[5:10, 5:10] = 0.5  # exactly at threshold: not shown
    amap[50:55, 40:50] = 0.2  # below
    amap[12, 12] = np.nan  # missing: not shown
    kwargs = dict(threshold=1.0, map_threshold=0.5, window=(0.0, 1.0), tile=tile, annotate=False)
    with_map = render_overview([image], [amap], [0], [0.0], **kwargs)
    without = render_overview([image], [None], [0], [0.0], **kwargs)
    changed = np.any(with_map != without, axis=2)[frame:-frame, frame:-frame]
    assert np.array_equal(changed, amap > 0.5)
    # Greyscale elsewhere, heat colours (not grey) in the overlay.
    inner = with_map[frame:-frame, frame:-frame].astype(int)
    assert np.all(inner[~changed, 0] == inner[~changed, 1])
    assert np.any(inner[changed, 0] != inner[changed, 2])


def test_frame_colour_follows_score():
    images = [np.zeros((30, 30)), np.zeros((30, 30)), np.zeros((30, 30))]
    rgb = render_overview(images, [None] * 3, [1, 2, 3], [0.9, 0.1, None], threshold=0.5, map_threshold=0.5, columns=3, tile=32)
    assert tuple(rgb[0, 0]) == FRAME_ABOVE and tuple(rgb[31, 31]) == FRAME_ABOVE
    assert tuple(rgb[0, 32]) == FRAME_BELOW and tuple(rgb[31, 63]) == FRAME_BELOW
    assert tuple(rgb[0, 64]) == FRAME_BELOW  # unknown score -> grey
    # No slice threshold -> grey frames.
    rgb = render_overview(images[:1], [None], [1], [0.9], threshold=None, map_threshold=0.5, tile=32)
    assert tuple(rgb[0, 0]) == FRAME_BELOW


def test_text_is_drawn_when_annotating():
    kwargs = dict(threshold=0.5, map_threshold=0.5, window=(0.0, 1.0), tile=128)
    image = [np.zeros((100, 100))]
    plain = render_overview(image, [None], [12], [0.75], annotate=False, **kwargs)
    text = render_overview(image, [None], [12], [0.75], **kwargs)
    assert np.any(text == 255) and not np.any(plain == 255)


def test_render_overview_keeps_aspect_and_downsamples():
    image = np.ones((512, 256))
    rgb = render_overview(
        [image], [np.ones((512, 256))], [0], [0.0], threshold=1.0, map_threshold=2.0, window=(0, 1), tile=64, annotate=False
    )
    inner = rgb[2:-2, 2:-2]
    lit = np.any(inner > 0, axis=2)
    cols = np.flatnonzero(lit.any(axis=0))
    assert lit.all(axis=1).sum() == 0  # padded left and right
    assert cols.size == 30  # 60 rows high, 30 columns wide


def test_render_overview_rejects_bad_input():
    with pytest.raises(ValueError):
        render_overview([], [], [], [], threshold=0.5, map_threshold=0.5)
    with pytest.raises(ValueError):
        render_overview([np.zeros((4, 4))], [np.zeros((5, 5))], [0], [0.0], threshold=0.5, map_threshold=0.5)
    with pytest.raises(ValueError):
        render_overview([np.zeros((4, 4))], [None, None], [0], [0.0], threshold=0.5, map_threshold=0.5)


def test_write_png_round_trip(tmp_path):
    import SimpleITK as sitk

    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    path = tmp_path / "overview.png"
    write_png(rgb, path)
    back = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert back.shape == (20, 30, 3)
    assert np.array_equal(back, rgb)
    assert os.listdir(tmp_path) == ["overview.png"]  # no temporary left behind


def test_write_png_missing_folder(tmp_path):
    path = tmp_path / "missing" / "overview.png"
    with pytest.raises(OutputError) as info:
        write_png(np.zeros((4, 4, 3), dtype=np.uint8), path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- metrics


def test_slice_metrics_perfect_and_reversed():
    labels = [0, 0, 0, 1, 1]
    good = slice_metrics(labels, [0.1, 0.2, 0.3, 0.8, 0.9])
    assert good["auroc"] == pytest.approx(1.0) and good["ap"] == pytest.approx(1.0)
    assert good["sensitivity"] == 1.0 and good["specificity"] == 1.0
    assert 0.3 < good["threshold"] < 0.8  # rule: score > threshold
    assert good["n_pos"] == 2 and good["n_neg"] == 3 and good["note"] is None
    bad = slice_metrics(labels, [0.9, 0.8, 0.7, 0.2, 0.1])
    assert bad["auroc"] == pytest.approx(0.0)
    assert np.isfinite(bad["threshold"])


def test_slice_metrics_youden_point():
    # Scores 1..6; labels 0 0 1 0 1 1. Threshold between 2 and 3: sens 1, spec 2/3 (J = 2/3);
    # between 4 and 5: sens 2/3, spec 1 (J = 2/3); sklearn picks the first max on the ROC.
    labels = [0, 0, 1, 0, 1, 1]
    result = slice_metrics(labels, [1, 2, 3, 4, 5, 6])
    assert result["youden_j"] == pytest.approx(2 / 3)
    assert result["auroc"] == pytest.approx(8 / 9)
    predicted = np.array([1, 2, 3, 4, 5, 6]) > result["threshold"]
    assert np.mean(predicted[np.array(labels) == 1]) == pytest.approx(result["sensitivity"])


def test_slice_metrics_single_class_and_nonfinite():
    result = slice_metrics([1, 1, 1], [0.2, 0.5, 0.9])
    assert result["auroc"] is None and result["ap"] is None and result["threshold"] is None
    assert result["n_pos"] == 3 and result["n_neg"] == 0 and "one class" in result["note"]
    result = slice_metrics([0, 1, 1], [0.1, np.nan, 0.9])
    assert result["n_dropped"] == 1 and result["auroc"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        slice_metrics([0, 1], [0.1])


def test_pixel_metrics_dice_known_overlap():
    label = np.zeros((4, 10), dtype=np.uint8)
    label[:, :5] = 1  # 20 labelled pixels
    amap = np.zeros((4, 10))
    amap[:, 3:8] = 1.0  # 20 predicted pixels, 8 overlap
    result = pixel_metrics([label], [amap], None, threshold=0.5)
    assert result["dice"] == pytest.approx(2 * 8 / (20 + 20))
    assert result["dice_per_volume"] == [pytest.approx(0.4)]
    assert result["n_pixels"] == 40 and result["n_pos"] == 20 and not result["subsampled"]
    # Global Dice over two volumes sums counts (not the mean of per-volume Dice).
    label2 = np.zeros((4, 10), dtype=np.uint8)
    label2[0, 0] = 1
    amap2 = np.zeros((4, 10))
    result = pixel_metrics([label, label2], [amap, amap2], [None, None], threshold=0.5)
    assert result["dice"] == pytest.approx(2 * 8 / (20 + 21))
    assert result["dice_per_volume"][1] == 0.0


def test_pixel_metrics_mask_ranking_and_oracle():
    label = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    amap = np.array([[0.1, 0.2, 0.8, 0.9], [0.3, 5.0, 0.7, 0.6]])
    mask = np.array([[1, 1, 1, 1], [1, 0, 1, 1]])  # masks out the 5.0 false positive
    result = pixel_metrics([label], [amap], [mask], threshold=0.65)
    assert result["n_pixels"] == 7
    assert result["auroc"] == pytest.approx(1.0) and result["ap"] == pytest.approx(1.0)
    assert result["best_dice_oracle"] == pytest.approx(1.0)
    assert 0.3 < result["best_dice_threshold"] < 0.6
    assert result["dice"] == pytest.approx(2 * 3 / (3 + 4))  # 0.6 is not > 0.65
    unmasked = pixel_metrics([label], [amap], None, threshold=0.65)
    assert unmasked["auroc"] < 1.0


def test_pixel_metrics_subsampling_is_reported_and_seeded():
    rng = np.random.default_rng(3)
    label = rng.random((50, 50)) < 0.2
    amap = label + rng.normal(scale=0.5, size=label.shape)
    a = pixel_metrics([label], [amap], None, threshold=0.5, max_pixels=500, seed=7)
    b = pixel_metrics([label], [amap], None, threshold=0.5, max_pixels=500, seed=7)
    full = pixel_metrics([label], [amap], None, threshold=0.5)
    assert a["subsampled"] and a["n_sampled"] == 500 and "500" in a["note"]
    assert a["auroc"] == b["auroc"]
    assert a["dice"] == full["dice"]  # Dice always uses every pixel
    assert abs(a["auroc"] - full["auroc"]) < 0.05


def test_pixel_metrics_single_class():
    result = pixel_metrics([np.zeros((3, 3))], [np.ones((3, 3))], None, threshold=0.5)
    assert result["auroc"] is None and result["best_dice_oracle"] is None
    assert result["dice"] == 0.0 and "one class" in result["note"]
    result = pixel_metrics([np.zeros((3, 3))], [np.zeros((3, 3))], None, threshold=0.5)
    assert result["dice"] is None and "Dice undefined" in result["note"]


def test_position_matched_picks_nearby_slices():
    labels = np.zeros(20, dtype=int)
    labels[10:12] = 1
    scores = np.zeros(20)
    scores[10:12] = 0.5
    scores[0:3] = 0.9  # far-away normal slices scoring high: outside the window, ignored
    scores[13] = 0.1
    result = position_matched([labels], [scores], window=2)
    assert result["n_pos"] == 2 and result["n_neg"] == 4  # slices 8, 9, 12, 13
    assert result["auroc"] == pytest.approx(1.0)
    assert slice_metrics(labels, scores)["auroc"] < 1.0
    # A volume without tumour contributes nothing; a nearby high normal slice lowers the AUROC.
    scores2 = scores.copy()
    scores2[9] = 0.7
    result = position_matched([labels, np.zeros(5)], [scores2, np.ones(5)], window=2)
    assert result["n_volumes_used"] == 1 and result["n_neg"] == 4
    assert result["auroc"] == pytest.approx(6 / 8)


def test_position_matched_single_class():
    result = position_matched([np.zeros(5)], [np.arange(5.0)], window=2)
    assert result["auroc"] is None and result["n_pos"] == 0 and "one class" in result["note"]
    result = position_matched([np.ones(5)], [np.arange(5.0)], window=2)
    assert result["auroc"] is None and result["n_neg"] == 0


def test_plot_roc_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    import SimpleITK as sitk

    path = tmp_path / "roc.png"
    auroc = plot_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], path, "test ROC")
    assert auroc == pytest.approx(0.75)
    image = sitk.ReadImage(str(path))
    assert image.GetWidth() > 100 and image.GetHeight() > 100
    with pytest.raises(ValueError):
        plot_roc([1, 1], [0.1, 0.2], tmp_path / "x.png", "single class")
    with pytest.raises(OutputError):
        plot_roc([0, 1], [0.1, 0.2], tmp_path / "missing" / "roc.png", "missing folder")


def test_position_matched_handles_volumes_shorter_than_the_window():
    result = position_matched([np.array([0, 1, 0]), np.array([1, 0])], [np.array([0.1, 0.9, 0.2]), np.array([0.8, 0.3])], window=5)
    assert result["n_pos"] == 2 and result["n_neg"] == 3
    assert result["auroc"] == 1.0
