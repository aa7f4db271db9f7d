"""A directory of trained supernets: one task, one teacher, one space, its K sub-spaces.

Layout::

    DIR/supernet.json          what was trained on what (task and teacher ids, space, seed, config, sub-spaces)
    DIR/<sub-space>/supernet.pt   the checkpoint (model, optimiser, step): the trained supernet once complete
    DIR/<sub-space>/cost.json     its cost in full-budget-equivalent trainings and its wall time

``supernet.json`` is written before any training, so a directory holds the supernets of one (task, teacher,
settings) only: a run for another task, teacher or setting is refused rather than mixing them (a resumed run
must be the same run), and a damaged file is a one-line error, never silently overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from distill.io import write_json
from distill.supernet.base import Supernet, build_supernet
from distill.supernet.subspace import SubSpace, get_subspaces
from distill.supernet.training import load_checkpoint

__all__ = ["META_FILE", "SupernetDir"]

META_FILE = "supernet.json"
META_FORMAT = 1
# What must be equal for a run to continue (or add sub-spaces to) a directory, and how to name it in an error.
_SAME = {
    "task_id": "task",
    "teacher_id": "teacher",
    "space": "space",
    "seed": "seed",
    "config": "training settings",
    "in_shape": "input shape",
    "num_classes": "class count",
}


class SupernetDir:
    """The supernets of one directory (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def meta_path(self) -> Path:
        return self.root / META_FILE

    def checkpoint(self, subspace: str) -> Path:
        return self.root / subspace / "supernet.pt"

    def cost_path(self, subspace: str) -> Path:
        return self.root / subspace / "cost.json"

    def read_meta(self) -> dict[str, Any] | None:
        """The directory's ``supernet.json``; ``None`` when there is none; ``ValueError`` when it is damaged."""
        if not self.meta_path.exists():
            return None
        try:
            meta = json.loads(self.meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{self.meta_path} cannot be read ({type(e).__name__}): the file is damaged") from None
        if not isinstance(meta, dict) or meta.get("format") != META_FORMAT or "subspaces" not in meta:
            raise ValueError(f"{self.meta_path} is not a dass supernet description (format {META_FORMAT})")
        return meta

    def require_meta(self) -> dict[str, Any]:
        meta = self.read_meta()
        if meta is None:
            raise FileNotFoundError(f"{self.root} holds no trained supernet ({META_FILE} is missing)")
        return meta

    def claim(self, meta: dict[str, Any], subspaces: dict[str, SubSpace]) -> dict[str, Any]:
        """Record ``meta`` (with ``subspaces`` added) as the directory's, or refuse when it holds another run's."""
        meta = {"format": META_FORMAT, **meta}
        old = self.read_meta()
        if old is None and self.root.exists() and any(self.root.iterdir()):
            raise ValueError(f"{self.root} is not empty and holds no supernet ({META_FILE}); use another directory")
        if old is not None:
            for key, what in _SAME.items():
                if old.get(key) != meta.get(key):
                    raise ValueError(
                        f"{self.root} holds the supernets of another {what} ({_describe(key, old)}, not "
                        f"{_describe(key, meta)}); use another directory"
                    )
            for name, sub in subspaces.items():
                if name in old["subspaces"] and old["subspaces"][name] != sub.to_dict():
                    raise ValueError(f"{self.root}: the sub-space {name!r} was trained with another definition")
            meta["subspaces"] = dict(old["subspaces"])
        else:
            meta["subspaces"] = {}
        meta["subspaces"].update({name: sub.to_dict() for name, sub in subspaces.items()})
        write_json(self.meta_path, meta)
        return meta

    def subspaces(self, names: list[str] | None = None) -> dict[str, SubSpace]:
        """The trained sub-spaces (all, or ``names``), as the code defines them, checked against the record."""
        meta = self.require_meta()
        trained = [n for n in meta["subspaces"] if self.checkpoint(n).exists()]
        names = trained if names is None else names
        missing = [n for n in names if n not in trained]
        if missing or not names:
            raise FileNotFoundError(
                f"{self.root} holds no trained supernet of sub-space {missing[0] if missing else 'any'!r}; "
                f"trained: {', '.join(trained) or 'none'}"
            )
        subs = get_subspaces(meta["space"], names)
        for name, sub in subs.items():
            if sub.to_dict() != meta["subspaces"][name]:
                raise ValueError(f"the sub-space {name!r} is defined otherwise than when {self.root} was trained")
        return subs

    def load(self, subspace: SubSpace, device: torch.device | str = "cpu") -> tuple[Supernet, int]:
        """The trained supernet of ``subspace`` and its steps done (fewer than configured: a stopped training)."""
        meta = self.require_meta()
        net = build_supernet(subspace, tuple(meta["in_shape"]), int(meta["num_classes"]))
        ck = load_checkpoint(self.checkpoint(subspace.name), device)
        net.load_state_dict(ck["model"])
        return net.to(device), int(ck["step"])


def _describe(key: str, meta: dict[str, Any]) -> str:
    if key == "task_id":
        return f"task {meta.get('task')!r} id {meta.get('task_id')}"
    if key == "teacher_id":
        return f"teacher {meta.get('teacher')!r} id {meta.get('teacher_id')}"
    value = meta.get(key)
    return f"{key} {json.dumps(value, sort_keys=True) if isinstance(value, dict) else value!r}"
