"""Domain transforms: ``fn(x, param, generator) -> x`` on ``(N, C, H, W)`` images in [0, 1].

A task's ``transform=NAME[NUMBER]`` names one of ``DOMAIN_TRANSFORMS``; it is applied to every split
alike, after resizing and before normalisation. Register a new one with
``@domain_transform("name", default=..., allowed=..., minimum=...)``: the spec grammar, its
canonical form and its error messages follow from that declaration.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from distill.registry import Registry
from distill.tasks.formatting import format_number


@dataclass(frozen=True)
class DomainTransform:
    """A domain transform ``fn(x, param, generator)`` with its parameter's default and allowed range.

    Calling it fills in the default, checks the parameter and applies ``fn`` to ``(N, C, H, W)``
    images in [0, 1]; the result is in [0, 1] too.
    """

    name: str
    fn: Callable[[torch.Tensor, float | None, torch.Generator | None], torch.Tensor]
    default: float | None  # None: the transform takes no parameter
    allowed: str = "any number"  # the parameter's range, in words, for error messages
    minimum: float = -math.inf
    exclusive: bool = False  # whether `minimum` itself is refused

    def check(self, param: float | None) -> float | None:
        """The parameter to use: the default for None, else ``param`` if allowed (else ``ValueError``)."""
        if self.default is None:
            if param is not None:
                raise ValueError(f"the {self.name!r} transform takes no parameter; got {format_number(param)}")
            return None
        if param is None:
            return self.default
        if param < self.minimum or (self.exclusive and param == self.minimum) or not math.isfinite(param):
            raise ValueError(f"the {self.name!r} transform's parameter must be {self.allowed}; got {param}")
        return float(param)

    def __call__(
        self, x: torch.Tensor, param: float | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.fn(x, self.check(param), generator)


DOMAIN_TRANSFORMS: Registry[DomainTransform] = Registry("domain transform")


def domain_transform(
    name: str,
    default: float | None = None,
    allowed: str = "any number",
    minimum: float = -math.inf,
    exclusive: bool = False,
) -> Callable:
    """Decorator that registers ``fn(x, param, generator)`` in ``DOMAIN_TRANSFORMS`` under ``name``."""

    def decorator(fn: Callable) -> Callable:
        DOMAIN_TRANSFORMS.add(name, DomainTransform(name, fn, default, allowed, minimum, exclusive))
        return fn

    return decorator


def parse_transform(text: str) -> tuple[str, float | None]:
    """``"noise0.3"`` -> ``("noise", 0.3)``; ``"invert"`` -> ``("invert", None)``."""
    match = re.fullmatch(r"([a-z_]+?)([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)?", text.strip())
    if not match:
        raise ValueError(
            f"the task spec's 'transform' must be a name and an optional number, e.g. rotate30, invert, noise0.3; "
            f"got {text!r}"
        )
    return match[1], None if match[2] is None else float(match[2])


def canonical_transform(text: str) -> str:
    """The spec's form of a transform: a known name with its checked parameter written out (``rotate30``)."""
    name, param = parse_transform(text)
    param = DOMAIN_TRANSFORMS.get(name).check(param)
    return name if param is None else f"{name}{format_number(param)}"


# ---------------------------------------------------------------------------------------------- the transforms
@domain_transform("rotate", default=30.0)
def rotate(x: torch.Tensor, degrees: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotates every image counter-clockwise by ``degrees`` about its centre (bilinear; corners become 0)."""
    n, _, h, w = x.shape
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # affine_grid maps output to input coordinates, each axis scaled to [-1, 1]; the H/W factors keep the
    # rotation rigid on non-square images.
    theta = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp_(0, 1)


@domain_transform("invert")
def invert(x: torch.Tensor, param: None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """``1 - x``: dark on light becomes light on dark."""
    return 1 - x


@domain_transform("noise", default=0.3, allowed="a number >= 0", minimum=0.0)
def noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Adds Gaussian noise of standard deviation ``std`` (drawn from ``generator``), clamped to [0, 1]."""
    return (x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype)).clamp_(0, 1)


@domain_transform("blur", default=1.0, allowed="a number > 0", minimum=0.0, exclusive=True)
def blur(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel radius ceil(3 sigma), edges replicated)."""
    h, w = x.shape[-2:]
    # The blur is separable and linear: one (H, H) and one (W, W) matrix, two matmuls (faster than conv2d on CPU).
    return (_blur_matrix(h, sigma, x.dtype).T @ x @ _blur_matrix(w, sigma, x.dtype)).clamp_(0, 1)


def _blur_matrix(n: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    """(n, n) matrix whose row i is the blurred unit impulse at i, so ``x @ M`` blurs the last axis of x."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    impulses = F.pad(torch.eye(n, dtype=dtype).view(n, 1, 1, n), (radius, radius, 0, 0), mode="replicate")
    return F.conv2d(impulses, (kernel / kernel.sum()).view(1, 1, 1, -1)).view(n, n)


@domain_transform("downsample", default=2.0, allowed="a number >= 1", minimum=1.0)
def downsample(x: torch.Tensor, factor: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shrinks by ``factor`` (antialiased) and scales back up: same size, less detail."""
    h, w = x.shape[-2:]
    small_size = (max(1, round(h / factor)), max(1, round(w / factor)))
    small = F.interpolate(x, size=small_size, mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp_(0, 1)
