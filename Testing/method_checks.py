"""Checks every method's test module makes of its small trained bundle (shared, so each method test states only what differs).

Not a test module itself: ``Testing/test_method_*.py`` import these.
"""

import numpy as np
import torch
from AnomalyDetectLib.models import get_method
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.pipeline import Detector, detect
from AnomalyDetectLib.preprocess import resize_slices
from sklearn.metrics import roc_auc_score

OBLIQUE = np.array([[0.0, -0.9, 0.1, 12.0], [-0.8, 0.0, 0.0, -30.0], [0.0, 0.05, 2.5, 7.0], [0, 0, 0, 1]])

#: Held-out phantoms of the tiny-training tests: 12 heads no model trains on, each with a lesion of
#: radius 0.3 of the head's half-width (the training phantoms' lesions are 0.22). With 6 phantoms and
#: the training size of lesion, the slice AUROC of one tiny GANomaly ranged 0.66-0.89 over training
#: seeds 0-3 (slices that hold a sliver of lesion decide it, and 0.78 on another machine's torch); with
#: these it was 0.86-0.98 over seeds 0-4, and every method kept a margin of at least 0.06 to its bound.
HELD_OUT_SEEDS = range(100, 112)
HELD_OUT_LESION_RADIUS = 0.3


def held_out_phantoms():
    """``(volume, lesion mask)`` of each held-out phantom (24×48×48)."""
    for seed in HELD_OUT_SEEDS:
        yield make_head_phantom(seed=seed, shape=(24, 48, 48), lesion=True, lesion_radius=HELD_OUT_LESION_RADIUS)


def check_networks_match_the_bundle(bundle):
    """The bundle builds networks in eval mode whose tensors are exactly the stored ones, with the method's own names and shapes."""
    networks = bundle.build_networks("cpu")
    assert not any(module.training for module in networks.modules())
    fresh = get_method(bundle.manifest["method"]).build_networks(bundle.manifest["architecture"]).state_dict()
    assert set(fresh) == set(bundle.tensors)
    for name, value in networks.state_dict().items():
        assert value.shape == fresh[name].shape
        np.testing.assert_array_equal(value.numpy(), bundle.tensors[name].astype(value.numpy().dtype))
    return networks


def check_detect_keeps_the_input_grid(bundle, shape=(10, 40, 56), ijk_to_ras=None):
    """Map on the input grid (float32), one finite score per slice, 0 where nothing was scored and in the background."""
    volume, _ = make_head_phantom(seed=60, shape=shape, lesion=True, ijk_to_ras=ijk_to_ras)
    result = detect(volume, bundle, device="cpu")
    assert result.anomaly_map.shape == volume.voxels.shape and result.anomaly_map.dtype == np.float32
    assert result.slice_scores.shape == (shape[0],) and np.all(np.isfinite(result.slice_scores))
    assert np.all(result.slice_scores[~result.scored] == 0)
    assert np.all(result.anomaly_map[volume.voxels == 0] == 0)
    return result


def held_out_slice_auroc(bundle):
    """Slice AUROC of lesion vs normal slices over the held-out phantoms (scored slices only)."""
    labels, scores = [], []
    for volume, mask in held_out_phantoms():
        result = detect(volume, bundle, device="cpu")
        labels.append(mask.any(axis=(1, 2))[result.scored])
        scores.append(result.slice_scores[result.scored])
    return roc_auc_score(np.concatenate(labels), np.concatenate(scores))


def image_scoring_inputs(bundle, size=32):
    """For image-score checks: ``(networks, method, detector, volume, images)``, with ``detector`` scoring slices
    by the method's image score (no level calibration) and ``images`` the phantom's slices as detection sees them."""
    networks = bundle.build_networks("cpu")
    volume, _ = make_head_phantom(seed=61, shape=(8, 48, 48), lesion=True)
    manifest = dict(bundle.manifest, scoring=dict(bundle.manifest["scoring"], slice_score="image", level_calibration=False))
    detector = Detector(manifest, networks, "cpu")
    images = torch.from_numpy(resize_slices(detector.normaliser.fit(volume.voxels).apply(volume.voxels), size))[:, None]
    return networks, get_method(bundle.manifest["method"]), detector, volume, images


def check_analyse_leaves_the_networks_untouched(bundle, map_kind, size=32):
    """``analyse`` builds no graph, leaves no gradient, keeps eval mode and changes no tensor (batch-norm statistics included)."""
    import copy

    networks = bundle.build_networks("cpu")
    before = copy.deepcopy(networks.state_dict())
    images = torch.rand(4, 1, size, size)
    with torch.enable_grad():  # even when gradients are on
        maps, image_scores = get_method(bundle.manifest["method"]).analyse(networks, images, map_kind)
    assert not maps.requires_grad and not image_scores.requires_grad
    assert all(parameter.grad is None for parameter in networks.parameters())
    assert not any(module.training for module in networks.modules())
    for name, value in networks.state_dict().items():
        assert torch.equal(value, before[name]), f"{name} changed"
