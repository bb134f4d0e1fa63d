"""Real apply across OS processes (SQLite file and PostgreSQL): a process killed with
SIGKILL between two files is reconciled by the next cycle, and processes racing on one
store and one workspace never apply patches for more runs than the hourly limit."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import selflearn as sl
from selflearn.testing import FakeClock
from tests.apply_workers import apply_until_killed, race_tick_with_workspace
from tests.conftest import app_of, store_url_for
from tests.workspaces import (
    APP,
    APP_DIFF,
    README_DIFF,
    make_workspace,
    outside_selflearn,
    sha,
)

BACKENDS = ["sqlite", "postgres"]
FLAGS: dict[str, Any] = {
    "execution_mode_default": "normal",
    "enable_executor_real_apply": True,
    "executor_real_apply_max_patches": 2,
    "enable_policy_bandit": False,
}


def events(url: str, suffix: str) -> list[Any]:
    with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock()) as loop:
        app = app_of(loop)
        return [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=None, limit=1_000_000)
            if n.topic.endswith(suffix)
        ]


def wait_for(path: Path, process: Any, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.is_alive(), f"the child died before {path.name} (exit {process.exitcode})"
        assert time.monotonic() < deadline, f"the child never reached {path.name}"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("step", "found"), [(f"wrote:{APP}", "torn"), ("wrote:README.md", "applied")]
)
def test_kill_9_between_files_is_reconciled(
    backend: str, step: str, found: str, tmp_path: Path
) -> None:
    """SIGKILL after one file (torn) or after both (applied, unrecorded): the next cycle
    after the lease restores the workspace byte for byte and closes the run."""
    workspace = make_workspace(tmp_path / "ws")
    original = outside_selflearn(workspace)
    with store_url_for(backend, tmp_path / "store") as url:
        clock = FakeClock()
        with sl.LearningLoop(url, flags=sl.Flags(**FLAGS), clock=clock) as setup:
            pid = setup.propose(
                sl.ProposalDraft(
                    title="tune", priority=0.95, risk_level="low", patches=(APP_DIFF, README_DIFF)
                )
            )
            setup.approve(pid, reason="kill test")
        marker = tmp_path / "paused"
        ctx = multiprocessing.get_context("spawn")
        child = ctx.Process(
            target=apply_until_killed,
            args=(url, clock().isoformat(), FLAGS, str(workspace), step, str(marker)),
        )
        child.start()
        try:
            wait_for(marker, child)
        finally:
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
            child.join(timeout=60)
        assert -signal.SIGKILL == child.exitcode
        assert original != outside_selflearn(workspace)  # the child did write
        assert [] == events(url, "Proposal.PatchesApplied")

        later = FakeClock(clock() + timedelta(seconds=901))
        flags = sl.Flags(**{**FLAGS, "enable_experiment_executor": False})
        with sl.LearningLoop(url, flags=flags, clock=later, workspace=workspace) as loop:
            report = loop.tick()
            run = loop.proposal(pid).runs[0]
        assert 1 == report.interrupted
        assert "interrupted" == run.execution_status
        assert original == outside_selflearn(workspace)
        (reconciled,) = events(url, "Proposal.ApplyReconciled")
        assert found == reconciled.found


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_never_apply_for_more_runs_than_the_hourly_limit(
    backend: str, tmp_path: Path
) -> None:
    """Two processes, one store, one workspace, three eligible proposals: one apply."""
    flags = {**FLAGS, "normal_mode_max_per_hour": 1}
    for round_ in range(2):
        workspace = tmp_path / f"ws{round_}"
        workspace.mkdir()
        for name in ("a", "b", "c"):
            (workspace / f"{name}.txt").write_text(f"{name}\n")
        with store_url_for(backend, tmp_path / f"r{round_}") as url:
            clock = FakeClock()
            with sl.LearningLoop(url, flags=sl.Flags(**flags), clock=clock) as setup:
                for name in ("a", "b", "c"):
                    edit = sl.FileEdit(f"{name}.txt", sha(f"{name}\n".encode()), f"{name}!\n")
                    pid = setup.propose(
                        sl.ProposalDraft(
                            title=name, priority=0.95, risk_level="low", patches=(edit,)
                        )
                    )
                    setup.approve(pid, reason="race")
            ctx = multiprocessing.get_context("spawn")
            barrier, out = ctx.Barrier(2), ctx.Queue()
            procs = [
                ctx.Process(
                    target=race_tick_with_workspace,
                    args=(url, clock().isoformat(), flags, str(workspace), barrier, out),
                )
                for _ in range(2)
            ]
            for p in procs:
                p.start()
            results = [out.get(timeout=120) for _ in procs]
            for p in procs:
                p.join(timeout=60)
            assert [] == [r for r in results if r[0] != "ok"]
            changed = [
                f.name for f in sorted(workspace.glob("*.txt")) if f.read_text() != f"{f.stem}\n"
            ]
            assert 1 == len(changed), f"round {round_}: {changed}"
            assert 1 == len(events(url, "Proposal.ApplyIntended"))
            assert 1 == len(events(url, "Proposal.PatchesApplied"))
            assert 1 == len(events(url, "Guardrail.Admitted"))
            checks = events(url, "Proposal.PatchesChecked")
            assert ["safe_mode", "safe_mode"] == [c.reason for c in checks]
