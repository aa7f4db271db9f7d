"""The search's progress bar: a tqdm bar on a terminal (stderr), nothing otherwise."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

__all__ = ["Progress"]


class Progress:
    """A tqdm bar on a terminal (stderr), nothing otherwise; strategies start it with their own unit.

    Args:
        enabled: show the bar (default: when stderr is a terminal).
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar: Any = None
        self.postfix: dict[str, Any] = {}

    def start(self, total: int, unit: str, desc: str) -> None:
        if self.enabled and self.bar is None:
            self.bar = tqdm(total=total, unit=unit, desc=desc, dynamic_ncols=True)

    def advance(self, n: int = 1, to: int | None = None) -> None:
        if self.bar is not None:
            self.bar.update((to - self.bar.n) if to is not None else n)

    def note(self, **postfix: Any) -> None:
        self.postfix.update(postfix)
        if self.bar is not None:
            self.bar.set_postfix(self.postfix, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
