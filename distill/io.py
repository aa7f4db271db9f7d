"""Crash-safe writes: a temporary file in the same directory, then ``os.replace``."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: setting it to read it is not thread-safe


def write_atomic(path: str | Path, data: bytes | str | Any, kind: str = "auto") -> Path:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    Args:
        path: destination.
        data: ``bytes``/``str`` are written as they are; ``kind="json"`` dumps JSON; anything else
            (state dicts, dicts of tensors) goes through ``torch.save``.
        kind: ``"auto"``, ``"json"`` or ``"torch"``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; the file gets the mode open() would give it
        with os.fdopen(fd, "wb") as f:
            if kind == "json":
                f.write((json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode())
            elif kind == "torch" or not isinstance(data, (bytes, str)):
                torch.save(data, f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_json(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, obj, kind="json")


def require_file(path: str | os.PathLike, what: str) -> str:
    """``path`` as a string if it is a file; otherwise a one-line ``FileNotFoundError`` naming ``what``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise FileNotFoundError(f"{what} {path!r} is a directory, not a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist")
    return path


def load_error(e: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in a few words (torch's own message
    runs to paragraphs, with terminal colour codes)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    if "Unsupported global" in text:
        return "it holds pickled Python objects (a whole model?), not only tensors"
    if "constants.pkl" in text or "TorchScript" in text:
        return "it is a TorchScript archive"
    if "Weights only load failed" in text:
        return "it is truncated or corrupted, or not a torch.save file"
    if isinstance(e, (KeyError, IndexError, TypeError, AttributeError)):  # torch's pickle reader on foreign bytes
        return "it is not a torch.save file (or it is truncated or corrupted)"
    first = text.strip().splitlines()[0][:160] if text.strip() else type(e).__name__
    return f"it is truncated or corrupted ({first})"


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_commit() -> str | None:
    """The git commit of this code, or ``None`` outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
