"""What every ``dass`` command shares: the command declaration, usage errors, argument types, path checks
and the SIGTERM-as-Ctrl-C handling.

Only the standard library is imported here: the dispatcher imports this module before it knows which command
runs, and ``dass --help`` must stay fast.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from distill.argtypes import int_at_least

EXIT_USAGE = 2

# predictor v2: meta-trained on v1 and meta-dataset v2 (every task family, CNN and transformer students) and the
# tasks' landmarks; v1 (predictor_v1.pt: MNIST and digits, CNN students only) ships beside it for its results
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "predictor_v2.pt"


class UsageError(ValueError):
    """A mistake in the command line that argparse cannot see."""


@dataclass(frozen=True)
class Command:
    """One ``dass`` sub-command, declared as data by its command module.

    Attributes:
        name: the word after ``dass``.
        help: the one-line help shown by ``dass --help`` (the dispatcher's table repeats it; a test keeps them equal).
        add_arguments: adds the command's flags to its sub-parser.
        run: does the work; returns the exit code.
        file_options: destinations of options that must be a file where the path already exists.
        dir_options: destinations of options that must be a directory where the path already exists.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    file_options: tuple[str, ...] = ()
    dir_options: tuple[str, ...] = ()


# ---------------------------------------------------------------- argument types
seed = int_at_least(0, "an integer >= 0")
positive_int = int_at_least(1, "a positive integer")


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a non-negative number; got {text!r}")
    return value


def spearman_threshold(text: str) -> float:
    """A Spearman correlation to compare with: a number from -1 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not -1 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a Spearman correlation, a number from -1 to 1; got {text!r}")
    return value


def int_list(text: str) -> list[int]:
    return [positive_int(t) for t in text.split(",")]


def float_list(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers; got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"must be non-negative; got {text!r}")
    return values


# ---------------------------------------------------------------- shared flags
def add_task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="task spec, e.g. digits, mnist:classes=0-4:size=16:n_train=3000")
    p.add_argument("--data-dir", help="where mnist.npz / IDX / torchvision files live (default: $DASS_DATA)")


def add_teacher_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--teacher", required=True, help="zoo name (see `dass teachers`), TorchScript file, or module:callable"
    )
    p.add_argument("--teacher-weights", help="state_dict file for a zoo teacher or a module:callable teacher")
    p.add_argument("--teacher-epochs", type=positive_int, help="epochs of a zoo teacher trained on demand (15)")
    p.add_argument("--cache-dir", help="teacher and teacher-output cache (default: $DASS_CACHE or ~/.cache/dass)")


def add_label_seeds(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--label-seeds",
        type=positive_int,
        default=2,
        help="a student's label is its mean accuracy over training seeds 0..N-1 (default 2)",
    )


# ---------------------------------------------------------------- paths
def checkpoint(path: str | None) -> Path:
    """The predictor checkpoint: ``--checkpoint``, else $DASS_CHECKPOINT, else the shipped
    :data:`DEFAULT_CHECKPOINT`."""
    given = path or os.environ.get("DASS_CHECKPOINT")
    p = Path(given) if given else DEFAULT_CHECKPOINT
    if p.is_dir():
        raise FileNotFoundError(f"predictor checkpoint {str(p)!r} is a directory; pass the checkpoint file")
    if not p.is_file():
        raise FileNotFoundError(
            f"predictor checkpoint {str(p)!r} does not exist; pass --checkpoint or run dass pretrain"
        )
    return p


def check_paths(args: argparse.Namespace, command: Command) -> None:
    """An output path of the wrong kind is a one-line error before any work, not a traceback after it."""
    for name in command.file_options:
        value = getattr(args, name, None)
        if value and os.path.isdir(value):
            raise UsageError(f"--{name.replace('_', '-')} {value} is a directory; give a file path")
    for name in command.dir_options:
        value = getattr(args, name, None)
        if value and os.path.exists(value) and not os.path.isdir(value):
            raise UsageError(f"--{name.replace('_', '-')} {value} is a file; give a directory")


# ---------------------------------------------------------------- signals
def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """`kill PID` stops a command as cleanly as Ctrl-C (a search or a collection keeps what it finished and says
    how to go on); the previous handler comes back afterwards. Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
