import math

import pytest
import torch

from models.fsq import FSQ


@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (3, 4), (2, 6, 7), (8, 8, 6, 5)])
def test_indices_codes_round_trip_over_whole_codebook(levels: tuple[int, ...]) -> None:
    fsq = FSQ(levels)
    idx = torch.arange(fsq.codebook_size)
    codes = fsq.indices_to_codes(idx)  # (K, D)
    assert codes.shape == (math.prod(levels), len(levels))
    assert codes.abs().max() <= 1.0
    # every code is distinct and maps back to its own index
    assert torch.unique(codes, dim=0).shape[0] == fsq.codebook_size
    assert torch.equal(fsq.codes_to_indices(codes), idx)


@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (4, 3), (2, 6)])
def test_quantizer_uses_exactly_the_levels_and_indices_in_range(levels: tuple[int, ...]) -> None:
    fsq = FSQ(levels)
    sweep = torch.linspace(-20, 20, 4001).unsqueeze(1).repeat(1, len(levels))  # (M, D)
    z_pre, z_q, idx = fsq(sweep)
    for d, n in enumerate(levels):
        # even levels too: exactly n distinct values, not n + 1
        assert torch.unique(z_q[:, d]).numel() == n
    assert idx.min() >= 0 and idx.max() < fsq.codebook_size
    assert torch.equal(fsq.indices_to_codes(idx), z_q)
    # z_pre and z_q share a scale: rounding moves each dim by at most half a level
    half_width = torch.tensor([n // 2 for n in levels], dtype=torch.float32)
    assert ((z_pre - z_q).abs() * half_width).max() <= 0.5 + 1e-5


def test_zero_maps_to_code_zero() -> None:
    fsq = FSQ((8, 5, 4, 3))
    _, z_q, _ = fsq(torch.zeros(1, 4))
    assert torch.equal(z_q, torch.zeros(1, 4))


def test_random_latents_cover_codebook() -> None:
    fsq = FSQ((4, 3))
    _, _, idx = fsq(torch.randn(5000, 2, generator=torch.Generator().manual_seed(0)) * 2)
    assert torch.unique(idx).numel() == fsq.codebook_size


def test_straight_through_gradient_flows() -> None:
    fsq = FSQ((8, 5, 5, 5))
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    _, z_q, _ = fsq(z)
    (z_q * torch.arange(1.0, 5.0)).sum().backward()
    assert z.grad is not None
    assert torch.all(z.grad != 0)
    # gradient equals that of the bounded (unrounded) path: rounding is identity for grads
    z2 = z.detach().clone().requires_grad_(True)
    bounded = fsq.bound(z2) / torch.tensor([4.0, 2.0, 2.0, 2.0])
    (bounded * torch.arange(1.0, 5.0)).sum().backward()
    assert torch.allclose(z.grad, z2.grad)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="levels"):
        FSQ((8, 1))
    fsq = FSQ((4, 3))
    with pytest.raises(ValueError, match="indices outside"):
        fsq.indices_to_codes(torch.tensor([12]))
    with pytest.raises(ValueError, match="last dim"):
        fsq(torch.zeros(2, 3))
