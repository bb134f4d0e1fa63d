"""One test per `selflearn` command (click's runner): output, `--json`, exit codes."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import selflearn as sl
from selflearn.cli import main
from selflearn.config import DEFAULT_STORE
from selflearn.testing import FakeClock, FakeExecutor, FakeProbe

README = Path(__file__).resolve().parents[2] / "README.md"


#: The CLI's "now" is the system clock: the fixture's history happened an hour ago.
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A SQLite store with one pending recheck, one pending proposal, written by the loop."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    clock = FakeClock(START)
    probe = FakeProbe({"health_score": 80.0})
    flags = sl.Flags(execution_mode_default="normal")
    with sl.LearningLoop(
        url, flags=flags, clock=clock, probe=probe, executor=FakeExecutor(probe=probe), seed=3
    ) as loop:
        loop.propose(
            sl.ProposalDraft(title="Cache search results", priority=0.95, risk_level="low")
        )
        loop.propose(sl.ProposalDraft(title="Rewrite the planner", priority=0.7, risk_level="high"))
        loop.tick()
    return url


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def pending_id(store: str) -> str:
    with sl.LearningLoop(store, flags=sl.Flags(), _open_existing=True) as loop:
        (proposal,) = loop.proposals(status="pending_approval")
        return proposal.id


def test_status_human(store: str) -> None:
    """`status` prints every section title, the trend bars and the growing-recheck warning."""
    result = invoke("status", "--store", store)
    assert 0 == result.exit_code, result.output
    for title in (
        "Rollout",
        "Proposal Funnel",
        "Outcome Quality",
        "Policy State",
        "Execution Guardrail",
        "Opportunity Windows",
        "Store",
    ):
        assert re.search(rf"^{title}$", result.stdout, flags=re.MULTILINE), title
    assert "trend_24h" in result.stdout
    assert "trend_7d" in result.stdout
    assert "WARNING: pending_recheck_runs grew from 0 to 1 over the last 24 h" in result.stdout


def test_status_json(store: str) -> None:
    """`status --json` prints only the report's JSON; `--as-of` gives the report then."""
    result = invoke("status", "--store", store, "--json")
    assert 0 == result.exit_code, result.stderr
    data = json.loads(result.stdout)
    assert (2, 1) == (
        data["proposal_funnel"]["created"],
        data["outcome_quality"]["pending_recheck_runs"],
    )
    before = (START - timedelta(seconds=1)).isoformat()
    result = invoke("status", "--store", store, "--json", "--as-of", before)
    assert 0 == result.exit_code, result.stderr
    earlier = json.loads(result.stdout)
    assert (True, 0, 0) == (
        earlier["as_of"],
        earlier["proposal_funnel"]["created"],
        earlier["store"]["events_recorded"],
    )


def test_status_bad_input(store: str, tmp_path: Path) -> None:
    """Bad times are usage errors or errors; a missing store is an error and stays missing."""
    result = invoke("status", "--store", store, "--as-of", "last tuesday")
    assert 2 == result.exit_code
    assert "not an ISO 8601 time" in result.stderr
    result = invoke("status", "--store", store, "--as-of", "2999-01-01T00:00:00Z")
    assert (1, "") == (result.exit_code, result.stdout)
    assert "lies in the future" in result.stderr
    assert "Traceback" not in result.output
    missing = tmp_path / "nowhere" / "missing.db"
    result = invoke("status", "--store", f"sqlite:///{missing}", "--json")
    assert (1, "") == (result.exit_code, result.stdout)
    assert "does not exist" in result.stderr
    assert not missing.exists()
    assert not missing.parent.exists()


def test_status_on_a_store_of_a_newer_selflearn(store: str) -> None:
    """A store stamped by a newer selflearn is refused with a clear error, exit 1."""
    path = store.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE selflearn_schema SET version = 99")
    result = invoke("status", "--store", store)
    assert 1 == result.exit_code
    assert "written by a newer selflearn (store schema v99" in result.stderr


def test_status_writes_no_event(store: str) -> None:
    """`status` leaves the event log as it was (only the view tables are written)."""
    path = store.removeprefix("sqlite:///")

    def count() -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])

    before = count()
    assert 0 == invoke("status", "--store", store, "--json").exit_code
    assert before == count()


def test_rebuild(store: str) -> None:
    """`rebuild` reports events per second; `--view` takes one view; an unknown view is exit 2."""
    result = invoke("rebuild", "--store", store)
    assert 0 == result.exit_code, result.output
    assert re.search(
        r"rebuilt rollout, .*opportunity_windows: \d+ events in .* events/s", result.stdout
    )
    result = invoke("rebuild", "--store", store, "--view", "outcome_quality")
    assert 0 == result.exit_code
    assert result.stdout.startswith("rebuilt outcome_quality:")
    result = invoke("rebuild", "--store", store, "--view", "funnel")
    assert 2 == result.exit_code
    assert "'funnel' is not one of" in result.stderr


def test_timeline(store: str) -> None:
    """`timeline` lists a proposal's events in order; `--json` parses; an unknown id is exit 1."""
    with sl.LearningLoop(store, flags=sl.Flags(), _open_existing=True) as loop:
        executed = loop.proposals(status="executed")[0].id
    result = invoke("timeline", executed, "--store", store, "--json")
    assert 0 == result.exit_code, result.stderr
    kinds = [entry["kind"] for entry in json.loads(result.stdout)]
    expected = ["Proposed", "Approved", "RunStarted", "Admitted", "RunExecuted", "AttemptVerified"]
    assert expected == kinds
    human = invoke("timeline", executed, "--store", store)
    assert 0 == human.exit_code
    assert "normal mode (canary_allowed)" in " ".join(human.stdout.split())
    assert "guardrail: Admitted" in human.stdout
    result = invoke("timeline", "no-such-proposal", "--store", store)
    assert 1 == result.exit_code
    assert "no proposal 'no-such-proposal'" in result.stderr


def test_flags(store: str) -> None:
    """`flags` shows values, sources and the stage; overrides count; a bad value is exit 1."""
    env = {"EXECUTION_MODE_DEFAULT": "normal", "ENABLE_POLICY_BANDIT": None}
    result = invoke("flags", "--store", store, "--json", env=env)  # type: ignore[arg-type]
    assert 0 == result.exit_code, result.stderr
    data = json.loads(result.stdout)
    assert "normal-canary" == data["stage"]
    assert {"value": "normal", "source": "environment", "variable": "EXECUTION_MODE_DEFAULT"} == (
        data["flags"]["execution_mode_default"]
    )
    assert "default" == data["flags"]["enable_policy_bandit"]["source"]
    assert 0 == invoke("disable", "executor", "--reason", "incident", "--store", store).exit_code
    data = json.loads(invoke("flags", "--store", store, "--json", env=env).stdout)  # type: ignore[arg-type]
    assert ("shadow", False, "override") == (
        data["stage"],
        data["flags"]["enable_experiment_executor"]["value"],
        data["flags"]["enable_experiment_executor"]["source"],
    )
    human = invoke("flags", "--store", store, env=env)  # type: ignore[arg-type]
    assert "rollout stage: shadow" in human.stdout
    bad = invoke("flags", "--store", store, env={"NORMAL_MODE_MAX_PER_HOUR": "-1"})
    assert 1 == bad.exit_code
    assert "NORMAL_MODE_MAX_PER_HOUR='-1' is not allowed" in bad.stderr


def test_disable_and_enable(store: str) -> None:
    """`disable`/`enable` record overrides the status shows; bad input records nothing."""
    result = invoke("disable", "bandit", "--reason", "reward drift", "--store", store)
    assert (0, "bandit: disabled from the next cycle on\n") == (result.exit_code, result.stdout)
    status = json.loads(invoke("status", "--store", store, "--json").stdout)
    assert "reward drift" == status["rollout"]["overrides"]["bandit"]["reason"]
    assert 0 == invoke("enable", "bandit", "--reason", "fixed", "--store", store).exit_code
    status = json.loads(invoke("status", "--store", store, "--json").stdout)
    assert {} == status["rollout"]["overrides"]
    assert 2 == invoke("disable", "everything", "--reason", "x", "--store", store).exit_code
    assert 2 == invoke("disable", "executor", "--store", store).exit_code
    blank = invoke("disable", "executor", "--reason", "  ", "--store", store)
    assert 1 == blank.exit_code
    assert "reason" in blank.stderr


def test_approve(store: str) -> None:
    """`approve` approves a pending proposal; approving it twice is exit 1."""
    pid = pending_id(store)
    result = invoke("approve", pid, "--store", store)
    assert (0, f"approved {pid}\n") == (result.exit_code, result.stdout)
    status = json.loads(invoke("status", "--store", store, "--json").stdout)
    assert (0, 1) == (
        status["proposal_funnel"]["pending_approval"],
        status["proposal_funnel"]["approved"],
    )
    again = invoke("approve", pid, "--store", store)
    assert 1 == again.exit_code
    assert f"proposal {pid} is approved; it cannot become approved" in again.stderr


def test_reject(store: str, tmp_path: Path) -> None:
    """`reject` records the reason; a missing store is an error and is not created."""
    pid = pending_id(store)
    result = invoke("reject", pid, "--reason", "too risky", "--store", store)
    assert (0, f"rejected {pid}\n") == (result.exit_code, result.stdout)
    timeline = json.loads(invoke("timeline", pid, "--store", store, "--json").stdout)
    assert ("Rejected", "too risky") == (timeline[-1]["kind"], timeline[-1]["detail"]["reason"])
    missing = tmp_path / "missing.db"
    result = invoke("reject", pid, "--store", f"sqlite:///{missing}")
    assert 1 == result.exit_code
    assert not missing.exists()


def test_every_command_has_help_and_a_readme_row() -> None:
    """Each command has help text and a row in the README's CLI table."""
    readme = README.read_text()
    for name, command in main.commands.items():
        assert command.help, name
        result = invoke(name, "--help")
        assert 0 == result.exit_code
        assert re.search(rf"^\| `selflearn {name}[ `|]", readme, flags=re.MULTILINE), name


def modules_loaded(*argv: str) -> set[str]:
    """The modules a `selflearn` process has imported by the time the command is done."""
    code = (
        "import json, sys\n"
        "from selflearn.cli import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stderr.splitlines()[-1]))


def test_help_imports_click_and_little_else() -> None:
    """`selflearn --help` loads none of the library beyond its exceptions, and neither
    eventsourcing, attrs, rich, structlog nor psycopg."""
    loaded = modules_loaded("--help")
    ours = {m for m in loaded if m.startswith("selflearn")}
    assert {"selflearn", "selflearn.exceptions"} == {m for m in ours if ".cli" not in m}
    heavy = ("eventsourcing", "attr", "cattrs", "rich", "structlog", "psycopg")
    assert set() == {m for m in loaded if m.split(".")[0] in heavy}


def test_status_json_imports_only_what_it_needs(store: str) -> None:
    """`selflearn status --json` on a SQLite store reads the views without the loop, the
    cycle, rich, structlog or psycopg."""
    loaded = modules_loaded("status", "--json", "--store", store)
    assert "selflearn.projections.service" in loaded
    unneeded = {"selflearn.loop", "selflearn.cycle", "selflearn.migrate", "selflearn.render"}
    assert set() == unneeded & loaded
    assert set() == {m for m in loaded if m.split(".")[0] in ("rich", "structlog", "psycopg")}


def test_the_default_store_is_the_librarys() -> None:
    """Every command's `--store` (but the demo's own) defaults to the library's default."""
    defaults = {
        name: param.default
        for name, command in main.commands.items()
        for param in command.params
        if param.name == "store" and name != "demo"
    }
    assert len(defaults) >= 11
    assert {DEFAULT_STORE} == set(defaults.values())
