"""Which training devices this machine has, and the check of a device a user names.

``torch.device("mps")`` parses on any machine, so a parse alone let ``--device mps`` through on Linux, and
every training then failed. A device is accepted when it is one this machine has.
"""

from __future__ import annotations

import torch

__all__ = [
    "PRECISIONS",
    "available_devices",
    "check_device",
    "check_precision",
    "default_devices",
    "parse_devices",
    "worker_device",
]

# fp32: what every record of the meta-dataset was trained in; bf16: autocast on CUDA, several times faster there
PRECISIONS = ("fp32", "bf16")


def available_devices() -> list[str]:
    """The device names a training can use here: ``auto``, ``cpu``, then ``cuda`` and ``cuda:N`` per GPU,
    and ``mps`` on an Apple GPU."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(device: str) -> str:
    """``device`` if this machine has it; else a one-line ``ValueError`` naming the devices it has."""
    available = available_devices()
    if device in available:
        return device
    here = f"available here: {', '.join(available)}"
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a device name like 'cpu', 'cuda' or 'cuda:0'; {here}") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA device is available here; use 'auto' or 'cpu' ({here})")
    raise ValueError(f"device {device!r} is not available on this machine; {here}")


def check_precision(precision: str, device: str = "auto") -> str:
    """``precision`` if a training on ``device`` can use it; else a one-line ``ValueError``.

    bf16 autocast is offered on CUDA only: on the CPU it is slower than fp32 and its results would differ from
    every CPU record. ``device`` ``"auto"`` means CUDA when this machine has one.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"the precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    if precision == "bf16":
        kind = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else torch.device(device).type
        if kind != "cuda":
            raise ValueError(f"precision 'bf16' needs a CUDA device; the training device is {device!r} (use fp32)")
    return precision


def default_devices() -> list[str]:
    """Where a pool's trainings go when no ``--devices`` is given: every visible GPU, else the CPU."""
    return parse_devices(None)


def parse_devices(spec: str | None, available: list[str] | None = None) -> list[str]:
    """The training devices of ``--devices``: GPU indices (``0,1``) or device names (``cuda:0,cuda:1``, ``cpu``).

    Args:
        spec: the comma-separated list; ``None`` or empty: :func:`default_devices`.
        available: the device names this machine has (:func:`available_devices`; a test passes a fake list).

    Returns:
        The device names, in the order given, each once. A device this machine lacks is a one-line
        ``ValueError`` naming it and the devices it has.
    """
    available = available_devices() if available is None else available
    if not spec or not spec.strip():
        gpus = [d for d in available if d.startswith("cuda:")]
        return gpus or ["cpu"]
    out: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        name = f"cuda:{item}" if item.isdigit() else item
        if name not in available or name == "auto":
            have = ", ".join(d for d in available if d != "auto")
            raise ValueError(f"--devices: device {item!r} is not available on this machine; available here: {have}")
        if name not in out:
            out.append(name)
    return out


def worker_device(index: int, devices: list[str]) -> str:
    """The device of a pool's ``index``-th worker (from 0): round-robin over ``devices``, so ``k`` workers on
    ``n`` GPUs put ``k / n`` trainings on each GPU."""
    if not devices:
        raise ValueError("the device list is empty")
    return devices[index % len(devices)]
