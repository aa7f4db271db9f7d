"""The command table of dass/cli/__init__.py: every command reachable from its module, and lazy imports."""

import importlib
import subprocess
import sys

import pytest

from dass.cli import COMMANDS, build_parser, load_commands
from dass.cli.common import Command


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_in_the_table_is_declared_by_its_module(name):
    module, help_ = COMMANDS[name]
    command = load_commands([name])[name]
    assert isinstance(command, Command) and command.name == name and command.help == help_
    assert command.run.__module__ == command.add_arguments.__module__ == f"dass.cli.{module}"
    assert command in importlib.import_module(f"dass.cli.{module}").COMMANDS


def test_every_declared_command_is_in_the_table():
    for module in {module for module, _ in COMMANDS.values()}:
        for command in importlib.import_module(f"dass.cli.{module}").COMMANDS:
            assert COMMANDS.get(command.name, (None,))[0] == module, command.name


def test_the_parser_lists_the_commands_in_table_order():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert list(sub.choices) == list(COMMANDS)
    for name, p in sub.choices.items():
        assert p.get_default("func") is load_commands([name])[name].run


def imported_after(argv):
    """The modules imported by ``dass ARGV`` in a fresh interpreter."""
    code = (
        "import sys\n"
        "from dass.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split("\n")[-2].split())


def test_help_and_version_import_no_command_module_and_no_torch():
    for argv in (["--help"], ["--version"]):
        modules = imported_after(argv)
        assert "torch" not in modules and "numpy" not in modules, argv
        assert {m for m in modules if m.startswith("dass.cli.")} == {"dass.cli.common"}, argv


def test_a_command_imports_only_its_own_module():
    modules = imported_after(["tasks"])
    assert {m for m in modules if m.startswith("dass.cli.")} == {"dass.cli.common", "dass.cli.tasks"}
    assert "search" not in modules and "predictor" not in modules  # the core alone lists the tasks
