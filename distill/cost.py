"""What a network costs: parameters, FLOPs and measured latency.

FLOPs here are multiply-adds (MACs), as in most NAS papers: a ``k x k`` convolution producing
one output value costs ``k * k * C_in / groups`` MACs, a linear layer ``in_features`` MACs per
output value. Biases, normalisation, activations, pooling and element-wise additions are not
counted; they are a small share of any convolutional network and the papers leave them out too.

The search uses :func:`measure_cost` for its cost objective; parameters and FLOPs are exact and
free, latency is measured and noisy, so it is only taken when asked for.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["Cost", "count_flops", "count_params", "eval_mode", "measure_cost", "measure_latency", "model_device"]


@contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Puts ``models`` in eval mode and restores every submodule's own train/eval flag after.

    Restoring each submodule (not only the root) keeps mixed states intact, e.g. a model in
    train mode whose frozen backbone's BatchNorm layers were put in eval mode by its owner.
    """
    saved = [(module, module.training) for model in models for module in model.modules()]
    try:
        for model in models:
            model.eval()
        yield
    finally:
        for module, training in saved:
            module.training = training


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a stateless model."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


def _check_in_shape(in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    shape = tuple(in_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(f"the 'in_shape' parameter must be three positive ints (C, H, W); got {in_shape!r}")
    return shape  # type: ignore[return-value]


def count_params(model: nn.Module) -> int:
    """Number of parameters of ``model`` (trainable or not; shared parameters counted once).

    Buffers such as BatchNorm running statistics are not parameters and are not counted.
    """
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, in_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates (MACs) of one forward pass of one input.

    FLOPs here are multiply-adds (MACs), as in most NAS papers. They are counted with forward
    hooks on every convolution (``nn.Conv1d/2d/3d``, grouped and depthwise included) and
    ``nn.Linear``; a module called twice is counted twice. The two matmuls inside every call of
    ``F.scaled_dot_product_attention`` (``Q K^T`` and ``A V``: ``L * S * (E_q + E_v)`` per batch and head) are
    counted too, through a :class:`~torch.overrides.TorchFunctionMode`, since attention is a large share of
    a transformer's cost. Other operations outside those modules (``F.linear``, ``torch.matmul`` in a custom
    ``forward``, normalisation, activations, pooling) are not counted.

    The forward pass runs under ``torch.no_grad`` in eval mode (a batch of one would break
    BatchNorm in train mode) on a zero input placed on the model's device; the model's
    train/eval mode is restored afterwards.

    Args:
        model: the network.
        in_shape: the shape ``(C, H, W)`` of one input.

    Returns:
        The number of MACs for a batch of one.
    """
    shape = _check_in_shape(in_shape)
    total = 0

    def conv_hook(module: nn.modules.conv._ConvNd, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        # Every output value is a dot product over (C_in / groups) x kernel window.
        total += output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    def linear_hook(module: nn.Linear, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    x = torch.zeros(1, *shape, device=model_device(model), dtype=_model_dtype(model))
    attention = _AttentionCounter()
    try:
        with eval_mode(model), torch.no_grad(), attention:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return int(total + attention.macs)


class _AttentionCounter(TorchFunctionMode):
    """Counts the multiply-adds of ``F.scaled_dot_product_attention`` calls made inside the mode."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            q, k, v = args[:3]
            # (..., L, E) @ (..., E, S) then (..., L, S) @ (..., S, Ev)
            self.macs += q.shape[:-1].numel() * k.shape[-2] * (q.shape[-1] + v.shape[-1])
        return func(*args, **kwargs)


def measure_latency(
    model: nn.Module,
    in_shape: tuple[int, int, int],
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    warmup: int = 5,
    repeats: int = 20,
) -> float:
    """Median wall-clock time of one forward pass of a batch, in milliseconds.

    Runs in eval mode under ``torch.no_grad``; on CUDA every pass is bracketed by
    ``torch.cuda.synchronize`` so the time covers the kernels, not only their launch. A model
    that is not on ``device`` is timed on a copy moved there, so the caller's model stays put.
    The median is reported because the first passes and other processes make the mean noisy.

    Args:
        model: the network.
        in_shape: the shape ``(C, H, W)`` of one input.
        device: where to run, e.g. ``"cpu"`` or ``"cuda"``.
        batch_size: inputs per forward pass.
        warmup: untimed passes first (allocator, cuDNN autotuning, caches).
        repeats: timed passes.

    Returns:
        The median milliseconds per batch.
    """
    shape = _check_in_shape(in_shape)
    if batch_size < 1:
        raise ValueError(f"the 'batch_size' parameter must be >= 1; got {batch_size}")
    if warmup < 0:
        raise ValueError(f"the 'warmup' parameter must be >= 0; got {warmup}")
    if repeats < 1:
        raise ValueError(f"the 'repeats' parameter must be >= 1; got {repeats}")
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    current = model_device(model)
    same_device = current.type == device.type and (device.index is None or current.index == device.index)
    net = model if same_device else copy.deepcopy(model).to(device)
    x = torch.zeros(batch_size, *shape, device=device, dtype=_model_dtype(net))

    times_ms = []
    with eval_mode(net), torch.no_grad():
        for _ in range(warmup):
            net(x)
        for _ in range(repeats):
            if on_cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            net(x)
            if on_cuda:
                torch.cuda.synchronize(device)
            times_ms.append((time.perf_counter() - start) * 1e3)
    return float(statistics.median(times_ms))


@dataclass
class Cost:
    """The cost of one network; ``latency_ms`` is ``None`` when it was not measured."""

    params: int
    flops: int  # multiply-adds (MACs) for a batch of one
    latency_ms: float | None = None


def measure_cost(
    model: nn.Module,
    in_shape: tuple[int, int, int],
    latency: bool = False,
    device: str | torch.device = "cpu",
) -> Cost:
    """Parameters, FLOPs (MACs) and, when ``latency`` is true, the latency on ``device``.

    Args:
        model: the network.
        in_shape: the shape ``(C, H, W)`` of one input.
        latency: also time the model with :func:`measure_latency` (batch of one).
        device: where latency is measured.
    """
    return Cost(
        params=count_params(model),
        flops=count_flops(model, in_shape),
        latency_ms=measure_latency(model, in_shape, device=device) if latency else None,
    )
