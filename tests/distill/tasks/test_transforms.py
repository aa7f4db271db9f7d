"""Domain transforms: every registered one keeps shape, range and determinism; each does what it says."""

import math

import pytest
import torch

from distill.tasks import DOMAIN_TRANSFORMS


@pytest.mark.parametrize("name", DOMAIN_TRANSFORMS.names())
def test_every_transform_keeps_shape_and_range_and_is_deterministic(name):
    x = torch.rand(4, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    transform = DOMAIN_TRANSFORMS.get(name)
    y = transform(x, None, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    assert not torch.allclose(y, x)
    assert torch.equal(y, transform(x, None, torch.Generator().manual_seed(1)))


def test_invert_twice_is_the_identity():
    x = torch.rand(2, 1, 5, 5)
    invert = DOMAIN_TRANSFORMS.get("invert")
    assert torch.allclose(invert(invert(x)), x)
    assert torch.allclose(invert(x), 1 - x)


def test_rotate_by_0_or_360_is_the_identity_and_90_is_a_quarter_turn():
    x = torch.rand(2, 1, 6, 6)
    rotate = DOMAIN_TRANSFORMS.get("rotate")
    assert torch.allclose(rotate(x, 0.0), x, atol=1e-5)
    assert torch.allclose(rotate(x, 360.0), x, atol=1e-5)
    assert torch.allclose(rotate(x, 90.0), torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)  # counter-clockwise
    bar = torch.zeros(1, 1, 9, 15)
    bar[0, 0, 4, 5:10] = 1  # a horizontal bar of 5 pixels in a wide image ...
    upright = torch.zeros(1, 1, 9, 15)
    upright[0, 0, 2:7, 7] = 1  # ... stays 5 pixels long when it turns upright
    assert torch.allclose(rotate(bar, 90.0), upright, atol=1e-5)
    corner = torch.ones(1, 1, 8, 8)
    assert rotate(corner, 45.0)[0, 0, 0, 0] == 0  # corners rotate in from outside the image


def test_noise_follows_the_generator_and_has_the_asked_std():
    x = torch.full((8, 1, 32, 32), 0.5)
    noise = DOMAIN_TRANSFORMS.get("noise")
    a = noise(x, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(a, noise(x, 0.1, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, noise(x, 0.1, torch.Generator().manual_seed(1)))
    assert (a - x).std().item() == pytest.approx(0.1, rel=0.05)
    assert torch.equal(noise(x, 0.0), x)


def test_blur_keeps_constants_and_smooths_a_checkerboard():
    blur = DOMAIN_TRANSFORMS.get("blur")
    flat = torch.full((1, 1, 8, 8), 0.3)
    assert torch.allclose(blur(flat, 2.0), flat, atol=1e-6)
    board = (torch.arange(8).view(-1, 1) + torch.arange(8)).remainder(2).float().view(1, 1, 8, 8)
    blurred = blur(board, 1.0)
    assert blurred.mean().item() == pytest.approx(0.5, abs=0.02)
    assert blurred.std() < 0.2 * board.std()
    assert blur(board, 0.3).std() > blurred.std()  # a smaller sigma blurs less


def test_downsample_removes_detail_but_keeps_size():
    downsample = DOMAIN_TRANSFORMS.get("downsample")
    board = (torch.arange(8).view(-1, 1) + torch.arange(8)).remainder(2).float().view(1, 1, 8, 8)
    out = downsample(board, 2.0)
    assert out.shape == board.shape and out.std() < 0.1 * board.std()
    smooth = torch.linspace(0, 1, 16).repeat(16, 1).view(1, 1, 16, 16)
    assert torch.allclose(downsample(smooth, 2.0), smooth, atol=0.05)  # smooth images lose little
    assert torch.allclose(downsample(board, 1.0), board, atol=1e-6)


def test_importing_the_package_registers_every_transform():
    assert set(DOMAIN_TRANSFORMS.names()) == {"rotate", "invert", "noise", "blur", "downsample"}
    assert math.isclose(DOMAIN_TRANSFORMS.get("rotate").default, 30.0)
