"""Command-line flags generated from a dataclass's fields: a setting is declared once, with its help.

A field declared with :func:`setting` carries its flag in its metadata: the flag's name, the text parser
(``type``), the names it may take (``choices``, shown in the help; the dataclass checks them, so a bad
value is the dataclass's one-line error naming the valid ones) and the help text, where ``{default}``
and ``{choices}`` are filled in from the field. :func:`add_flags` turns the fields into ``argparse``
arguments whose default is ``None`` ("not given"), so that :func:`given_settings` hands the dataclass
only what the user typed and the dataclass's own defaults apply to the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from distill.argtypes import int_at_least

__all__ = [
    "add_flags",
    "flag_fields",
    "flag_name",
    "given_settings",
    "increasing_epochs",
    "non_negative_int",
    "positive_int",
    "setting",
]


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    flag: str | None = None,
    type: Callable[[str], Any] | None = None,
    choices: Sequence[str] | None = None,
    metavar: str | None = None,
    switch: bool | None = None,
    cli: bool = True,
    default_text: str | None = None,
) -> Any:
    """A dataclass field that is also a command-line flag.

    Args:
        default: the field's default (leave it out for a required setting).
        help: the flag's help; ``{default}`` and ``{choices}`` are filled in.
        flag: the flag (default: ``--`` and the field name with dashes).
        type: parses the flag's text (default: ``str``).
        choices: the names the setting may take, for the help text.
        metavar: the value's name in the help.
        switch: a flag without a value that sets the field to this value (``--no-best`` sets ``False``).
        cli: ``False`` for a field that has no flag.
        default_text: how the help shows the default, where the value alone does not say it.
    """
    metadata = {
        "help": help,
        "flag": flag,
        "type": type,
        "choices": tuple(choices) if choices is not None else None,
        "metavar": metavar,
        "switch": switch,
        "cli": cli,
        "default_text": default_text,
    }
    if isinstance(default, list | dict | set):  # mutable: one copy per instance
        value = default
        return dataclasses.field(default_factory=lambda: value, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are command-line flags, in declaration order."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli")]


def _flag(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def flag_name(cls: type, name: str) -> str:
    """The command-line flag of the field ``name`` of ``cls`` (``save_best`` -> ``--no-best``)."""
    return _flag(next(f for f in dataclasses.fields(cls) if f.name == name))


def _default_text(field: dataclasses.Field) -> str:
    if field.metadata.get("default_text") is not None:
        return field.metadata["default_text"]
    if field.default is not dataclasses.MISSING:
        value = field.default
    elif field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
    else:
        return ""
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def help_text(field: dataclasses.Field, choices: Iterable[str] | None = None) -> str:
    """The field's help with its default and choices filled in."""
    names = list(choices if choices is not None else field.metadata.get("choices") or ())
    return field.metadata["help"].format(default=_default_text(field), choices=", ".join(names))


def add_flags(
    parser: argparse.ArgumentParser, cls: type, choices: dict[str, Iterable[str]] | None = None
) -> list[dataclasses.Field]:
    """Add a flag for every flag field of ``cls`` to ``parser``; every flag's default is ``None``.

    Args:
        parser: where the flags go.
        cls: the dataclass.
        choices: names of a field's choices known only to the caller (e.g. the registered strategies).

    Returns:
        The fields that became flags.
    """
    fields = flag_fields(cls)
    for field in fields:
        m = field.metadata
        kwargs: dict[str, Any] = {
            "dest": field.name,
            "default": None,
            "help": help_text(field, (choices or {}).get(field.name)),
        }
        if m.get("switch") is not None:
            kwargs.update(action="store_const", const=m["switch"])
        else:
            if m.get("type") is not None:
                kwargs["type"] = m["type"]
            if m.get("metavar"):
                kwargs["metavar"] = m["metavar"]
        parser.add_argument(_flag(field), **kwargs)
    return fields


def given_settings(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """``{field: value}`` of the flags of ``cls`` given on the command line (``None`` for the others)."""
    return {field.name: getattr(args, field.name, None) for field in flag_fields(cls)}


# ------------------------------------------------------------------------------------------ text parsers
positive_int = int_at_least(1, "a positive integer")
non_negative_int = int_at_least(0, "an integer >= 0")


def increasing_epochs(text: str) -> tuple[int, ...]:
    """A flag parser: comma-separated increasing positive epochs, e.g. ``1,3,6``."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated epochs, e.g. 1,3,6; got {text!r}") from None
    if not values or any(v < 1 for v in values) or list(values) != sorted(set(values)):
        raise argparse.ArgumentTypeError(f"must be increasing positive epochs, e.g. 1,3,6; got {text!r}")
    return values
