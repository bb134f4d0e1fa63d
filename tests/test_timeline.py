"""A proposal's timeline: every event in order, each with its reason in words."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

import selflearn as sl
from selflearn.events.migration import v1_proposal_id
from tests.conftest import BackendCase, Harness

MakeHarness = Callable[..., Harness]
NORMAL = sl.Flags(execution_mode_default="normal")


def kinds(entries: tuple[sl.TimelineEntry, ...]) -> list[str]:
    return [e.kind for e in entries]


def only(entries: tuple[sl.TimelineEntry, ...], kind: str) -> list[sl.TimelineEntry]:
    return [e for e in entries if e.kind == kind]


class TestTimeline(BackendCase):
    def test_a_normal_run_with_its_admission_credit_and_cooldown(self, make: MakeHarness) -> None:
        """A normal-mode loss: the admission, the arm approved under, the cooldown, all told."""
        h = make(flags=NORMAL)
        h.executor.effects["bad"] = {"health_score": -2.0}
        h.loop.tick()  # the bandit selects its first arms
        pid = h.approved("bad")
        h.loop.tick()
        entries = h.loop.timeline(pid)
        assert [
            "Proposed",
            "Approved",
            "RunStarted",
            "Admitted",
            "RunExecuted",
            "AttemptVerified",
            "RunConverged",
        ] == kinds(entries)
        assert ["proposal"] * 3 + ["guardrail"] + ["proposal"] * 3 == [e.aggregate for e in entries]
        (approved,) = only(entries, "Approved")
        arm = approved.detail["policy_arms"]["approve_threshold"]
        assert f"under the bandit selection approve_threshold={arm}" in approved.summary
        (started,) = only(entries, "RunStarted")
        run_id = started.detail["run_id"]
        assert started.summary.startswith(f"run {run_id} started in normal mode (canary_allowed)")
        assert "0 of 1 admission(s) used in the last hour" in started.summary
        (admitted,) = only(entries, "Admitted")
        assert (run_id, pid) == (admitted.detail["run_id"], admitted.detail["proposal_id"])
        (attempt,) = only(entries, "AttemptVerified")
        assert attempt.summary.startswith(f"verification attempt 1 of run {run_id}: loss")
        assert "health_score=-2" in attempt.summary
        (converged,) = only(entries, "RunConverged")
        until = converged.detail["cooldown_until"]
        assert f"cooldown until {until.isoformat()}" in converged.summary
        assert f"bandit credit: a loss to approve_threshold={arm}" in converged.summary
        later = h.approved("next")
        h.loop.tick()
        (blocked,) = only(h.loop.timeline(later), "RunStarted")
        assert "safe mode (cooldown_active)" in blocked.summary
        assert f"active until {until.isoformat()}" in blocked.summary

    def test_entries_are_plain_data(self, h: Harness) -> None:
        """Every entry has a summary of its own, and to_dict() is JSON-able."""
        pid = h.approved()
        h.loop.tick()
        for entry in h.loop.timeline(pid):
            assert entry.summary
            assert entry.summary != entry.kind
            data = entry.to_dict()
            assert json.loads(json.dumps(data)) == data
            assert {"at", "kind", "detail", "summary", "aggregate"} == set(data)


@pytest.mark.parametrize(
    ("flags", "fields", "fragment"),
    [
        (sl.Flags(), {}, "EXECUTION_MODE_DEFAULT is safe"),
        (
            sl.Flags(execution_mode_default="normal", enable_normal_mode_canary=False),
            {},
            "the normal-mode canary is off",
        ),
        (
            sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=0),
            {},
            "0 normal-mode admission(s) in the last hour reached NORMAL_MODE_MAX_PER_HOUR=0",
        ),
        (NORMAL, {"risk_level": "medium"}, "risk medium is not in NORMAL_MODE_ALLOWED_RISK (low)"),
        (
            NORMAL,
            {"priority": 0.85},
            "priority 0.85 is below NORMAL_MODE_MIN_PRIORITY=0.9",
        ),
    ],
)
def test_why_a_run_was_safe(
    harness_factory: MakeHarness, flags: sl.Flags, fields: dict[str, object], fragment: str
) -> None:
    """The run start says why the run was safe, with the numbers the decision used."""
    h = harness_factory("memory", flags=flags)
    pid = h.approved(**fields)
    h.loop.tick()
    (started,) = only(h.loop.timeline(pid), "RunStarted")
    assert fragment in started.summary
    assert [] == only(h.loop.timeline(pid), "Admitted")


def test_rechecks_and_exhaustion(harness_factory: MakeHarness) -> None:
    """Each attempt is numbered and says it is pending; exhaustion is explained."""
    h = harness_factory("memory")
    pid = h.approved("no effect")
    for _ in range(3):
        h.loop.tick()
        h.clock.advance(seconds=300)
    entries = h.loop.timeline(pid)
    attempts = only(entries, "AttemptVerified")
    assert [1, 2, 3] == [e.detail["attempt"] for e in attempts]
    assert all("pending a recheck" in e.summary for e in attempts[:2])
    (converged,) = only(entries, "RunConverged")
    assert "max_retries_exhausted" in converged.summary
    assert "every allowed attempt stayed pending" in converged.summary
    assert "no bandit credit (inconclusive)" in converged.summary


def test_failed_runs_and_rejection(harness_factory: MakeHarness) -> None:
    """Failed runs give their reason and error; the third failure's rejection is explained."""
    h = harness_factory("memory")
    h.executor.default = RuntimeError("disk full")
    pid = h.approved()
    for _ in range(3):
        h.loop.tick()
    entries = h.loop.timeline(pid)
    failed = only(entries, "RunFailed")
    assert 3 == len(failed)
    assert "failed (executor_error): RuntimeError: disk full" in failed[0].summary
    (rejected,) = only(entries, "Rejected")
    assert "rejected by loop: 3 runs failed (execution_failed)" == rejected.summary
    assert "Rejected" == entries[-1].kind


def test_operator_decisions(harness_factory: MakeHarness) -> None:
    """An operator's approval before any cycle, and a rejection, carry their reasons."""
    h = harness_factory("memory")
    pid = h.propose(risk_level="high")
    h.loop.approve(pid, reason="reviewed by ops")
    h.loop.reject(pid, reason="superseded")
    entries = h.loop.timeline(pid)
    assert ["Proposed", "Approved", "Rejected"] == kinds(entries)
    assert "submitted by the host" in entries[0].summary
    assert entries[1].summary.startswith("approved by operator: reviewed by ops; with no bandit")
    assert "rejected by operator: superseded" == entries[2].summary


def test_a_migrated_proposal(harness_factory: MakeHarness, tmp_path: Path) -> None:
    """A migrated proposal's first entry says where it came from, when, and how it mapped."""
    h = harness_factory("memory")
    h.clock.advance(days=1)
    path = tmp_path / "v1.json"
    row = {"id": "p-9", "status": "applied", "created": "2025-01-02T03:04:05"}
    path.write_text(json.dumps({"proposals": [{**row, "source_item": {"score": 7.5}}]}))
    h.loop.migrate_v1(path)
    (entry,) = h.loop.timeline(str(v1_proposal_id("p-9")))
    imported_at = h.clock()
    assert imported_at - timedelta(days=1) != entry.at
    assert imported_at == entry.detail["imported_at"]
    assert (
        f"imported from the v1 store at {imported_at.isoformat()}: v1 id 'p-9', v1 status "
        "'applied' → verified; score 7.5 → priority 0.9375, risk medium (by the v1 mapping); "
        "created 2025-01-02T03:04:05+00:00"
    ) == entry.summary


def test_every_event_a_timeline_shows_has_a_summary_of_its_own() -> None:
    """Each event of a proposal, and the guardrail's admission, is told in words of its own:
    a new event class fails here until the timeline can say what it records."""
    from eventsourcing.domain import Aggregate

    from selflearn.events.guardrail import Guardrail
    from selflearn.events.proposal import Proposal
    from selflearn.timeline import summary

    shown = [
        value
        for value in vars(Proposal).values()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and value.__name__ not in ("Event", "Created")
    ]
    assert len(shown) >= 16
    generic = summary.dispatch(object)
    assert [] == [
        cls.__name__ for cls in [*shown, Guardrail.Admitted] if summary.dispatch(cls) is generic
    ]
