"""Reading a run directory's own files back: a damaged one is named, with what went wrong.

The run directory is written crash-safely (temporary file, then rename), but a disk can still lose the end of a
file, or a user can edit one by hand. Whoever reads a file back decides what a damaged one means (fall back to
an earlier copy, start over, or stop with what to do); this module only makes the damage a clear exception.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DamagedFile", "read_json"]


class DamagedFile(ValueError):
    """A file of the run directory that cannot be read back; ``str()`` names it and says why.

    Args:
        path: the file.
        problem: what is wrong, as the rest of a sentence that starts with the path (e.g. ``"is missing"``).
    """

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} {problem}")
        self.path = Path(path)
        self.problem = problem


def read_json(path: Path) -> Any:
    """The JSON value in ``path``; :class:`DamagedFile` when it cannot be read or parsed."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise DamagedFile(path, "is missing") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DamagedFile(path, f"cannot be read ({type(e).__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DamagedFile(path, f"is not valid JSON ({e}): the file is damaged") from None
