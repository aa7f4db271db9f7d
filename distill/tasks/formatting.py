"""How task values are written in spec strings and messages: numbers and class lists.

Shared by the spec grammar, the transforms' errors and the pipeline's errors, so that a value reads
the same everywhere and ``float()`` / the grammar read it back unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_number(value: float) -> str:
    """Shortest exact text: ``30.0`` -> ``"30"``, ``0.3`` -> ``"0.3"``; ``float()`` reads it back unchanged."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def format_classes(classes: Sequence[int]) -> str:
    """``(0, 1, 2, 3, 7)`` -> ``"0-3,7"``: runs of three or more labels as ranges."""
    runs: list[list[int]] = []
    for c in classes:
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)
