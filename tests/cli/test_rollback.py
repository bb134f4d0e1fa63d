"""`selflearn rollback RUN_ID --reason TEXT`: undo a real apply from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import selflearn as sl
from selflearn.cli import main
from selflearn.testing import FakeClock, FakeExecutor, FakeProbe
from tests.workspaces import APP, APP_DIFF, APP_V1, APP_V2, README_DIFF, make_workspace

FLAGS = sl.Flags(
    execution_mode_default="normal",
    enable_executor_real_apply=True,
    executor_real_apply_max_patches=2,
    enable_policy_bandit=False,
)


@pytest.fixture
def applied(tmp_path: Path) -> tuple[str, str, Path]:
    """A SQLite store with one run that applied two patches and won; its workspace."""
    workspace = make_workspace(tmp_path / "ws")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    probe = FakeProbe({"health_score": 80.0})
    executor = FakeExecutor(probe=probe, effects={"good": {"health_score": 2.0}})
    with sl.LearningLoop(
        url, flags=FLAGS, executor=executor, probe=probe, clock=FakeClock(), workspace=workspace
    ) as loop:
        pid = loop.propose(
            sl.ProposalDraft(
                title="good", priority=0.95, risk_level="low", patches=(APP_DIFF, README_DIFF)
            )
        )
        loop.approve(pid, reason="cli test")
        assert 1 == loop.tick().wins
        run_id = loop.proposal(pid).runs[0].id
    assert APP_V2 == (workspace / APP).read_bytes()
    return url, run_id, workspace


def test_rollback_restores_and_reports(applied: tuple[str, str, Path]) -> None:
    """The command restores the files, prints them, and refuses a second rollback."""
    url, run_id, workspace = applied
    runner = CliRunner()
    result = runner.invoke(main, ["rollback", run_id, "--reason", "incident 9", "--store", url])
    assert 0 == result.exit_code, result.output
    assert f"Rolled back run {run_id}" in result.output
    assert f"{APP}: restored" in result.output
    assert APP_V1 == (workspace / APP).read_bytes()
    again = runner.invoke(main, ["rollback", run_id, "--reason", "again", "--store", url])
    assert 1 == again.exit_code
    assert "already rolled back" in again.output
    assert "Traceback" not in again.output


def test_rollback_json(applied: tuple[str, str, Path]) -> None:
    """--json prints the rollback report only."""
    url, run_id, _ = applied
    result = CliRunner().invoke(
        main, ["rollback", run_id, "--reason", "x", "--store", url, "--json"]
    )
    assert 0 == result.exit_code, result.output
    data = json.loads(result.output)
    assert (run_id, "x", [APP, "README.md"]) == (data["run_id"], data["reason"], data["restored"])


def test_rollback_stopped_by_a_changed_file_exits_1(applied: tuple[str, str, Path]) -> None:
    """A file changed since the apply is named, not overwritten, and the exit code is 1."""
    url, run_id, workspace = applied
    (workspace / "README.md").write_text("mine now\n")
    result = CliRunner().invoke(main, ["rollback", run_id, "--reason", "x", "--store", url])
    assert 1 == result.exit_code
    assert "README.md was changed by someone else" in result.output
    assert "mine now\n" == (workspace / "README.md").read_text()


def test_rollback_errors(applied: tuple[str, str, Path], tmp_path: Path) -> None:
    """Unknown runs and missing stores exit 1; a missing --reason is a usage error (2)."""
    url, run_id, _ = applied
    runner = CliRunner()
    unknown = runner.invoke(main, ["rollback", "nope", "--reason", "x", "--store", url])
    assert (1, True) == (unknown.exit_code, "no run 'nope' applied patches" in unknown.output)
    missing = tmp_path / "missing.db"
    gone = runner.invoke(
        main, ["rollback", run_id, "--reason", "x", "--store", f"sqlite:///{missing}"]
    )
    assert (1, False) == (gone.exit_code, missing.exists())
    assert 2 == runner.invoke(main, ["rollback", run_id, "--store", url]).exit_code
