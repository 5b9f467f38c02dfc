"""The pseudo-lesion synthesiser (AnomalyDetectLib/pseudolesion.py) on phantom slices at 64×64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.preprocess import MRPercentile, resize_slices
from AnomalyDetectLib.pseudolesion import PseudoLesionConfig, add_pseudo_lesions, erode, filled_foreground

pytestmark = pytest.mark.usefixtures("one_thread")



@pytest.fixture(scope="module")
def slices() -> torch.Tensor:
    """16 normal phantom slices (4 phantoms × 4 middle slices), normalised and resized as the trainer does."""
    images = []
    for seed in range(4):
        volume, _ = make_head_phantom(seed=seed, shape=(24, 64, 64))
        scale = MRPercentile().fit(volume.voxels)
        images.append(resize_slices(scale.apply(volume.voxels[8:16:2]), 64))
    return torch.from_numpy(np.concatenate(images))[:, None]


def test_lesions_lie_inside_the_eroded_foreground_and_nothing_else_changes(slices):
    config = PseudoLesionConfig()
    lesioned, masks = add_pseudo_lesions(slices, config, seed=0)
    assert lesioned.shape == slices.shape and masks.shape == (len(slices), 1, 64, 64) and masks.dtype == slices.dtype
    assert float(masks.min()) >= 0.0 and float(masks.max()) <= 1.0 and float(lesioned.min()) >= 0.0 and float(lesioned.max()) <= 1.0
    allowed = erode(filled_foreground(slices, config.foreground_threshold), int(round(config.margin * 64)))
    assert torch.all(masks[~allowed] == 0)
    assert torch.all(masks.amax(dim=(1, 2, 3)) > 0.5), "every slice gets a lesion"
    assert torch.equal(lesioned[masks == 0], slices[masks == 0])
    changed = (lesioned - slices).abs().amax(dim=(1, 2, 3))
    assert torch.all(changed > 0.02), f"some lesions are invisible: {changed}"


def test_same_seed_same_lesions_and_the_input_is_untouched(slices):
    before = slices.clone()
    first = add_pseudo_lesions(slices, seed=7)
    second = add_pseudo_lesions(slices, generator=torch.Generator().manual_seed(7))
    other = add_pseudo_lesions(slices, seed=8)
    assert torch.equal(slices, before)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[1], other[1])


def test_size_position_and_polarity_vary(slices):
    image = slices[5:6].repeat(40, 1, 1, 1)
    lesioned, masks, is_blob = add_pseudo_lesions(image, seed=3, return_kinds=True)
    areas = (masks > 0.5).flatten(1).sum(1).float()
    rows = torch.arange(64.0).view(1, 1, 64, 1)
    columns = torch.arange(64.0).view(1, 1, 1, 64)
    centre_rows = (masks * rows).sum(dim=(1, 2, 3)) / masks.sum(dim=(1, 2, 3))
    centre_columns = (masks * columns).sum(dim=(1, 2, 3)) / masks.sum(dim=(1, 2, 3))
    assert float(areas.max()) > 3 * float(areas.min()), f"areas {areas.tolist()}"
    assert float(centre_rows.std()) > 5 and float(centre_columns.std()) > 5
    shift = ((lesioned - image) * masks).sum(dim=(1, 2, 3)) / masks.sum(dim=(1, 2, 3))
    assert bool((shift[is_blob] > 0.05).any()) and bool((shift[is_blob] < -0.05).any()), "blobs are brighter and darker"


def test_both_kinds_occur_and_can_be_forced(slices):
    _, _, is_blob = add_pseudo_lesions(slices.repeat(2, 1, 1, 1), seed=0, return_kinds=True)
    assert bool(is_blob.any()) and bool((~is_blob).any())
    for probability, expected in ((1.0, True), (0.0, False)):
        lesioned, masks, kinds = add_pseudo_lesions(slices, PseudoLesionConfig(blob_probability=probability), seed=1, return_kinds=True)
        assert torch.all(kinds == expected)
        assert torch.all((lesioned - slices).abs().amax(dim=(1, 2, 3)) > 0.02)
    # A blob is the tissue shifted by one contrast (modulated by texture): without texture the shift is uniform inside the mask.
    flat = PseudoLesionConfig(blob_probability=1.0, texture_strength=0.0, contrast_range=(0.2, 0.2), brighter_probability=1.0)
    lesioned, masks = add_pseudo_lesions(slices, flat, seed=2)
    core = (masks == 1) & (slices < 0.7)
    torch.testing.assert_close(lesioned[core] - slices[core], torch.full_like(slices[core], 0.2))


def test_given_foreground_restricts_the_lesions(slices):
    foreground = filled_foreground(slices, 0.02).clone()
    foreground[..., 32:] = False  # only the left half of each head
    _, masks = add_pseudo_lesions(slices, seed=4, foreground=foreground)
    assert torch.all(masks[..., 32 - int(round(0.08 * 64)) :] == 0) and torch.all(masks.amax(dim=(1, 2, 3)) > 0.5)


def test_filled_foreground_and_empty_images():
    ring = torch.zeros(1, 1, 32, 32)
    ring[..., 4:28, 4:28] = 0.8
    ring[..., 8:24, 8:24] = 0.0  # a hole inside the foreground
    filled = filled_foreground(ring, 0.02)
    assert int(filled.sum()) == 24 * 24
    empty = torch.zeros(3, 1, 32, 32)
    lesioned, masks = add_pseudo_lesions(empty, seed=0)
    assert torch.equal(lesioned, empty) and torch.all(masks == 0)


def test_config_from_json_style_overrides():
    config = PseudoLesionConfig.from_dict({"radius_range": [0.1, 0.2], "blob_probability": 1.0})
    assert config.radius_range == (0.1, 0.2) and config.blob_probability == 1.0
    assert PseudoLesionConfig.from_dict(None) == PseudoLesionConfig()
    with pytest.raises(ValueError, match="radius"):
        PseudoLesionConfig.from_dict({"radius": 0.1})


def test_lesions_stay_inside_the_head_when_the_background_is_noisy():
    """Real MR background is noise up to ~0.1 after normalisation, not zeros: lesions must still avoid it."""
    generator = torch.Generator().manual_seed(3)
    size = 64
    rows, columns = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    head = (((rows - 32) / 24.0) ** 2 + ((columns - 32) / 18.0) ** 2 <= 1.0)[None, None].expand(16, 1, size, size)
    background = torch.rand(16, 1, size, size, generator=generator) * 0.07
    slices = torch.where(head, 0.5 + 0.1 * torch.rand(16, 1, size, size, generator=generator), background)
    _, masks = add_pseudo_lesions(slices, PseudoLesionConfig(), seed=0)
    assert masks.amax(dim=(1, 2, 3)).min() > 0.5, "every slice got a lesion"
    assert float(masks[~head].max()) == 0.0, "no lesion pixel outside the head"


def test_size_reference_scales_lesions_to_the_whole_slice(slices):
    """Crops of a 64-pixel slice get lesions sized for 64 pixels when size_reference says so, not for the crop."""
    crops = slices[..., 16:48, 16:48]
    _, own = add_pseudo_lesions(crops, PseudoLesionConfig(blob_probability=1.0), seed=3)
    _, whole = add_pseudo_lesions(crops, PseudoLesionConfig(blob_probability=1.0, size_reference=64), seed=3)
    assert whole.sum() > 2.0 * own.sum(), (float(whole.sum()), float(own.sum()))  # radii ×2 → areas about ×4
