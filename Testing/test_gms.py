"""Prewitt gradient magnitude, GMS and multi-scale GMS deviation."""

from __future__ import annotations

import torch
from AnomalyDetectLib.gms import gms_map, gradient_magnitude, mgmsd_map


def test_mgmsd_of_an_image_with_itself_is_zero():
    image = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mgmsd_map(image, image), torch.zeros_like(image), atol=1e-6)


def test_prewitt_gradient_of_a_ramp_is_its_slope():
    ramp = torch.arange(16.0).repeat(16, 1)[None, None] * 0.5
    magnitude = gradient_magnitude(ramp)
    # central difference over two pixels, averaged over three rows: 2 × 0.5 = 1.0 inside
    assert torch.allclose(magnitude[..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12), atol=1e-5)


def test_gms_is_low_where_structure_differs_only():
    base = torch.zeros(1, 1, 64, 64)
    base[..., 10:20, 10:20] = 1.0
    changed = base.clone()
    changed[..., 40:50, 40:50] = 1.0
    similarity = gms_map(base, changed)
    assert similarity[..., 38:52, 38:52].min() < 0.1
    assert torch.allclose(similarity[..., 5:25, 5:25], torch.ones(1, 1, 20, 20), atol=1e-5)
    deviation = mgmsd_map(base, changed)
    assert deviation.shape == base.shape
    assert deviation[..., 38:52, 38:52].max() > 0.5
    assert deviation[..., :8, :8].max() < 0.05
    assert float(deviation.min()) >= 0.0 and float(deviation.max()) <= 1.0


def test_mgmsd_is_symmetric():
    generator = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 1, 32, 32, generator=generator), torch.rand(2, 1, 32, 32, generator=generator)
    assert torch.allclose(mgmsd_map(a, b), mgmsd_map(b, a), atol=1e-6)
