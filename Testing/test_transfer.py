"""Transfer learning helpers: lesion patch sampling, the boosting curve, frozen vs fine-tuned comparison."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from AnomalyDetectLib.landmark_detection import landmark_normaliser
from AnomalyDetectLib.models import get_method
from AnomalyDetectLib.phantom import make_head_phantom

from trainer.transfer import boosting_curve, compare, lesion_patches, summary_rows

pytestmark = pytest.mark.usefixtures("one_thread")


def _network(seed):
    torch.manual_seed(seed)
    return get_method("landmarks").build_networks({"classes": ["a", "b"]})["classifier"].eval()


def test_lesion_patches_sample_both_classes_where_they_belong():
    volume, mask = make_head_phantom(seed=5, shape=(20, 48, 48), lesion=True)
    rng = np.random.default_rng(0)
    patches, labels = lesion_patches(volume, mask, landmark_normaliser("MR"), 12, 32.0, 32, rng, margin_mm=6.0)
    assert patches.shape == (24, 3, 32, 32) and labels.sum() == 12
    centre = patches[:, :, 15:17, 15:17].mean(axis=(1, 2, 3))
    assert centre[labels == 1].mean() > centre[labels == 0].mean() + 0.2, "lesion patches are centred on the bright lesion"
    _, none_labels = lesion_patches(volume, np.zeros_like(mask), landmark_normaliser("MR"), 5, 32.0, 32, rng)
    assert none_labels.tolist() == [0] * 5


def test_boosting_curve_learns_a_separable_problem():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6))
    y = (x[:, 2] + 0.5 * x[:, 4] > 0).astype(int)
    curve = boosting_curve(x[:100], y[:100], x[100:], y[100:], counts=(1, 5, 50))
    assert sorted(curve) == [1, 5, 50]
    assert curve[50] > 0.9 and curve[50] >= curve[1]


def test_compare_leaves_the_pretrained_network_unchanged():
    pretrained = _network(0)
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(40, 3, 32, 32)).astype(np.float32)
    y = np.repeat([0, 1], 20)
    x[y == 1, :, 12:20, 12:20] += 0.8
    result = compare(pretrained, _network, x[::2], y[::2], x[1::2], y[1::2], fine_tune_epochs=3, counts=(1, 10))
    assert set(result) == {"landmark-pretrained", "random init"}
    for part in result.values():
        assert set(part["adaboost_auroc_by_learners"]) == {1, 10} and 0.0 <= part["fine_tuned_auroc"] <= 1.0
    for key, value in pretrained.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed"
    assert summary_rows([result])[2].startswith("| landmark-pretrained |")
