"""Parsers of command-line values shared by every flag-declaring module (the CLI, the search settings).

Standard library only, so the command-line dispatcher can import it without loading torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["int_at_least"]


def int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``, else an error that says ``what`` it must be."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
        return value

    return parse
