"""The README against the code: every `pmc-instruct ...` and `make ...` line in its fenced code blocks
names a real command, target and options (checked through each command's `--help`), every option
written in its prose exists, and the cheap commands run for real on data/. Drift fails here."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flows.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def _logical_lines(block: str) -> list[str]:
    """Lines of a code block with backslash continuations joined."""
    out, current = [], ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        out.append((current + line).strip())
        current = ""
    return [line for line in out if line]


def readme_commands(program: str) -> list[list[str]]:
    """Argument lists of every `<program> ...` line in the README's fenced blocks, env assignments
    in front (`A=b pmc-instruct ...`) and a `.venv/bin/` prefix allowed."""
    found = []
    for block in FENCE.findall(README):
        for line in _logical_lines(block):
            if program not in line:  # other tools' lines (prefect, vllm, dask) may not even be shell words
                continue
            words = shlex.split(line, comments=True)  # `# comments` dropped
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                words = words[1:]
            if words and words[0].removeprefix(".venv/bin/") == program:
                found.append(words[1:])
    return found


COMMANDS = readme_commands("pmc-instruct")
MAKE = readme_commands("make")


def _ctx(command):
    return command.context_class(command)  # typer ships its own click: no `import click` here


def _is_group(command) -> bool:
    return hasattr(command, "list_commands")


def resolve(args: list[str]) -> tuple[list[str], object, list[str]]:
    """(command path, click command, remaining args) for a pmc-instruct argument list."""
    command = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while _is_group(command) and rest and not rest[0].startswith("-") and not rest[0].isupper():  # COMMAND: a placeholder
        sub = command.get_command(_ctx(command), rest[0])
        assert sub is not None, f"README shows `pmc-instruct {' '.join([*path, rest[0]])}`: no such command"
        path.append(rest.pop(0))
        command = sub
    return path, command, rest


def options_of(command) -> set[str]:
    return {"--help"} | {opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("-")}


def _help(path: list[str]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, f"pmc-instruct {' '.join(path)} --help failed:\n{result.output}"
    return result.output


def test_readme_shows_the_commands_it_is_about():
    shown = {tuple(resolve(args)[0]) for args in COMMANDS}
    for needed in (("ingest",), ("build",), ("stats",), ("report",), ("serve",), ("versions",), ("finetune",),
                   ("evaluate",), ("models", "check")):
        assert needed in shown, needed
    assert {"run", "test", "bench"} <= {args[0] for args in MAKE if args}


def check_line(args: list[str]) -> None:
    path, command, rest = resolve(args)
    assert path, f"README line `pmc-instruct {' '.join(args)}` names no command"
    text = _help(path)
    known = options_of(command)
    for word in rest:
        option = word.split("=", 1)[0]
        if option.startswith("--"):
            assert option in known, f"README: `pmc-instruct {' '.join(path)} {option}` is not an option"
            assert option in text, f"`pmc-instruct {' '.join(path)} --help` does not show {option}"


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a)[:60] for a in COMMANDS])
def test_every_command_and_option_in_the_readme_exists(args: list[str]):
    check_line(args)


def test_the_check_catches_drift():
    """What the README once showed: `build --format` (only ingest has it) and a missing command."""
    check_line(["ingest", "--input", "data", "--format", "jats"])
    with pytest.raises(AssertionError, match="--format` is not an option"):
        check_line(["build", "--input", "data", "--format", "jats"])
    with pytest.raises(AssertionError, match="no such command"):
        check_line(["models", "pull"])


def _all_options() -> dict[str, set[str]]:
    """Every option of every command, keyed by command path ('' for the top level)."""
    out: dict[str, set[str]] = {}

    def walk(command, path: list[str]) -> None:
        out[" ".join(path)] = options_of(command)
        if _is_group(command):
            for name in command.list_commands(_ctx(command)):
                walk(command.get_command(_ctx(command), name), [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def test_options_named_in_the_prose_exist():
    """Inline code such as `pmc-instruct ingest --format` must name an option of that command, and a
    bare `--option` one of some command (the fenced blocks of other tools are not prose)."""
    prose = FENCE.sub("", README)
    options = _all_options()
    everywhere = set().union(*options.values())
    spans = re.findall(r"`([^`\n]+)`", prose)
    assert spans
    for span in spans:
        words = span.split()
        if words[0] == "pmc-instruct":
            path, command, rest = resolve(words[1:])
            for word in rest:
                if word.startswith("--"):
                    assert word.split("=")[0] in options_of(command), f"README prose: `{span}`"
        elif words[0].startswith("--"):
            assert words[0].split("=")[0] in everywhere, f"README prose names {words[0]}, which no command has"


@pytest.mark.parametrize("args", MAKE, ids=[" ".join(a) for a in MAKE])
def test_make_lines_name_real_targets(args: list[str]):
    dry = subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, f"README `make {' '.join(args)}`: {dry.stderr}"


def test_make_run_builds_the_readme_demo_input():
    dry = subprocess.run(["make", "-n", "run"], cwd=REPO, capture_output=True, text=True, timeout=60)
    build = next(line for line in dry.stdout.splitlines() if "pmc-instruct build" in line)
    assert "--input data/demo" in build
    assert any(args[:3] == ["build", "--input", "data/demo"] for args in COMMANDS)


def test_cheap_readme_commands_run_on_data(tmp_path: Path, monkeypatch):
    """The README's ingest, stats, report and versions lines, run as written with out/ in a temp dir."""
    monkeypatch.chdir(REPO)

    def run(args: list[str]):
        args = [str(tmp_path / a) if a.startswith("out/") else a for a in args]
        result = CliRunner().invoke(app, args, env=WIDE)
        assert result.exit_code == 0, f"pmc-instruct {' '.join(args)}:\n{result.output}"
        return result.output

    lines = {tuple(resolve(args)[0]): args for args in COMMANDS if any(a.startswith("out/") for a in args)}
    output = run(lines[("ingest",)])
    assert "figures" in output and (tmp_path / "out" / "demo" / "figures").is_dir()
    for command in (("stats",), ("report",)):
        run(lines[command])
    assert (tmp_path / "out" / "demo" / "stats.json").is_file()
    assert (tmp_path / "out" / "demo" / "report.html").is_file()
    versions = next(args for args in COMMANDS if args[:1] == ["versions"] and len(args) == 2)
    run([versions[0], "out/demo"])
