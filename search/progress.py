"""The search's progress: the shared :class:`distill.progress.Progress` (a bar on a terminal, a status line every
so often otherwise), started by a strategy once it knows its unit and total."""

from __future__ import annotations

from typing import Any

from distill.progress import Progress as _Shown

__all__ = ["Progress"]


class Progress:
    """The search's progress; strategies start it with their own unit (generations, trainings).

    Args:
        enabled: ``None`` (default): a bar on a terminal, a status line every so often otherwise (nothing in a
            pool worker); ``True``: a bar; ``False``: nothing.
    """

    def __init__(self, enabled: bool | None = None) -> None:
        self.mode = {None: None, True: "bar", False: "off"}[enabled]
        self.enabled = enabled is not False
        self.bar: _Shown | None = None
        self.postfix: dict[str, Any] = {}

    def start(self, total: int, unit: str, desc: str) -> None:
        if self.enabled and self.bar is None:
            self.bar = _Shown(f"dass search ({desc})", total=total, unit=unit, mode=self.mode)
            if self.postfix:
                self.bar.note(**self.postfix)

    def advance(self, n: int = 1, to: int | None = None) -> None:
        if self.bar is not None:
            if to is not None:
                self.bar.update_to(to)
            else:
                self.bar.update(n)

    def note(self, **postfix: Any) -> None:
        self.postfix.update(postfix)
        if self.bar is not None:
            self.bar.note(**postfix)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
