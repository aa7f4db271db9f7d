"""Rerun the examples of the top-level README.md and check, or rewrite, the output the README shows for them.

A README's printed output is a claim like any other figure, so it comes from this script rather than from a
hand-copied terminal. An example is a fenced block right under a marker line ``<!-- example: NAME -->``:

* a shell block of ``$ dass ...`` lines, each followed by the output the README shows for it. A command with no
  output shown is not run (``dass pretrain``, ``dass evaluate`` and ``dass collect`` take minutes to hours and
  write files that the repository ships);
* a ``python`` block followed by a plain block holding what it prints. ``<!-- example: NAME continues OTHER -->``
  runs OTHER's code first, in the same process: the README's snippets read as one session.

A block with output but no marker is an error, so no example goes unchecked. The ``demo`` example must be the
command that ``make demo`` runs (the Makefile's recipe is compared with it), so checking it checks ``make demo``.

Every example runs as a new user would run it: in a fresh temporary directory holding copies of ``examples/``
and ``checkpoints/`` and the meta-dataset files of ``datasets_meta/``, with one fresh ``$DASS_CACHE`` for the
whole run (a zoo teacher is trained, as on first use, by the first example that needs it), ``WANDB_MODE=disabled``
and ``$DASS_DATA`` (default: ``benchmarks.common.DATA_DIR``). The output compared is what a command writes to
stdout and stderr, in the order a terminal shows it; the periodic progress lines (how many depends on how long
things take) are switched off through ``$DASS_PROGRESS_INTERVAL``.

Normalised before comparing, because they vary from run to run on the same machine, and nothing else:

* elapsed times: a number followed by a unit of time (``in 1.5 s``, ``32s``, ``120 ms``, ``2 min``);
* dates (``2026-12-04``);
* the temporary directory's absolute path.

Every accuracy, parameter count, hash and count of trainings must be equal. With ``--write``, a line that differs
from the README's only in a normalised figure keeps the README's text, so that a run on a busy machine does not
replace times measured on an idle one (``--write-times`` writes the fresh ones).

    .venv/bin/python -m benchmarks.readme_examples --check    # exit 1, with a diff, if an example's output differs
    .venv/bin/python -m benchmarks.readme_examples --write    # write what the commands print today into README.md
    .venv/bin/python -m benchmarks.readme_examples --check --only tasks teachers genome   # the cheap ones

A full run (no ``--only``) writes ``benchmarks/results/readme_examples.json``: where and with what the outputs
were produced (machine, CPU count, torch version and threads, commit, load average) and, per example, whether it
matched and how long it took. The outputs hold for one machine and torch build: trainings are deterministic there,
but other CPUs, BLAS libraries, thread counts (``OMP_NUM_THREADS``) or torch versions sum floats in another order,
train to other weights and may print other figures.
"""

# ruff: noqa: E402 (the imports follow the sys.path line that lets `python benchmarks/NAME.py` run)
from __future__ import annotations

import argparse
import difflib
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

if not __package__:  # run as `python benchmarks/NAME.py`: import `benchmarks` from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch

from benchmarks.common import DATA_DIR, ROOT, provenance, result_path, write_json

README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
# The examples that take a few seconds and need no teacher: tests/benchmarks/test_readme_examples.py checks them
# on every test run; the others (trainings, searches, predictions that train a teacher first) only this script.
CHEAP = ("tasks", "teachers", "genome")
DEMO = "demo"  # the example that `make demo` runs
# What a run directory needs from the repository, as a user's checkout has it beside the README's commands.
COPIED = ("examples", "checkpoints")
LINKED_GLOB = "datasets_meta/*.csv.gz"  # read only: linked, not copied

MARKER = re.compile(r"^<!-- example: (?P<name>[\w-]+)(?: continues (?P<prev>[\w-]+))? -->$")
FENCE = "```"
TIME = re.compile(r"\b\d+(?:\.\d+)?(?= ?(?:s|ms|min|h)\b)")
START = "--- readme_examples: the example's own output starts here ---"
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


class ReadmeError(ValueError):
    """The README's examples cannot be parsed (an unmarked example, a marker without a block ...)."""


@dataclass
class Step:
    """One thing to run and the output the README shows for it: lines ``[start, stop)`` of README.md."""

    command: str  # a shell command line without its "$ ", or the Python code
    start: int
    stop: int
    shown: list[str]
    printed: list[str] = field(default_factory=list)
    returncode: int | None = None
    seconds: float | None = None
    matched: bool = True


@dataclass
class Example:
    """A marked block of README.md: a shell session of ``$`` commands, or a Python snippet and its output."""

    name: str
    kind: str  # "shell" or "python"
    line: int  # of the marker, 1-based, for messages
    steps: list[Step]
    continues: str | None = None


# ---------------------------------------------------------------- reading the README


def _block(lines: list[str], i: int) -> tuple[str, list[str], int]:
    """The fenced block opening at line ``i``: its language, its content and the index of its closing fence."""
    language = lines[i].strip()[len(FENCE) :].strip()
    for j in range(i + 1, len(lines)):
        if lines[j].strip() == FENCE:
            return language, lines[i + 1 : j], j
    raise ReadmeError(f"line {i + 1}: a fenced block that is never closed")


def _shell_steps(content: list[str], first: int) -> list[Step]:
    """The ``$`` commands of a shell block (content starting at README line index ``first``) and their output."""
    steps: list[Step] = []
    for k, text in enumerate(content):
        if text.startswith("$ "):
            steps.append(Step(text[2:], first + k + 1, first + k + 1, []))
        elif not steps:
            raise ReadmeError(f"line {first + k + 1}: an example's output before its first '$ ' command")
        else:
            steps[-1].shown.append(text)
            steps[-1].stop = first + k + 1
    return steps


def parse_examples(text: str) -> list[Example]:
    """Every marked example of the README, in order; an unmarked block with output is a :class:`ReadmeError`."""
    lines = text.splitlines()
    examples: list[Example] = []
    marker = None
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        found = MARKER.match(stripped)
        if found:
            marker = (found, i)
            i += 1
            continue
        if not stripped.startswith(FENCE):
            if stripped and marker is not None:
                raise ReadmeError(f"line {marker[1] + 1}: the example marker is not followed by a block")
            i += 1
            continue
        language, content, end = _block(lines, i)
        is_shell = bool(content) and content[0].startswith("$ ")
        has_output = is_shell and any(not c.startswith("$ ") for c in content)
        output = None
        if language == "python" and end + 1 < len(lines) and lines[end + 1].strip() == FENCE:
            _, output, out_end = _block(lines, end + 1)
        if marker is None:
            if has_output or output is not None:
                raise ReadmeError(f"line {i + 1}: an example with output but no '<!-- example: NAME -->' line above it")
            i = end + 1
            continue
        found, at = marker
        marker = None
        name = found["name"]
        if name in {e.name for e in examples}:
            raise ReadmeError(f"line {at + 1}: a second example named {name!r}")
        if is_shell:
            examples.append(Example(name, "shell", at + 1, _shell_steps(content, i + 1), found["prev"]))
            i = end + 1
        elif output is not None:
            step = Step("\n".join(content), end + 2, out_end, output)
            examples.append(Example(name, "python", at + 1, [step], found["prev"]))
            i = out_end + 1
        else:
            raise ReadmeError(
                f"line {at + 1}: example {name!r} is neither '$ ' commands nor a python block with its output"
            )
    for k, e in enumerate(examples):
        earlier = {x.name for x in examples[:k] if x.kind == "python"}
        if e.continues is not None and (e.continues not in earlier or e.kind != "python"):
            raise ReadmeError(
                f"line {e.line}: python example {e.name!r} can only continue an earlier python example; "
                f"got {e.continues!r}"
            )
    return examples


def dass_argv(command: str) -> list[str]:
    """The arguments of a README command line ``dass ARGS  # comment``; any other program is refused."""
    words = shlex.split(command, comments=True)
    if not words or words[0] != "dass":
        raise ReadmeError(f"a README example runs {command!r}; only 'dass ...' commands are checked")
    return words[1:]


def make_demo_argv(makefile: str) -> list[str]:
    """The ``dass`` arguments of the Makefile's ``demo`` recipe (its ``-m dass ...`` line)."""
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    if recipe is None:
        raise ReadmeError("the Makefile has no 'demo' target")
    for line in recipe.group(1).splitlines():
        if " -m dass " in line:
            return shlex.split(line.split(" -m dass ", 1)[1])
    raise ReadmeError("the Makefile's 'demo' recipe runs no '-m dass' command")


def check_demo(examples: list[Example], makefile: str) -> None:
    """``make demo`` must run the README's ``demo`` example, so that checking the one checks the other."""
    demo = [e for e in examples if e.name == DEMO]
    if not demo:
        raise ReadmeError(f"the README has no example named {DEMO!r} (what 'make demo' runs)")
    shown = [dass_argv(s.command) for s in demo[0].steps if s.shown]
    if shown != [make_demo_argv(makefile)]:
        raise ReadmeError(f"'make demo' runs dass {shlex.join(make_demo_argv(makefile))}, not the README's {shown}")


# ---------------------------------------------------------------- running them


def relative(lines: list[str], workdir: Path) -> list[str]:
    """``lines`` with the run directory's absolute path made relative, as a user running there reads it."""
    out = []
    for line in lines:
        for spelling in {str(workdir.resolve()), str(workdir)}:
            line = line.replace(spelling + os.sep, "").replace(spelling, ".")
        out.append(line)
    return out


def normalise(lines: list[str]) -> list[str]:
    """``lines`` with what legitimately varies between runs masked (see the module's docstring)."""
    return [DATE.sub("<date>", TIME.sub("<t>", line)) for line in lines]


def prepare(workdir: Path) -> None:
    """What a user's checkout holds that the README's commands read (relative paths, as the README has them)."""
    for name in COPIED:
        shutil.copytree(ROOT / name, workdir / name)
    for path in sorted(ROOT.glob(LINKED_GLOB)):
        target = workdir / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)


def example_env(cache: Path, data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DASS_CHECKPOINT"}  # the shipped predictor, as a user's
    env.update(
        WANDB_MODE="disabled",
        DASS_DATA=data_dir,
        DASS_CACHE=str(cache),
        DASS_PROGRESS_INTERVAL="1e9",  # no periodic progress lines: their number depends on the elapsed time
        PYTHONUNBUFFERED="1",  # stdout and stderr interleaved as on a terminal
    )
    return env


def run_step(argv: list[str], workdir: Path, env: dict[str, str]) -> tuple[list[str], int, float]:
    """What ``argv`` prints (stdout and stderr together), its exit code and its wall time."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return done.stdout.splitlines(), done.returncode, time.perf_counter() - start


def run_examples(examples: list[Example], workdir: Path, env: dict[str, str]) -> None:
    """Run every step that has output shown, in README order, filling in ``printed``, exit code and wall time."""
    by_name = {e.name: e for e in examples}
    scripts = workdir.parent / "scripts"  # not the run directory: a script's folder goes first on sys.path
    scripts.mkdir(exist_ok=True)
    for example in examples:
        print(f"running example {example.name!r} (README.md line {example.line})", file=sys.stderr, flush=True)
        for step in example.steps:
            if not step.shown:
                continue
            if example.kind == "shell":
                argv = [sys.executable, "-m", "dass", *dass_argv(step.command)]
            else:
                # the code it continues runs first, its output cut off at a marker line: it is the other example's
                code, prev = [f"print({START!r}, flush=True)", step.command], example.continues
                while prev is not None:
                    code.insert(0, by_name[prev].steps[0].command)
                    prev = by_name[prev].continues
                script = scripts / f"{example.name}.py"
                script.write_text("\n".join(code) + "\n")
                argv = [sys.executable, str(script)]
            step.printed, step.returncode, step.seconds = run_step(argv, workdir, env)
            if START in step.printed:
                step.printed = step.printed[step.printed.index(START) + 1 :]


def matches(step: Step, workdir: Path) -> bool:
    return step.returncode == 0 and normalise(step.shown) == normalise(relative(step.printed, workdir))


def written_lines(step: Step, workdir: Path, keep_times: bool) -> list[str]:
    """What --write puts in the README for ``step``: what it printed, keeping the README's normalised figures
    on every line that is otherwise unchanged when ``keep_times``."""
    printed = relative(step.printed, workdir)
    if not keep_times or len(printed) != len(step.shown):
        return printed
    return [
        shown if normalise([shown]) == normalise([new]) else new for shown, new in zip(step.shown, printed, strict=True)
    ]


def rewrite(text: str, ran: list[Example], workdir: Path, keep_times: bool) -> str:
    """``text`` (the README as it is now: it is read again after the run, so that edits made meanwhile to other
    parts stay) with the output of every example in ``ran`` replaced by what it printed."""
    lines = text.splitlines()
    printed = {(e.name, k): s for e in ran for k, s in enumerate(e.steps) if s.shown}
    steps = []
    for e in parse_examples(text):
        for k, step in enumerate(e.steps):
            if (e.name, k) in printed:
                ran_step = printed[e.name, k]
                if ran_step.command != step.command:
                    raise ReadmeError(f"line {e.line}: example {e.name!r} was edited during the run; run it again")
                steps.append((step, ran_step))
    for step, ran_step in sorted(steps, key=lambda pair: pair[0].start, reverse=True):
        ran_step.shown = step.shown
        lines[step.start : step.stop] = written_lines(ran_step, workdir, keep_times)
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def diff(example: Example, step: Step) -> str:
    note = f" (exit code {step.returncode})" if step.returncode else ""
    lines = difflib.unified_diff(step.shown, step.printed, "README.md", f"printed now{note}", lineterm="")
    return f"example {example.name!r}: {step.command.splitlines()[0]}\n" + "\n".join(lines)


# ---------------------------------------------------------------- the result file


def cpu_model() -> str | None:
    """The CPU's model name (Linux), which decides the float kernels and so the trained weights."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def result(examples: list[Example], data_dir: str, load: tuple[tuple[float, ...], tuple[float, ...]]) -> dict:
    """Where and with what the outputs were produced, and per example whether they matched the README."""
    rows = []
    for e in examples:
        steps = [s for s in e.steps if s.shown]
        rows.append(
            {
                "example": e.name,
                "commands": len(steps),
                "matches_readme": all(s.matched for s in steps),
                "seconds": round(sum(s.seconds or 0.0 for s in steps), 1),
            }
        )
    return {
        "measured": provenance(),
        "cpu_model": cpu_model(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),  # which vector kernels torch picked
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "python": sys.version.split()[0],
        "dass_data": data_dir,
        "load_average_before": [round(x, 2) for x in load[0]],
        "load_average_after": [round(x, 2) for x in load[1]],
        "all_match": all(r["matches_readme"] for r in rows),
        "seconds": round(sum(r["seconds"] for r in rows), 1),
        "examples": rows,
        # the outputs as printed, to compare with another machine's
        "printed": {e.name: ["\n".join(s.printed) for s in e.steps if s.shown] for e in examples},
    }


def render(data: dict) -> str:
    """RESULTS.md's section: one row per example."""
    rows = [
        f"| `{r['example']}` | {r['commands']} | {'yes' if r['matches_readme'] else '**no**'} | {r['seconds']:.1f} |"
        for r in data["examples"]
    ]
    header = "| example | commands | matches the README | seconds |\n|---|---:|---|---:|"
    return (
        f"CPU {data['cpu_model']} (torch's {data['torch_cpu_capability']} kernels), OMP_NUM_THREADS "
        f"{data['omp_num_threads'] or 'unset'}. "
        f"Load average (1, 5, 15 min) {data['load_average_before']} before the run and "
        f"{data['load_average_after']} after: the seconds are wall times on that load, not an idle machine's.\n\n"
        + "\n".join([header, *rows])
    )


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1, with a diff, if an example prints otherwise")
    mode.add_argument("--write", action="store_true", help="write what the examples print now into README.md")
    mode.add_argument("--list", action="store_true", help="list the examples and their commands; run nothing")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these examples (no result file)")
    ap.add_argument("--write-times", action="store_true", help="with --write: the fresh elapsed times too")
    ap.add_argument("--data-dir", default=str(DATA_DIR), help="$DASS_DATA for the examples")
    ap.add_argument("--readme", type=Path, default=README, help="the README whose examples to run")
    ap.add_argument("--makefile", type=Path, default=MAKEFILE, help="the Makefile whose 'make demo' to compare")
    ap.add_argument("--out", default=str(result_path("readme_examples")), help="the result JSON (full runs)")
    args = ap.parse_args()

    text = args.readme.read_text()
    try:
        examples = parse_examples(text)
        check_demo(examples, args.makefile.read_text())
    except ReadmeError as e:
        ap.exit(2, f"{ap.prog}: {args.readme}: {e}\n")
    if args.only:
        unknown = sorted(set(args.only) - {e.name for e in examples})
        if unknown:
            ap.error(f"--only: no example named {unknown}; the README's are {[e.name for e in examples]}")
        wanted = set(args.only)
        for e in examples:  # an example that continues another needs that one's code, not its run
            if e.name in wanted and e.continues:
                wanted.add(e.continues)
        examples = [e for e in examples if e.name in wanted]
    if args.list:
        for e in examples:
            for s in e.steps:
                print(f"{e.name:14} {'run' if s.shown else 'not run (no output shown)':26} {s.command.splitlines()[0]}")
        return

    with tempfile.TemporaryDirectory(prefix="dass-readme-") as tmp:
        workdir, cache = Path(tmp) / "checkout", Path(tmp) / "cache"
        workdir.mkdir()
        prepare(workdir)
        load_before = os.getloadavg()
        run_examples(examples, workdir, example_env(cache, args.data_dir))
        load_after = os.getloadavg()
        for e in examples:
            for s in e.steps:
                s.matched = matches(s, workdir) if s.shown else True
        differing = [(e, s) for e in examples for s in e.steps if not s.matched]
        if args.write:
            text = args.readme.read_text()
            try:
                new = rewrite(text, examples, workdir, keep_times=not args.write_times)
            except ReadmeError as e:
                ap.exit(2, f"{ap.prog}: {args.readme}: {e}\n")
            if new != text:
                args.readme.write_text(new)
                print(f"wrote {len(differing)} changed example output(s) into {args.readme}")
        else:
            for e, s in differing:
                print(diff(e, s), end="\n\n")
    if not args.only:
        write_json(args.out, result(examples, args.data_dir, (load_before, load_after)))
        print(f"wrote {args.out}")
    if args.check and differing:
        names = sorted({e.name for e, _ in differing})
        raise SystemExit(f"README.md's output differs from what these examples print now: {', '.join(names)}")
    print(f"{len(examples)} example(s): " + ("all match README.md" if not differing else f"{len(differing)} rewritten"))


if __name__ == "__main__":
    main()
