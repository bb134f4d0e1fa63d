"""The invariant checker of selflearn.testing flags broken histories (it can fail)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import selflearn as sl
from selflearn.events.guardrail import GUARDRAIL_ID, Guardrail
from selflearn.events.policy import POLICY_ID, Policy
from selflearn.testing import check_invariants
from tests.conftest import Harness, app_of, session_of

NORMAL = sl.Flags(execution_mode_default="normal")


def names(loop: sl.LearningLoop) -> list[str]:
    return [v.invariant for v in check_invariants(loop)]


def test_a_loop_run_has_no_violation(harness_factory: Any) -> None:
    """A history written by the loop itself passes every check."""
    h: Harness = harness_factory("memory", flags=NORMAL)
    h.executor.effects["bad"] = {"health_score": -3.0}
    h.approved("bad")
    h.approved("other")
    h.loop.tick()
    h.clock.advance(seconds=300)
    h.loop.tick()
    assert [] == names(h.loop)


def test_a_second_admission_in_the_hour_is_flagged(harness_factory: Any) -> None:
    """An admission beyond NORMAL_MODE_MAX_PER_HOUR is reported as hourly_quota."""
    h: Harness = harness_factory("memory", flags=NORMAL)
    h.approved()
    h.loop.tick()
    guard = session_of(h.loop).load(GUARDRAIL_ID, Guardrail)
    assert guard is not None
    guard.admit(at=h.clock() + timedelta(minutes=10), proposal_id="x", run_id="forged")
    app_of(h.loop).save(guard)
    assert "hourly_quota" in names(h.loop)


def test_an_admission_in_a_cooldown_is_flagged(harness_factory: Any) -> None:
    """An admission while a cooldown is active is reported."""
    h: Harness = harness_factory(
        "memory", flags=sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=5)
    )
    h.executor.effects["bad"] = {"health_score": -3.0}
    h.approved("bad")
    h.loop.tick()
    guard = session_of(h.loop).load(GUARDRAIL_ID, Guardrail)
    assert guard is not None
    guard.admit(at=h.clock() + timedelta(minutes=5), proposal_id="x", run_id="forged")
    app_of(h.loop).save(guard)
    assert "no_admission_in_cooldown" in names(h.loop)


def test_policy_events_while_the_bandit_is_off_are_flagged(harness_factory: Any) -> None:
    """A policy event after flags with the bandit off is reported."""
    h: Harness = harness_factory("memory")
    h.loop.tick()
    off = h.reopen(flags=sl.Flags(enable_policy_bandit=False))
    off.tick()
    policy = session_of(off).load(POLICY_ID, Policy)
    assert policy is not None
    policy.select(at=h.clock(), seed=1, draws={}, selection={})
    app_of(off).save(policy)
    assert "no_policy_event_while_bandit_off" in names(off)


def test_a_missing_cooldown_is_flagged(harness_factory: Any) -> None:
    """A normal-mode loss saved without its cooldown is reported."""
    h: Harness = harness_factory("memory", flags=NORMAL)
    h.loop.tick()  # records the flags: normal mode, 1800 s cooldown
    pid = h.approved("forged loss")
    at = h.clock()
    proposal = session_of(h.loop).load_proposal(pid)
    guard = session_of(h.loop).guardrail(at)
    proposal.start_run(
        at=at,
        run_id="r1",
        mode="normal",
        mode_reason="canary_allowed",
        decision={},
        lease_until=at + timedelta(minutes=15),
    )
    guard.admit(at=at, proposal_id=pid, run_id="r1")
    proposal.record_execution(
        at=at,
        run_id="r1",
        baseline={},
        status="completed",
        cost_usd=0.0,
        duration_ms=0.0,
        artifacts={},
        error=None,
    )
    proposal.record_attempt(
        at=at,
        run_id="r1",
        attempt=1,
        before={},
        after={},
        delta={},
        signals={},
        verdict="loss",
        confidence=0.85,
        pending_recheck=False,
        reasons=[],
        error=None,
    )
    proposal.converge(
        at=at,
        run_id="r1",
        verdict="loss",
        confidence=0.85,
        exhausted=False,
        reason="forged",
        credited_arms={},
        cooldown_until=None,
    )
    app_of(h.loop).save(proposal, guard)
    assert ["cooldown_after_normal_loss"] == names(h.loop)
