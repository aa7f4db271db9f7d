"""Which training devices this machine has, and the check of a device a user names.

``torch.device("mps")`` parses on any machine, so a parse alone let ``--device mps`` through on Linux, and
every training then failed. A device is accepted when it is one this machine has.
"""

from __future__ import annotations

import torch

__all__ = ["available_devices", "check_device"]


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
