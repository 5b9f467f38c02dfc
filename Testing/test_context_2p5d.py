"""2.5D context (neighbouring slices as channels), skull-stripped inputs and intensity weighting (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest
from AnomalyDetectLib.bundle import load_bundle, save_bundle
from AnomalyDetectLib.context import SliceContext, slice_direction_sign, slice_gap_mm
from AnomalyDetectLib.errors import BundleError
from AnomalyDetectLib.intensity import IntensityWeighting, tissue_statistics
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.pipeline import Detector, detect
from AnomalyDetectLib.preprocess import has_masked_background
from AnomalyDetectLib.volume import Volume
from conftest import write_phantom_dataset
from scipy import ndimage
from volume_helpers import rotation

pytestmark = pytest.mark.usefixtures("one_thread")


def _oblique_matrix(spacing=(0.8, 0.9, 2.5)):
    matrix = np.eye(4)
    matrix[:3, :3] = rotation(0.3, -0.2, 0.4) @ np.diag(spacing)
    matrix[:3, 3] = (12.0, -30.0, 5.0)
    return matrix


def _slice_coded_voxels(slices=9, rows=5, columns=6):
    """Voxel value = 10 × k + a small in-plane pattern, so every channel's source slice can be read back."""
    pattern = np.arange(rows * columns, dtype=np.float32).reshape(rows, columns) / 100.0
    return (10.0 * np.arange(slices, dtype=np.float32)[:, None, None] + pattern[None]).astype(np.float32), pattern


def test_slice_gap_is_the_distance_between_planes_on_an_oblique_anisotropic_grid():
    matrix = _oblique_matrix()
    assert slice_gap_mm(matrix) == pytest.approx(2.5)
    sheared = matrix.copy()
    sheared[:3, 2] += 0.6 * matrix[:3, 0] / 0.8  # k also steps 0.6 mm along i: longer column, same plane distance
    assert np.linalg.norm(sheared[:3, 2]) > 2.5
    assert slice_gap_mm(sheared) == pytest.approx(2.5)


def test_context_neighbours_by_hand_on_an_oblique_anisotropic_volume():
    voxels, pattern = _slice_coded_voxels()
    matrix = _oblique_matrix()  # 2.5 mm between slices
    # 5 mm = exactly two slices; 3.75 mm = one and a half (linear interpolation)
    stacks = SliceContext(3, 5.0).gather(voxels, [4], matrix)
    assert stacks.shape == (1, 3, 5, 6) and stacks.dtype == np.float32
    sign = slice_direction_sign(matrix)
    below, above = (2, 6) if sign > 0 else (6, 2)
    np.testing.assert_allclose(stacks[0, 0], 10 * below + pattern, atol=1e-5)
    np.testing.assert_allclose(stacks[0, 1], 10 * 4 + pattern, atol=1e-5)
    np.testing.assert_allclose(stacks[0, 2], 10 * above + pattern, atol=1e-5)
    half = SliceContext(3, 3.75).gather(voxels, [4], matrix)
    np.testing.assert_allclose(half[0, 0], 10 * (4 - 1.5 * sign) + pattern, atol=1e-4)
    np.testing.assert_allclose(half[0, 2], 10 * (4 + 1.5 * sign) + pattern, atol=1e-4)
    wide = SliceContext(5, 2.5).gather(voxels, [4], matrix)
    np.testing.assert_allclose(wide[0, :, 0, 0], 10 * (4 + sign * np.array([-2, -1, 0, 1, 2])), atol=1e-5)


def test_context_replicates_the_end_slices():
    voxels, pattern = _slice_coded_voxels()
    matrix = np.diag([1.0, 1.0, 2.0, 1.0])  # k runs towards superior: channel 0 is the lower slice
    stacks = SliceContext(3, 4.0).gather(voxels, [0, 1, 8], matrix)
    np.testing.assert_allclose(stacks[0, 0], 0 + pattern, atol=1e-5)  # below slice 0: slice 0 repeated
    np.testing.assert_allclose(stacks[1, 0], 0 + pattern, atol=1e-5)  # 2 slices below slice 1 is clipped to 0
    np.testing.assert_allclose(stacks[2, 2], 80 + pattern, atol=1e-5)  # above the last slice: the last slice
    np.testing.assert_allclose(stacks[2, 0], 60 + pattern, atol=1e-5)


def test_context_channels_follow_the_patient_not_the_storage_order():
    voxels, _ = _slice_coded_voxels()
    matrix = _oblique_matrix()
    reversed_matrix = matrix.copy()
    reversed_matrix[:3, 3] += matrix[:3, 2] * (voxels.shape[0] - 1)
    reversed_matrix[:3, 2] *= -1
    context = SliceContext(3, 2.5)
    forward = context.gather(voxels, np.arange(9), matrix)
    backward = context.gather(voxels[::-1], np.arange(9), reversed_matrix)
    np.testing.assert_allclose(backward[::-1], forward, atol=1e-5)
    assert slice_direction_sign(matrix) == -slice_direction_sign(reversed_matrix)


def test_context_config_round_trip_and_errors():
    assert SliceContext.from_config(None).is_2d and SliceContext.from_config({}).channels == 1
    context = SliceContext.from_config({"slices": 3, "spacing_mm": 2.0})
    assert context.to_config() == {"slices": 3, "spacing_mm": 2.0}
    np.testing.assert_allclose(context.offsets_mm(), [-2.0, 0.0, 2.0])
    for bad in ({"slices": 2, "spacing_mm": 1.0}, {"slices": 3, "spacing_mm": 0.0}, {"slices": 3, "spacing_mm": 1, "axis": 2},
                {"slices": "three"}):
        with pytest.raises(BundleError):
            SliceContext.from_config(bad)


@pytest.fixture(scope="module")
def context_bundle_path(tmp_path_factory):
    """A tiny 2.5D translation bundle with intensity weighting and a scalp rim, trained for a few steps by the real trainer."""
    from trainer.fit import FitConfig, fit

    folder = tmp_path_factory.mktemp("context")
    data = write_phantom_dataset(str(folder / "data"), count=6, shape=(14, 40, 40))
    out = str(folder / "context.safetensors")
    fit(FitConfig(
        method="translation", data=data, out=out, input_size=32, max_steps=4, batch_size=8, device="cpu", quiet=True,
        architecture={"base_channels": 4, "n_res_blocks": 1}, context_slices=3, context_spacing_mm=3.0,
        scoring={"map": "residual_brighter", "interior_erosion_mm": 6.0,
                 "intensity_weighting": {"direction": "brighter", "offset_sd": 1.0}},
    ))
    return out


def test_context_bundle_manifest_round_trip(context_bundle_path, tmp_path):
    bundle = load_bundle(context_bundle_path)
    assert bundle.manifest["context"] == {"slices": 3, "spacing_mm": 3.0}
    assert bundle.manifest["channels"] == 3 and bundle.manifest["architecture"]["channels"] == 3
    assert bundle.manifest["scoring"]["intensity_weighting"] == {"direction": "brighter", "offset_sd": 1.0}
    detector = Detector.from_bundle(bundle, "cpu")
    assert detector.context == SliceContext(3, 3.0) and detector.intensity_weighting == IntensityWeighting("brighter", 1.0)
    # A manifest whose context disagrees with its networks' channels is refused, by name.
    broken = dict(bundle.manifest, context={"slices": 5, "spacing_mm": 3.0})
    for key in ("weights_sha256", "format_version"):
        broken.pop(key, None)
    path = str(tmp_path / "broken.safetensors")
    save_bundle(path, broken, dict(bundle.tensors))
    with pytest.raises(BundleError, match="context"):
        Detector.from_bundle(load_bundle(path), "cpu")


def test_context_map_does_not_depend_on_storage_layout(context_bundle_path):
    """k reversed and rows/columns flipped: the same anatomy gives the same map and scores (2.5D channels in patient order)."""
    bundle = load_bundle(context_bundle_path)
    volume, _ = make_head_phantom(seed=71, shape=(12, 40, 44), lesion=True, ijk_to_ras=np.diag([-1.0, -1.0, 3.0, 1.0]))
    reference = detect(volume, bundle, device="cpu")
    matrix = volume.ijk_to_ras.copy()
    stored = volume.voxels[::-1, ::-1, :]
    matrix[:3, 3] += volume.ijk_to_ras[:3, 2] * (volume.shape[0] - 1) + volume.ijk_to_ras[:3, 1] * (volume.shape[1] - 1)
    matrix[:3, 2] *= -1
    matrix[:3, 1] *= -1
    other = detect(Volume(np.ascontiguousarray(stored), matrix, "other", "MR"), bundle, device="cpu")
    np.testing.assert_allclose(other.anomaly_map, reference.anomaly_map[::-1, ::-1, :], atol=1e-5)
    np.testing.assert_allclose(other.slice_scores[::-1], reference.slice_scores, rtol=1e-4, atol=1e-6)


def _with_noisy_background(volume: Volume, seed: int = 0) -> Volume:
    """The phantom as a scanner would give it: noise in the air around the head (a masked volume has none)."""
    noise = np.abs(np.random.default_rng(seed).normal(0.0, 3.0, volume.shape))
    voxels = np.where(volume.voxels > 0, volume.voxels, noise).astype(np.float32)
    return volume.with_voxels(voxels)


def test_masked_background_is_recognised():
    volume, _ = make_head_phantom(seed=3, shape=(10, 48, 48))
    foreground = volume.voxels > 20
    assert has_masked_background(volume.voxels, foreground), "constant background (as after skull stripping)"
    noisy = _with_noisy_background(volume)
    assert not has_masked_background(noisy.voxels, noisy.voxels > 20), "noisy air around the head is a raw scan"
    shifted = volume.with_voxels(volume.voxels.astype(np.float32) - 4.2)  # z-scored data: background a negative constant
    assert has_masked_background(shifted.voxels, shifted.voxels > -4.2 + 20)


def test_skull_stripped_volume_loses_no_brain_to_the_rim(context_bundle_path):
    """With a 6 mm scalp rim configured, a masked (skull-stripped) volume keeps its whole head; a raw-looking one loses the rim."""
    bundle = load_bundle(context_bundle_path)
    stripped, _ = make_head_phantom(seed=5, shape=(12, 48, 48), lesion=True)
    raw_scan = _with_noisy_background(stripped)
    detector = Detector.from_bundle(bundle, "cpu")
    result_stripped, result_raw = detector.run(stripped), detector.run(raw_scan)
    assert result_stripped.masked_background and result_stripped.rim_mm == 0.0
    assert not result_raw.masked_background and result_raw.rim_mm == 6.0
    head = stripped.voxels > 20
    outer_band = np.stack([ndimage.distance_transform_edt(ndimage.binary_fill_holes(h)) <= 3 for h in head]) & head
    region_stripped = detector.scoring_region(stripped.voxels, detector.normaliser.fit(stripped.voxels), (1.0, 1.0), result_stripped.rim_mm)
    assert region_stripped[head].all(), "every head voxel of the skull-stripped volume is scored"
    region_raw = detector.scoring_region(raw_scan.voxels, detector.normaliser.fit(raw_scan.voxels), (1.0, 1.0), result_raw.rim_mm)
    assert region_raw[outer_band].mean() < 0.02, "the raw scan's outer rim is removed"
    assert region_raw[head].mean() < 0.8
    assert result_stripped.summary()["masked_background"] is True and result_stripped.summary()["rim_mm"] == 0.0


def test_manifest_without_new_fields_is_a_2d_model_without_weighting(trained_bundle_path, tmp_path):
    """Bundles made before context and intensity weighting existed load and run exactly as a 2D, unweighted model."""
    bundle = load_bundle(trained_bundle_path)
    manifest = {k: v for k, v in bundle.manifest.items() if k not in ("context", "weights_sha256", "format_version")}
    manifest["scoring"] = {k: v for k, v in manifest["scoring"].items() if k not in ("intensity_weighting", "rim_on_masked_background")}
    old_path = str(tmp_path / "old.safetensors")
    save_bundle(old_path, manifest, dict(bundle.tensors))
    old = Detector.from_bundle(load_bundle(old_path), "cpu")
    assert old.context.is_2d and old.intensity_weighting is None
    volume, _ = make_head_phantom(seed=9, shape=(8, 40, 40), lesion=True)
    np.testing.assert_array_equal(old.run(volume).anomaly_map, detect(volume, bundle, device="cpu").anomaly_map)


def test_intensity_weighting_by_hand():
    weighting = IntensityWeighting("brighter", 1.0)
    maps = np.array([[4.0, 4.0, 4.0, 0.0]], dtype=np.float32)
    intensities = np.array([[0.5, 0.6, 0.3, 0.9]], dtype=np.float32)
    # median 0.5, spread 0.1: z = 0, 1, −2, 4 → weights 1, 2, 0, 5
    np.testing.assert_allclose(weighting.weight(intensities, 0.5, 0.1), [[1.0, 2.0, 0.0, 5.0]], atol=1e-5)
    np.testing.assert_allclose(weighting.apply(maps, intensities, 0.5, 0.1), [[2.0, np.sqrt(8.0), 0.0, 0.0]], atol=1e-5)
    darker = IntensityWeighting("darker", 0.0)
    np.testing.assert_allclose(darker.weight(intensities, 0.5, 0.1), [[0.0, 0.0, 2.0, 0.0]], atol=1e-5)
    median, spread = tissue_statistics(np.array([0.4, 0.5, 0.6, 0.5, 0.5]))
    assert median == pytest.approx(0.5) and spread > 0
    with pytest.raises(BundleError):
        IntensityWeighting.from_config({"direction": "sideways"})
    with pytest.raises(BundleError):
        IntensityWeighting.from_config({"direction": "brighter", "gain": 2})
    assert IntensityWeighting.from_config(None) is None


def test_intensity_share_by_hand_and_old_manifests_unchanged():
    maps = np.array([[4.0, 4.0, 4.0, 0.0]], dtype=np.float32)
    intensities = np.array([[0.5, 0.6, 0.3, 0.9]], dtype=np.float32)  # weights 1, 2, 0, 5 (as above)
    leaning = IntensityWeighting.from_config({"direction": "brighter", "offset_sd": 1.0, "share": 0.75})
    expected = [[4.0 ** 0.25 * 1.0, 4.0 ** 0.25 * 2.0 ** 0.75, 0.0, 0.0]]
    np.testing.assert_allclose(leaning.apply(maps, intensities, 0.5, 0.1), expected, rtol=1e-5)
    assert leaning.to_config()["share"] == 0.75
    assert IntensityWeighting.from_config({"direction": "brighter", "offset_sd": 1.0}).to_config() == {"direction": "brighter", "offset_sd": 1.0}
    for bad in (0.0, 1.0, "half", float("nan")):
        with pytest.raises(BundleError, match="share"):
            IntensityWeighting.from_config({"direction": "brighter", "share": bad})


def test_intensity_weighted_map_is_quiet_on_tissue_darker_than_the_median(context_bundle_path):
    """The weighted map is zero wherever the input is more than offset_sd robust SDs below the tissue median (e.g. ventricles)."""
    bundle = load_bundle(context_bundle_path)
    volume, _ = make_head_phantom(seed=11, shape=(12, 40, 40), lesion=True)
    result = detect(volume, bundle, device="cpu")
    ventricles = (volume.voxels > 0) & (volume.voxels < 50)
    assert ventricles.any() and np.all(result.anomaly_map[ventricles] == 0.0)
    assert np.isfinite(result.anomaly_map).all() and result.anomaly_map.max() > 0


def test_context_bundle_runs_the_same_on_onnxruntime(context_bundle_path, tmp_path):
    """The exported graph takes the 3-channel stacks; maps (intensity weighting applied after it) agree with torch."""
    from trainer.export import export_bundle

    out = str(tmp_path / "context_onnx.safetensors")
    export_bundle(context_bundle_path, out, log=lambda message: None)
    bundle = load_bundle(out)
    assert bundle.manifest["onnx"]["input_shape"][1] == 3
    volume, _ = make_head_phantom(seed=13, shape=(10, 40, 40), lesion=True)
    with_torch = Detector.from_bundle(bundle, "cpu", backend="torch").run(volume)
    with_onnx = Detector.from_bundle(bundle, "cpu", backend="onnx").run(volume)
    span = float(with_torch.anomaly_map.max() - with_torch.anomaly_map.min()) or 1.0
    assert np.abs(with_onnx.anomaly_map - with_torch.anomaly_map).max() <= 1e-4 * span
    np.testing.assert_array_equal(with_onnx.flagged, with_torch.flagged)
