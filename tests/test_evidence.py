"""The evidence export: one line per verification attempt, one entry per run.

The expected files are built here from the log's events, field by field, and compared
with what `export_evidence` wrote.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

import selflearn as sl
from selflearn.events.proposal import Proposal
from selflearn.evidence import export_evidence
from selflearn.testing.fakes import DEFAULT_START
from tests.conftest import BackendCase, Harness, app_of

MakeHarness = Callable[..., Harness]
EVIDENCE_FIELDS = {
    "id",
    "experiment_id",
    "metrics_before",
    "metrics_after",
    "delta",
    "verdict",
    "confidence",
    "signals",
    "pending_recheck",
    "attempt",
    "ts",
}
RUN_FIELDS = {
    "id",
    "proposal_id",
    "mode",
    "started_at",
    "finished_at",
    "execution_status",
    "artifacts",
    "verification",
}


def read_export(directory: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    lines = (directory / "outcome_evidence.jsonl").read_text().splitlines()
    runs = json.loads((directory / "experiment_runs_v2.json").read_text())
    return [json.loads(line) for line in lines], runs


def expected_runs(h: Harness) -> dict[str, dict[str, Any]]:
    """Each run with its documented fields, folded here from the proposal events."""
    runs: dict[str, dict[str, Any]] = {}
    for e in h.events():
        if isinstance(e, Proposal.RunStarted):
            runs[e.run_id] = {
                "id": e.run_id,
                "proposal_id": str(e.originator_id),
                "mode": e.mode,
                "started_at": e.at.isoformat(),
                "finished_at": None,
                "execution_status": "running",
                "artifacts": {},
                "verification": None,
            }
        elif isinstance(e, Proposal.RunExecuted):
            runs[e.run_id].update(execution_status=e.status, artifacts=e.artifacts)
        elif isinstance(e, Proposal.RunFailed):
            runs[e.run_id].update(execution_status="failed", finished_at=e.at.isoformat())
        elif isinstance(e, Proposal.AttemptVerified):
            runs[e.run_id]["verification"] = {
                "attempts": e.attempt,
                "verdict": e.verdict,
                "confidence": e.confidence,
                "pending_recheck": e.pending_recheck,
                "exhausted": False,
                "converged": False,
                "reason": None,
            }
        elif isinstance(e, Proposal.RunConverged):
            runs[e.run_id]["finished_at"] = e.at.isoformat()
            runs[e.run_id]["verification"].update(
                verdict=e.verdict,
                confidence=e.confidence,
                pending_recheck=False,
                exhausted=e.exhausted,
                converged=True,
                reason=e.reason,
            )
    return runs


def scenario(h: Harness) -> None:
    """A win, a run rechecked to exhaustion, three failed runs, a run still pending."""
    h.executor.effects["good"] = {"health_score": 2.0}
    h.executor.outcomes["broken"] = RuntimeError("executor crashed")
    h.executor.outcomes["good"] = sl.ExecutionResult(artifacts={"diff": "a/b", "files": 2})
    for title, priority in (("good", 0.99), ("flat", 0.97), ("broken", 0.95)):
        h.approved(title, priority=priority)
    for _ in range(3):
        h.loop.tick()
        h.clock.advance(seconds=300)
    h.approved("pending")
    h.loop.tick()


class TestEvidence(BackendCase):
    def test_the_files_equal_the_events(self, h: Harness, tmp_path: Path) -> None:
        """One line per verification attempt and one entry per run, values as the events'."""
        scenario(h)
        out = tmp_path / "out"
        out.mkdir()
        result = h.loop.export_evidence(out)
        rows, runs = read_export(out)
        attempts = h.events("Proposal.AttemptVerified")
        assert 1 + 3 + 1 == len(attempts) == len(rows) == result.attempts
        for row, e in zip(rows, attempts, strict=True):
            assert EVIDENCE_FIELDS == set(row)
            assert {
                "id": f"{e.run_id}:{e.attempt}",
                "experiment_id": e.run_id,
                "metrics_before": e.before,
                "metrics_after": e.after,
                "delta": e.delta,
                "verdict": e.verdict,
                "confidence": e.confidence,
                "signals": e.signals,
                "pending_recheck": e.pending_recheck,
                "attempt": e.attempt,
                "ts": e.at.isoformat(),
            } == row
        assert ["runs"] == list(runs)
        expected = expected_runs(h)
        assert 1 + 1 + 3 + 1 == len(runs["runs"]) == len(expected) == result.runs
        assert all(RUN_FIELDS == set(run) for run in runs["runs"])
        assert expected == {run["id"]: run for run in runs["runs"]}
        statuses = sorted(run["execution_status"] for run in runs["runs"])
        assert ["completed"] * 3 + ["failed"] * 3 == statuses
        good = next(r for r in runs["runs"] if r["artifacts"])
        assert {"diff": "a/b", "files": 2} == good["artifacts"]
        assert "running" not in statuses
        assert runs["runs"][-1]["finished_at"] is None  # still pending: after the closed runs

    def test_an_empty_store(self, h: Harness, tmp_path: Path) -> None:
        """With no runs yet, the files exist: no line, and an empty list of runs."""
        result = h.loop.export_evidence(tmp_path)
        assert ([], {"runs": []}) == read_export(tmp_path)
        assert (0, 0) == (result.attempts, result.runs)


# -- where the files go ---------------------------------------------------------------------


@pytest.fixture
def h(harness_factory: MakeHarness) -> Harness:
    return harness_factory("memory")


def test_the_export_replaces_old_files_whole(h: Harness, tmp_path: Path) -> None:
    """A second export replaces both files; no temporary file is left behind."""
    h.approved("flat")
    h.loop.tick()
    h.loop.export_evidence(tmp_path)
    h.clock.advance(seconds=300)
    h.loop.tick()
    h.loop.export_evidence(tmp_path)
    rows, runs = read_export(tmp_path)
    assert ([1, 2], 1) == ([r["attempt"] for r in rows], len(runs["runs"]))
    assert {"outcome_evidence.jsonl", "experiment_runs_v2.json"} == set(os.listdir(tmp_path))


@pytest.mark.parametrize(
    ("name", "fragment"), [("missing", "does not exist"), ("file.txt", "is not a directory")]
)
def test_a_bad_directory_is_an_error(h: Harness, tmp_path: Path, name: str, fragment: str) -> None:
    """A directory that does not exist, or a file, is a ValidationError naming it."""
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(sl.ValidationError, match=fragment):
        h.loop.export_evidence(tmp_path / name)
    assert ["file.txt"] == os.listdir(tmp_path)


def test_an_unwritable_directory_is_an_error(h: Harness, tmp_path: Path) -> None:
    """A directory the process cannot write to is a ValidationError saying so."""
    if os.geteuid() == 0:  # chmod does not stop root; sysfs refuses new files even to root
        directory = Path("/sys")
        try:
            os.close(os.open(directory / "selflearn-probe", os.O_CREAT | os.O_EXCL, 0o600))
        except OSError:
            pass
        else:
            os.unlink(directory / "selflearn-probe")
            pytest.skip("no directory here refuses a new file to this root process")
    else:
        directory = tmp_path / "locked"
        directory.mkdir(mode=0o500)
    with pytest.raises(sl.ValidationError, match="is not writable"):
        h.loop.export_evidence(directory)


def test_a_failed_export_leaves_the_old_files(h: Harness, tmp_path: Path) -> None:
    """When a file cannot be replaced, the export fails and the old evidence stays whole."""
    (tmp_path / "outcome_evidence.jsonl").write_text("old\n")
    (tmp_path / "experiment_runs_v2.json").mkdir()  # cannot be replaced by a file
    h.approved("flat")
    h.loop.tick()
    with pytest.raises(sl.SelflearnError, match="cannot write the evidence files"):
        h.loop.export_evidence(tmp_path)
    assert "old\n" == (tmp_path / "outcome_evidence.jsonl").read_text()
    assert {"outcome_evidence.jsonl", "experiment_runs_v2.json"} == set(os.listdir(tmp_path))


# -- streaming --------------------------------------------------------------------------------


def converged_proposals(h: Harness, count: int) -> None:
    """Record `count` proposals with one converged run each, straight through the aggregates."""
    at = DEFAULT_START
    batch: list[Proposal] = []
    for i in range(count):
        p = Proposal(
            id=uuid4(),
            at=at,
            title=f"p{i}",
            hypothesis="",
            plan_steps=[],
            expected_impact="",
            risk_level="low",
            confidence=0.9,
            priority=0.9,
            signature=f"s{i}",
            metadata={},
            patches=[],
            origin_event_ids=[],
            status="approved",
        )
        run_id = f"run-{i}"
        p.start_run(
            at=at,
            run_id=run_id,
            mode="safe",
            mode_reason="default_safe_mode",
            decision={},
            lease_until=at + timedelta(minutes=15),
        )
        p.record_execution(
            at=at,
            run_id=run_id,
            baseline={"health_score": 80.0},
            status="completed",
            cost_usd=0.0,
            duration_ms=1.0,
            artifacts={"log": "x" * 200},
            error=None,
        )
        p.record_attempt(
            at=at,
            run_id=run_id,
            attempt=1,
            before={"health_score": 80.0},
            after={"health_score": 82.0},
            delta={"health_score": 2.0},
            signals={},
            verdict="win",
            confidence=0.66,
            pending_recheck=False,
            reasons=[],
            error=None,
        )
        p.converge(
            at=at,
            run_id=run_id,
            verdict="win",
            confidence=0.66,
            exhausted=False,
            reason="converged at attempt 1: win",
            credited_arms={},
            cooldown_until=None,
        )
        batch.append(p)
        if len(batch) == 200:
            app_of(h.loop).save(*batch)
            batch = []
    if batch:
        app_of(h.loop).save(*batch)


def peak_export_memory(h: Harness, directory: Path) -> int:
    tracemalloc.start()
    try:
        export_evidence(app_of(h.loop), directory, page_size=100)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_the_store(harness_factory: MakeHarness, tmp_path: Path) -> None:
    """Exporting 5x more runs (SQLite, pages of 100) takes about the same peak memory."""
    peaks = []
    for count in (400, 2000):
        h = harness_factory("sqlite")
        converged_proposals(h, count)
        out = tmp_path / str(count)
        out.mkdir()
        peaks.append(peak_export_memory(h, out))
        assert count == len(read_export(out)[1]["runs"])
    small, large = peaks
    assert large < small * 1.5, peaks
