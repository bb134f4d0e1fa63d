"""The docs are tests: README.md and docs/*.md say only what the program does.

- every ```python block runs;
- every `selflearn …` command the docs show — in ```sh and ```console blocks, and in
  inline code — is a command of the CLI with options it has (click parses each one);
- every ```console excerpt is real output: each `$ selflearn …` line runs against a
  store with a known history (`tests/docs_scenario.py`), and the lines shown under it
  appear in what it prints, in order, up to numbers, times, ids and bar lengths;
- the README's command table lists every command with all of its options;
- the operator guide names the sections of `selflearn status` as it prints them;
- the architecture's event catalogue lists exactly the domain's event classes, with their
  fields, types, versions and modules;
- every relative link leads to a file of the repository, and every anchor to a heading;
- `docs/behaviour.md` states the code's numbers: the flags with their types and defaults,
  the mode decision's reasons in order, the cycle's limits, the report's fields;
- no tracked file cites a document that is not in the repository.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import pkgutil
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import click
import pytest
from click.testing import CliRunner
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

import selflearn.events
from selflearn.cli import main
from selflearn.config import Flags
from selflearn.events import rules
from selflearn.events.migration import (
    DEFAULT_SCORE,
    MEDIUM_RISK_SCORE,
    MIGRATED_CONFIDENCE,
    SCORE_PER_PRIORITY,
)
from selflearn.events.policy import DEFAULT_FAMILIES
from selflearn.ports import TITLE_MAX
from selflearn.render import SECTION_TITLES
from selflearn.reports import CycleReport, RunReport
from selflearn.status import StatusReport
from selflearn.verify import DEFAULT_SPECS
from tests import docs_scenario

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "operator-guide.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
BEHAVIOUR = ROOT / "docs" / "behaviour.md"
DOCS = (README, *sorted((ROOT / "docs").glob("*.md")))

#: The status sections the runbook's operational checks name.
RUNBOOK_SECTIONS = ("Proposal Funnel", "Outcome Quality", "Policy State", "Opportunity Windows")
#: The commands whose output the operator guide shows (and the tests check).
SHOWN_IN_THE_GUIDE = {
    "status",
    "flags",
    "timeline",
    "disable",
    "enable",
    "rollback",
    "export",
    "rebuild",
    "migrate",
}
#: Fields of eventsourcing's envelope, carried by every event and not listed per event.
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
#: What the docs' shell variables stand for when a command is only parsed.
PLACEHOLDERS = {
    "PROPOSAL_ID": "29d9cc94-3720-51e3-94ff-9cfe9034b065",
    "RUN_ID": "57c9809b-ad65-5a22-83d5-8ac727682ba2",
    "SELFLEARN_STORE": "sqlite:///data/selflearn.db",
}
#: The environment a doc's command starts from: none of the flags, no store, a plain
#: terminal of the default width.
UNSET = (
    "SELFLEARN_STORE",
    "COLUMNS",
    "LINES",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    *(f.name.upper() for f in attrs.fields(Flags)),
)


# -- reading the docs --------------------------------------------------------------------


@attrs.frozen
class Block:
    """A fenced code block: its document, the line its fence opens on, its language, text."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(*langs: str, paths: tuple[Path, ...] = DOCS) -> list[Block]:
    """The fenced blocks of `paths` in these languages (indented fences included)."""
    found = []
    for path in paths:
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            opening = re.match(r"^(\s*)```([\w-]*)", lines[i])
            if opening is None:
                i += 1
                continue
            indent, lang = opening.groups()
            body: list[str] = []
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
                j += 1
            if lang in langs:
                found.append(Block(path, i + 1, lang, "\n".join(body) + "\n"))
            i = j + 1
    return found


def prose(path: Path) -> Iterator[tuple[int, str]]:
    """The lines of `path` outside fenced blocks, with their numbers."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def inline_commands() -> list[tuple[str, str]]:
    """Every inline code span of the docs that shows a `selflearn` command line."""
    spans = []
    for path in DOCS:
        for number, line in prose(path):
            for span in re.findall(r"`([^`]+)`", line):
                text = span.replace("\\|", "|")
                if text.startswith("selflearn ") or text == "selflearn":
                    spans.append((f"{path.relative_to(ROOT)}:{number}", text))
    return spans


def shell_segments(line: str) -> list[list[str]]:
    """The simple commands of a shell line, split at `|`, `&&`, `||` and `;`."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token in ("|", "||", "&&", ";"):
            segments.append([])
        else:
            segments[-1].append(token)
    return [segment for segment in segments if segment]


def expand(line: str, values: dict[str, str]) -> str:
    """`line` with `$NAME` and `${NAME}` replaced by their values."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"unknown shell variable ${name} in {line!r}")
        return values[name]

    return re.sub(r"\$(?:\{(\w+)\}|(?=[A-Za-z_])(\w+))", value, line)


def split_assignments(tokens: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading `NAME=value` words of a command, and the rest."""
    env: dict[str, str] = {}
    while tokens and re.match(r"^[A-Za-z_]\w*=", tokens[0]):
        name, _, value = tokens[0].partition("=")
        env[name] = value
        tokens = tokens[1:]
    return env, tokens


def selflearn_argv(tokens: list[str]) -> list[str] | None:
    """The arguments after `selflearn` (or `python -m selflearn`), or None."""
    if tokens[:1] == ["selflearn"]:
        return tokens[1:]
    if len(tokens) >= 3 and tokens[1:3] == ["-m", "selflearn"] and "python" in tokens[0]:
        return tokens[3:]
    return None


def commands_of(block: Block) -> list[str]:
    """The shell command lines of a block: every line of ```sh, the `$ ` lines of ```console."""
    lines: list[str] = []
    for raw in block.text.splitlines():
        if block.lang == "console":
            if raw.startswith("$ "):
                lines.append(raw[2:])
        elif raw.strip() and not raw.lstrip().startswith("#"):
            if lines and lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1] + " " + raw.strip()
            else:
                lines.append(raw.strip())
    return lines


# -- checking a command against the click group --------------------------------------------


def parse_command(argv: list[str]) -> str:
    """Parse `selflearn ARGV` as click would run it, without running it; return the command."""
    try:
        context = main.make_context("selflearn", list(argv))
    except click.exceptions.Exit:  # --help, --version
        return ""
    args = [*getattr(context, "_protected_args", []), *context.args]
    if not args:
        return ""
    name, command, rest = main.resolve_command(context, args)
    assert name is not None
    assert command is not None
    with contextlib.suppress(click.exceptions.Exit):  # --help
        command.make_context(name, rest, parent=context)
    return name


def option_names(command: click.Command) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts) if opt[0] == "-"}


def choices(command: click.Command) -> set[str]:
    return {
        str(choice)
        for p in command.params
        if isinstance(p.type, click.Choice)
        for choice in p.type.choices
    }


def is_placeholder(word: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_-]*|\$\w+|…|\.\.\.", word))


def check_synopsis(text: str) -> None:
    """A synopsis like `selflearn disable executor|bandit --reason TEXT [--store URL]`:
    each command exists, each option is one of its options, each choice one of its choices."""
    words = [w.strip("[]") for w in text.split()[1:]]
    words = [w for w in words if w]
    while words and words[0].startswith("-"):
        assert words[0] in option_names(main) | {"--help"}, f"no option {words[0]} of selflearn"
        words = words[1:]
    if not words or is_placeholder(words[0]):
        return
    for name in words[0].split("|"):
        assert name in main.commands, f"no command {name!r}"
        command = main.commands[name]
        takes_value = False
        for word in words[1:]:
            if word.startswith("-"):
                option = word.partition("=")[0]
                assert option in option_names(command) | {"--help"}, f"{name} has no {option}"
                param = next((p for p in command.params if option in p.opts), None)
                takes_value = (
                    param is not None and not getattr(param, "is_flag", False) and "=" not in word
                )
            elif takes_value or is_placeholder(word):
                takes_value = False
            else:
                for alternative in word.split("|"):
                    assert alternative in choices(command), f"{name}: {alternative!r}?"


# -- matching output -----------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[+-]\d\d:\d\d|Z)?")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DIGEST = re.compile(r"\b[0-9a-f]{12,64}\b")
NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def shape(line: str) -> str:
    """A line of output with what varies between runs masked: times, ids, digests, numbers,
    the length of bars, runs of spaces, and terminal colours."""
    line = TIME.sub("<time>", ANSI.sub("", line))
    line = UUID.sub("<id>", line)
    line = DIGEST.sub("<hex>", line)
    line = NUMBER.sub("<n>", line.replace("█", ""))
    return " ".join(line.split())


def missing_lines(expected: list[str], actual: list[str]) -> list[str]:
    """The expected lines (`…` skips) not found in `actual` in order, compared by shape."""
    shapes = [shape(line) for line in actual]
    position, missing = 0, []
    for line in expected:
        if not line.strip() or line.strip() in ("…", "..."):
            continue
        wanted = shape(line)
        try:
            position = shapes.index(wanted, position) + 1
        except ValueError:
            missing.append(line)
    return missing


def console_steps(block: Block) -> list[tuple[str, list[str]]]:
    """Each `$ ` command line of a console block with the output lines shown under it."""
    steps: list[tuple[str, list[str]]] = []
    for raw in block.text.splitlines():
        if raw.startswith("$ "):
            steps.append((raw[2:], []))
        else:
            assert steps, f"{block.where}: output before any command"
            steps[-1][1].append(raw)
    return steps


# -- the history the console excerpts are taken from ---------------------------------------


@attrs.frozen
class History:
    root: Path  # data/selflearn.db under it: the default store, relative to the root
    scenario: docs_scenario.Scenario


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("docs-history")
    (root / "data").mkdir()
    workspace = root / "workspace"
    workspace.mkdir()
    store = f"sqlite:///{root / 'data' / 'selflearn.db'}"
    scenario = docs_scenario.build(store, end=docs_scenario.recent_end(), workspace=workspace)
    return History(root, scenario)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A working directory of its own and an environment without flags, store or width."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def v1_file_of_the_guide() -> str:
    (example,) = [b.text for b in blocks("json", paths=(GUIDE,)) if '"proposals"' in b.text]
    json.loads(example)
    return example


def prepare(history: History, cwd: Path) -> None:
    """A fresh copy of the store in `cwd`, the guide's v1 file, the workspace as the run left it."""
    shutil.copytree(history.root / "data", cwd / "data")
    (cwd / "data" / "memory").mkdir()
    (cwd / "data" / "memory" / "improvement_proposals.json").write_text(v1_file_of_the_guide())
    (history.scenario.workspace / "app.ini").write_text("workers=4\n")


def run_console(block: Block, history: History, cwd: Path) -> list[str]:
    """Run the block's commands in order; return what does not match, in words."""
    prepare(history, cwd)
    values = {
        "PROPOSAL_ID": history.scenario.proposal_id,
        "RUN_ID": history.scenario.run_id,
    }
    exported: dict[str, str] = {}
    problems = []
    for line, expected in console_steps(block):
        (tokens,) = shell_segments(expand(line, {**values, **exported}))
        if tokens[0] == "export":
            exported.update(split_assignments(tokens[1:])[0])
            continue
        if tokens[:2] == ["mkdir", "-p"]:
            for directory in tokens[2:]:
                (cwd / directory).mkdir(parents=True, exist_ok=True)
            continue
        env, rest = split_assignments(tokens)
        argv = selflearn_argv(rest)
        assert argv is not None, f"{block.where}: only selflearn runs in a console block: {line}"
        result = CliRunner().invoke(main, argv, env={**exported, **env})
        actual = result.output.splitlines()
        failing = any(e.startswith("Error:") for e in expected)
        if (result.exit_code != 0) != failing:
            problems.append(f"$ {line}: exit code {result.exit_code}\n{result.output}")
        missing = missing_lines(expected, actual)
        if missing:
            problems.append(
                f"$ {line}\nnot printed (in this order):\n  "
                + "\n  ".join(missing)
                + "\nprinted:\n  "
                + "\n  ".join(actual)
            )
    return problems


# -- the tests -----------------------------------------------------------------------------

PYTHON = blocks("python")
SHELL = blocks("sh", "console")
CONSOLE = blocks("console")


@pytest.mark.parametrize("block", PYTHON, ids=[b.where for b in PYTHON])
def test_python_blocks_run(block: Block, clean_env: Path) -> None:
    """Every ```python block of the docs runs without error, in a directory of its own."""
    exec(compile(block.text, block.where, "exec"), {"__name__": "docs"})


def test_the_docs_have_code_to_run() -> None:
    """The README's host integration and real-apply example, and the guide's example, exist."""
    assert len([b for b in PYTHON if b.path == README]) >= 3
    assert [b for b in PYTHON if b.path == GUIDE]
    assert "class Host" in next(b.text for b in PYTHON if b.path == README)


@pytest.mark.parametrize("block", SHELL, ids=[b.where for b in SHELL])
def test_shell_commands_parse(block: Block) -> None:
    """Every `selflearn` command line of a ```sh or ```console block is one click accepts:
    the command exists, with those options, arguments and values."""
    for line in commands_of(block):
        for segment in shell_segments(expand(line, PLACEHOLDERS)):
            argv = selflearn_argv(split_assignments(segment)[1])
            if argv is None:
                continue
            try:
                parse_command(argv)
            except click.ClickException as exc:
                pytest.fail(f"{block.where}: `{line}`: {exc.format_message()}")


@pytest.mark.parametrize(("where", "text"), inline_commands(), ids=lambda v: str(v)[:60])
def test_inline_commands_exist(where: str, text: str) -> None:
    """Every inline `selflearn …` of the docs names commands, options and choices that exist."""
    check_synopsis(text)


def test_synopsis_check_can_fail() -> None:
    """The synopsis check refuses an unknown command, option or choice."""
    for wrong in (
        "selflearn statuz",
        "selflearn status --jsn",
        "selflearn disable executer --reason TEXT",
    ):
        with pytest.raises(AssertionError):
            check_synopsis(wrong)
    with pytest.raises(click.UsageError):
        parse_command(["rollback", "RUN"])  # --reason is required


@pytest.mark.parametrize("block", CONSOLE, ids=[b.where for b in CONSOLE])
def test_console_excerpts_are_real_output(block: Block, history: History, clean_env: Path) -> None:
    """Each command of a ```console block, run in order on the docs' history, prints the
    lines shown under it (in order, up to numbers, times and ids), and fails exactly when
    an `Error:` line is shown."""
    problems = run_console(block, history, clean_env)
    assert [] == problems, "\n\n".join(problems)


def test_output_matching_can_fail() -> None:
    """An excerpt matches output of the same shape only, line for line and in order."""
    actual = ["  cooldown none · normal successes 2", "  patches: applied in 1 runs"]
    assert [] == missing_lines(["  cooldown none · normal successes 5", "…"], actual)
    assert ["cooldown until"] == missing_lines(["cooldown until"], actual)
    assert [] == missing_lines(["Rollout"], ["\x1b[1mRollout\x1b[0m"])
    assert ["  cooldown none · normal successes 2"] == missing_lines(
        ["  patches: applied in 1 runs", "  cooldown none · normal successes 2"], actual
    )


def test_the_guide_shows_every_operator_command_at_work() -> None:
    """The operator guide shows the real output of each command an operator runs."""
    shown = set()
    for block in blocks("console", paths=(GUIDE,)):
        for line, _ in console_steps(block):
            for segment in shell_segments(expand(line, PLACEHOLDERS)):
                argv = selflearn_argv(split_assignments(segment)[1])
                if argv:
                    shown.add(parse_command(argv))
    assert set() == SHOWN_IN_THE_GUIDE - shown


def test_readme_table_lists_every_command_with_all_its_options() -> None:
    """The README's command table has a row per command, naming every option and argument."""
    rows: dict[str, str] = {}
    for line in README.read_text().splitlines():
        match = re.match(r"^\| `(selflearn [^`]+)` \|", line)
        if match:
            synopsis = match.group(1).replace("\\|", "|")
            for name in synopsis.split()[1].split("|"):
                rows[name] = synopsis
    assert sorted(main.commands) == sorted(rows)
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert re.search(rf"(?<![\w-]){param.opts[-1]}(?![\w-])", rows[name]), (
                    f"{name}: {param.opts[-1]}"
                )
            elif isinstance(param.type, click.Choice):
                assert all(str(c) in rows[name] for c in param.type.choices), name
            else:
                assert param.human_readable_name in rows[name], f"{name}: {param.name}"


def test_status_sections_as_selflearn_status_prints_them(history: History, clean_env: Path) -> None:
    """Each section of `selflearn status` is printed under its title, the operator guide
    names each title as printed, and the runbook's sections are among them."""
    prepare(history, clean_env)
    result = CliRunner().invoke(main, ["status"])
    assert 0 == result.exit_code, result.output
    printed = result.output.splitlines()
    guide = GUIDE.read_text()
    for title in SECTION_TITLES.values():
        assert title in printed
        assert f"`{title}`" in guide, title
    assert set() == set(RUNBOOK_SECTIONS) - set(SECTION_TITLES.values())


# -- the event catalogue -------------------------------------------------------------------


def domain_event_classes() -> dict[str, type[Any]]:
    """Every event class of every aggregate of `selflearn.events`, by qualified name."""
    found: dict[str, type[Any]] = {}
    for module_info in pkgutil.iter_modules(selflearn.events.__path__):
        module = importlib.import_module(f"selflearn.events.{module_info.name}")
        for aggregate in vars(module).values():
            if isinstance(aggregate, type) and issubclass(aggregate, Aggregate):
                for value in vars(aggregate).values():
                    if (
                        isinstance(value, type)
                        and issubclass(value, Aggregate.Event)
                        # the bases eventsourcing generates in every aggregate are never stored
                        and value.__name__ not in ("Event", "Created")
                    ):
                        found[value.__qualname__] = value
    return found


@attrs.frozen
class Entry:
    module: str
    version: int
    fields: dict[str, str]


def catalogue() -> dict[str, Entry]:
    """The architecture's event catalogue: each row under its aggregate's `### ` heading."""
    text = ARCHITECTURE.read_text()
    section = text[text.index("## Event catalogue") :]
    section = section[: section.index("\n## ", 1)]
    entries: dict[str, Entry] = {}
    module = ""
    for line in section.splitlines():
        heading = re.match(r"^### `\w+` — `([\w.]+)`", line)
        if heading:
            module = heading.group(1)
        elif line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            name = cells[0].strip("`")
            assert name not in entries, f"{name} is listed twice"
            fields = dict(re.findall(r"`(\w+): ([^`]+)`", cells[2].replace("\\|", "|")))
            entries[name] = Entry(module, int(cells[1]), fields)
    return entries


def test_event_catalogue_lists_every_event_with_its_fields_and_version() -> None:
    """The catalogue and the code agree: the same event classes, each under its module,
    with the same version and the same fields and types (the envelope and `at` aside)."""
    classes = domain_event_classes()
    listed = catalogue()
    assert sorted(classes) == sorted(listed)
    for name, cls in classes.items():
        fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
        assert "at" in fields, name
        own = {k: v for k, v in fields.items() if k not in ENVELOPE and k != "at"}
        entry = listed[name]
        assert own == entry.fields, name
        assert getattr(cls, "class_version", 1) == entry.version, name
        assert get_topic(cls) == f"{entry.module}:{name}", name
    assert len(classes) >= 30


def test_event_catalogue_parser_reads_fields_types_and_versions() -> None:
    """The catalogue's parser reads a row's fields with their types (`|` unescaped) and its
    version, so a row that drifts from its class fails the test above."""
    entry = catalogue()["Proposal.RunConverged"]
    assert "cooldown_until" in entry.fields
    assert "datetime | None" == entry.fields["cooldown_until"]
    assert 2 == catalogue()["Proposal.Proposed"].version


# -- links -----------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(line.lstrip("#")) for _, line in prose(path) if line.startswith("#")}


def test_links_lead_somewhere() -> None:
    """Every relative link of the docs names a file of the repository, and every anchor a
    heading of its document."""
    broken = []
    for path in DOCS:
        for number, line in prose(path):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target):
                    continue
                file, _, anchor = target.partition("#")
                linked = (path.parent / file).resolve() if file else path
                if not linked.exists() or ROOT not in linked.parents:
                    broken.append(f"{path.name}:{number}: {target}")
                elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                    broken.append(f"{path.name}:{number}: #{anchor}")
    assert [] == broken


# -- the behaviour contract states the code's numbers ----------------------------------------


def section(path: Path, title: str) -> str:
    """The text of the `## title` section of `path` (up to the next `## ` heading)."""
    text = path.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the Markdown tables in `text` (header rows included)."""
    return [
        [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ]


def flat(text: str) -> str:
    """`text` with every run of white space as one space."""
    return " ".join(text.split())


def shown_default(value: object) -> str:
    """A flag's default as the docs write it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    return str(value)


def shown_type(allowed: str) -> str:
    """The type column of the flags table for a flag that allows `allowed`."""
    if match := re.fullmatch(r"an integer from (\d+) to (\d+)", allowed):
        return f"integer {match[1]}–{match[2]}"
    if match := re.fullmatch(r"an integer >= (\d+)", allowed):
        return f"integer ≥ {match[1]}"
    known = {
        "a number from 0 to 1": "number 0–1",
        "one of true/false/1/0/yes/no/on/off (any case)": "boolean",
        "one of safe/normal": "`safe` or `normal`",
        "a non-empty comma list of low,medium,high": (
            "non-empty comma list of `low`, `medium`, `high`"
        ),
        "a store URL (sqlite:///…, postgresql://…, memory://)": "store URL",
        "a file path (empty for none)": "file path, empty for none",
    }
    return known[allowed]


def test_behaviour_lists_every_flag_with_its_type_and_default() -> None:
    """The flags table of docs/behaviour.md has one row per flag, with the type the flag
    allows and the default `Flags()` gives it."""
    rows = {
        cells[0].strip("`"): cells
        for cells in table_rows(section(BEHAVIOUR, "Flags"))
        if re.fullmatch(r"`[A-Z0-9_]+`", cells[0]) and len(cells) == 4
    }
    defaults = Flags()
    assert sorted(f.name.upper() for f in attrs.fields(Flags)) == sorted(rows)
    for field in attrs.fields(Flags):
        _, kind, default, _ = rows[field.name.upper()]
        assert f"`{shown_default(getattr(defaults, field.name))}`" == default, field.name
        assert shown_type(field.metadata["selflearn.flag"].allowed) == kind, field.name


def test_behaviour_gives_the_mode_decisions_reasons_in_order() -> None:
    """The mode decision's list names, in order, the reason each check gives when it is the
    first to fail, and `canary_allowed` when none does."""
    text = section(BEHAVIOUR, "Execution mode and guardrails")
    listed = re.findall(r"^\d\. .*`([\w:<>]+)`$", text, flags=re.MULTILINE)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    passing: dict[str, Any] = {
        "flags": Flags(execution_mode_default="normal"),
        "cooldown_until": None,
        "admissions": [],
        "risk_level": "low",
        "priority": 0.95,
        "now": now,
    }
    failing: list[dict[str, Any]] = [
        {"flags": Flags()},
        {"flags": Flags(execution_mode_default="normal", enable_normal_mode_canary=False)},
        {"cooldown_until": now + timedelta(seconds=1)},
        {"admissions": [now - timedelta(seconds=3599)]},
        {"risk_level": "medium"},
        {"priority": 0.5},
        {},
    ]
    decided = [rules.decide_mode(**{**passing, **change}).reason for change in failing]
    assert [r.replace("<risk>", "medium") for r in listed] == decided
    assert "normal" == rules.decide_mode(**passing).mode


def test_behaviour_states_the_codes_limits() -> None:
    """The limits and thresholds docs/behaviour.md states are the code's constants."""
    text = flat(BEHAVIOUR.read_text())
    hours = int(rules.SYNTHETIC_LOOKBACK.total_seconds() // 3600)
    window = int(rules.QUOTA_WINDOW.total_seconds())
    arms = [f"`{arm}`" for arm in DEFAULT_FAMILIES["approve_threshold"]]
    expected = [
        f"`source|event_type|content[:{rules.SIGNATURE_CONTENT_CHARS}]`",
        f"less than {rules.DEDUP_WINDOW.days} days",
        f"at most {TITLE_MAX} characters",
        f"at most {rules.MAX_EXECUTIONS_PER_CYCLE} per cycle, fewer by one",
        f"each cycle makes at most {rules.MAX_RECHECKS_PER_CYCLE} rechecks",
        f"after {rules.MAX_FAILED_RUNS} failed runs it is rejected",
        f"`(now − {window} s, now]`",
        f"the (up to {rules.SYNTHETIC_MAX_EVENTS}) highest-priority production learning "
        f"events of the last {hours} h",
        f"the arms {', '.join(arms[:-1])} and {arms[-1]}",
        f"`medium` if the score ≥ {MEDIUM_RISK_SCORE}",
        f"a missing or null score is {DEFAULT_SCORE}",
        f"{MIGRATED_CONFIDENCE} / `clamp01(score / {SCORE_PER_PRIORITY:g})`",
    ]
    assert [] == [phrase for phrase in expected if phrase not in text]
    assert frozenset(rules.NON_PRODUCTION_SOURCES) == frozenset(
        re.findall(r"`(\w+)`", text[text.index("is one of `unit_test`") : text.index("or starts")])
    )


def test_behaviour_gives_the_default_engines_formulas() -> None:
    """The priority formula and the risk levels of the default engine are the code's."""
    text = flat(section(BEHAVIOUR, "Learning events and proposals"))
    formula = re.search(
        r"`priority = clamp01\(([\d.]+)·value \+ ([\d.]+)·novelty \+ ([\d.]+)·confidence "
        r"\+ ([\d.]+)·\(1 − risk\)\)`",
        text,
    )
    assert formula is not None
    w_value, w_novelty, w_confidence, w_safety = map(float, formula.groups())
    for value, novelty, confidence, risk in [(1, 1, 1, 0), (0.9, 0.2, 0.5, 0.3), (0, 0, 0, 1)]:
        assert rules.priority_of(
            value=value, novelty=novelty, confidence=confidence, risk=risk
        ) == pytest.approx(
            min(
                1.0,
                w_value * value
                + w_novelty * novelty
                + w_confidence * confidence
                + w_safety * (1 - risk),
            )
        )
    levels = re.search(
        r"`risk_level = high` if `risk ≥ ([\d.]+)`, `medium` if `risk ≥ ([\d.]+)`", text
    )
    assert levels is not None
    high, medium = map(float, levels.groups())
    assert ("high", "medium") == (rules.risk_level_of(high), rules.risk_level_of(high - 1e-9))
    assert ("medium", "low") == (rules.risk_level_of(medium), rules.risk_level_of(medium - 1e-9))


def test_behaviour_lists_the_default_metric_specs() -> None:
    """The default verifier's specs in docs/behaviour.md are `DEFAULT_SPECS`."""
    rows = {
        cells[0].strip("`"): cells[1:]
        for cells in table_rows(section(BEHAVIOUR, "Verification"))
        if len(cells) == 6 and cells[0].startswith("`")
    }
    assert [spec.name for spec in DEFAULT_SPECS] == list(rows)
    for spec in DEFAULT_SPECS:
        better, *numbers = rows[spec.name]
        assert spec.better == better
        values = (spec.improve, spec.regress, spec.weak, spec.critical)
        assert [None if n == "—" else float(n) for n in numbers] == list(values), spec.name


def test_behaviour_names_every_field_of_the_reports() -> None:
    """The cycle's report and every section of the status report are described field by
    field: each field's name appears in backticks in its table row."""
    cycle = section(BEHAVIOUR, "The cycle")
    named = set(re.findall(r"`(\w+)`", cycle))
    assert set() == {f.name for f in attrs.fields(CycleReport)} - named
    (runs,) = [cells[1] for cells in table_rows(cycle) if cells[0] == "`runs`"]
    assert set() == {f.name for f in attrs.fields(RunReport)} - set(re.findall(r"`(\w+)`", runs))
    rows = {cells[0].strip("`"): cells[1] for cells in table_rows(section(BEHAVIOUR, "Status"))}
    for field in attrs.fields(StatusReport):
        if field.name in ("at", "as_of"):
            continue
        section_type = attrs.resolve_types(StatusReport)
        fields = attrs.fields(attrs.fields_dict(section_type)[field.name].type)
        missing = {f.name for f in fields} - set(re.findall(r"`(\w+)`", rows[field.name]))
        assert set() == missing, field.name


# -- the repository stands on its own ---------------------------------------------------------


def joined(*parts: str) -> str:
    """`parts` as one word: the names below are written in pieces, so that this file does not
    cite what it looks for."""
    return "".join(parts)


SPEC_, SHARED_, BENCHMARKS_ = joined("SP", "EC"), joined("shar", "ed/"), joined("BENCH", "MARKS")
#: Documents outside the repository, which no file may cite.
OUTSIDE_FILES = tuple(
    joined(*name, ".md")
    for name in (
        ("AP", "I"),
        ("STY", "LE"),
        ("STATIS", "TICS"),
        ("EVENTSOUR", "CING"),
        ("RUN", "BOOK"),
    )
)
OUTSIDE = re.compile(
    "|".join(
        (
            rf"\b{SPEC_}\b",
            re.escape(SHARED_),
            rf"\b{BENCHMARKS_}\b",
            *(rf"\b{re.escape(name)}\b" for name in OUTSIDE_FILES),
        )
    )
)


def tracked_files() -> list[Path]:
    """Every file git tracks in the repository."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.decode().split("\0") if name]


def text_of(path: Path) -> str | None:
    """The text of `path`, or None for a binary (or vanished) file."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_file_cites_a_document_outside_the_repository() -> None:
    """No tracked file — code, docs, tests, benchmarks, build files — cites a document a user
    of the package does not have; the project's own docs say it in their words."""
    citing = []
    files = tracked_files()
    for path in files:
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                citing.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert len(files) > 100
    assert [] == citing


def test_the_citation_check_can_fail() -> None:
    """The check finds each way of citing such a document, and leaves look-alike names alone."""
    for cited in (
        f"see {SPEC_} §5.1",
        f"the {SPEC_}'s numbers",
        f"../{SHARED_}{joined('STY', 'LE')}.md",
        f"{BENCHMARKS_} P1",
        f"see {joined('AP', 'I')}.md",
    ):
        assert OUTSIDE.search(cited), cited
    for fine in ("DEFAULT_SPECS", "MetricSpec", "a shared store", "bench/README.md", "P12"):
        assert not OUTSIDE.search(fine), fine
