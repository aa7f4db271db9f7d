"""The ``dass`` command line. It sits on top of every layer and holds no logic of its own.

The parser is built from the commands: each command module (``tasks``, ``train``, ``collect``, ``predictor``,
``search``) declares its commands as data (``COMMANDS = [Command(...)]``), and :data:`COMMANDS` below maps a
command's name to its module and its one-line help. ``dass --help`` and ``dass --version`` import no command
module, and ``dass CMD ...`` imports only CMD's module (the one lazy import, in :func:`load_commands`), so
start-up stays fast while the command modules import the project at module level.

A user's mistake is one line on stderr and exit code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sqlite3
import sys
from collections.abc import Iterable, Sequence

from dass import __version__
from dass.cli.common import (
    DEFAULT_CHECKPOINT,
    EXIT_USAGE,
    Command,
    UsageError,
    check_paths,
    sigterm_as_interrupt,
)

__all__ = ["COMMANDS", "DEFAULT_CHECKPOINT", "EXIT_USAGE", "Command", "UsageError", "build_parser", "main"]

# command name -> (module under dass.cli, one-line help); in the order `dass --help` lists them.
# A new command: a Command in its module's COMMANDS, and one line here.
COMMANDS: dict[str, tuple[str, str]] = {
    "tasks": ("tasks", "list task sources and transforms, or describe one task"),
    "teachers": ("tasks", "list the teacher zoo"),
    "genome": ("tasks", "sample a random genome (student + recipe) as JSON"),
    "train": ("train", "distil one student from a teacher on a task and save it"),
    "collect": ("collect", "build the meta-dataset: train a suite's jobs and store every result"),
    "pretrain": ("predictor", "meta-train the accuracy predictor on a meta-dataset export"),
    "predict": ("predictor", "predict the distilled accuracy of students without training them"),
    "evaluate": ("predictor", "score the predictor and the baselines on the held-out tasks"),
    "search": ("search", "search a student and a distillation recipe for a teacher and a task"),
    "supernet": ("supernet", "train weight-sharing supernets, or score sub-networks with inherited weights"),
}


def load_commands(names: Iterable[str]) -> dict[str, Command]:
    """The :class:`Command` of each name, importing only the modules that declare them."""
    modules = dict.fromkeys(COMMANDS[name][0] for name in names)
    loaded = {}
    for module in modules:
        for command in importlib.import_module(f"{__name__}.{module}").COMMANDS:
            loaded[command.name] = command
    return {name: loaded[name] for name in names}


def _parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    """The ``dass`` parser; the commands in ``commands`` get their flags, the others only their name and help
    (enough for ``dass --help`` and for argparse to list the valid commands)."""
    parser = argparse.ArgumentParser(
        prog="dass",
        description="Distillation-aware student search: find a small student and a distillation recipe "
        "for your teacher and dataset.",
    )
    # --debug and --verbose work before or after the command name
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    parser.add_argument("--version", action="version", version=f"dass {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_) in COMMANDS.items():
        p = sub.add_parser(name, parents=[common], help=help_)
        if name in commands:
            commands[name].add_arguments(p)
            p.set_defaults(func=commands[name].run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The full parser, every command with its flags (imports every command module)."""
    return _parser(load_commands(COMMANDS))


def _command_name(argv: Sequence[str]) -> str | None:
    """The command in ``argv``: its first word that is not an option (``dass``'s own options take no value)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name = _command_name(argv)
    commands = load_commands([name]) if name in COMMANDS else {}
    parser = _parser(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        check_paths(args, commands[args.command])
        with sigterm_as_interrupt():
            return args.func(args)
    except BrokenPipeError:  # the reader went away (`dass genome | head`): stop quietly, like cat
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, OSError, sqlite3.Error, UsageError) as e:  # bad input, or a path that cannot be used
        if args.debug:
            raise
        print(f"dass {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"dass {args.command}: interrupted", file=sys.stderr)
        return 130
