"""The status report against a scripted history with known answers, per backend.

The history runs over eight days of domain time: runs converge 8 days 1 hour, 2 days
1 hour, 1 hour and 10 minutes before "now", so each trend window has a known content.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import jsonschema
import pytest
from eventsourcing.domain import Aggregate, event

import selflearn as sl
from selflearn.events.policy import POLICY_ID, Policy
from selflearn.events.proposal import Proposal
from selflearn.events.selfcheck import SELF_CHECK_ID, SelfCheck
from selflearn.projections import VIEW_NAMES
from selflearn.status import status_schema
from tests.conftest import BackendCase, Harness, app_of, session_of

FLAGS = sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=2)
MakeHarness = Callable[..., Harness]


def scripted(h: Harness) -> dict[str, Any]:
    """Seven proposals over eight days; returns their ids. "now" is T0 + 8 d 1 h at the end."""
    loop, clock, probe = h.loop, h.clock, h.probe
    t0 = clock()
    ids: dict[str, Any] = {"t0": t0}

    def run(name: str, *readings: float) -> None:
        probe.push(*({"health_score": r} for r in readings))
        ids[name] = h.approved(name)
        loop.tick()

    run("A", 80.0, 82.0)  # normal, win at T0 (A was approved before any bandit selection)
    ids["R"] = h.propose("R")
    loop.reject(ids["R"], reason="not worth it")
    clock.advance(days=2)
    ids["P"] = h.propose("P", priority=0.5)  # stays pending: below every approve threshold
    clock.advance(days=4)
    run("B", 80.0, 77.0)  # normal, loss (critical) at T0+6d: a cooldown of 1800 s
    clock.set(t0 + timedelta(days=8) - timedelta(seconds=300))
    run("C", 80.0, 80.0)  # normal, pending (weak inconclusive)
    clock.advance(seconds=300)
    probe.push({"health_score": 81.5})
    loop.tick()  # C's recheck: win at T0+8d (two attempts, one run)
    clock.advance(seconds=3000)
    run("E", 80.0, 77.0)  # normal (C's admission is 3300 s old), loss: cooldown to end+1200 s
    loop.disable("real-apply", reason="no backups yet")
    clock.advance(seconds=600)
    run("F", 80.0, 80.0)  # safe (cooldown_active), pending
    ids["end"] = clock()
    return ids


def funnel_counts(**counts: Any) -> dict[str, Any]:
    return counts


class TestStatus(BackendCase):
    @pytest.fixture
    def h(self, make: MakeHarness) -> Harness:
        return make(flags=FLAGS)

    def test_every_section_has_its_known_answers(self, h: Harness) -> None:
        """Each field of the report after the scripted history has the value worked out by hand."""
        ids = scripted(h)
        end, t0 = ids["end"], ids["t0"]
        report = h.loop.status()
        assert isinstance(report, sl.StatusReport)
        data = report.to_dict()
        assert list(data) == ["at", "as_of", *VIEW_NAMES, "store"]
        assert (end, False) == (report.at, report.as_of)

        rollout = report.rollout
        assert ("normal-canary", t0, None, 1) == (
            rollout.stage,
            rollout.flags_recorded_at,
            rollout.warning,
            rollout.flag_sets_last_hour,
        )
        assert FLAGS.recorded() == rollout.flags
        assert {"real-apply": "no backups yet"} == {
            k: o.reason for k, o in rollout.overrides.items()
        }

        assert {
            "created": 7,
            "pending_approval": 1,
            "approved": 0,
            "executed": 1,
            "verified": 4,
            "rejected": 1,
            "conversion": {
                "approval_rate": 5 / 7,
                "execution_rate": 1.0,
                "verification_rate": 4 / 5,
                "verified_from_created_rate": 4 / 7,
            },
        } == {k: v for k, v in data["proposal_funnel"].items() if not k.startswith("window")}
        assert {
            "created": 3,
            "pending_approval": 0,
            "approved": 0,
            "executed": 1,
            "verified": 2,
            "rejected": 0,
            "conversion": {
                "approval_rate": 1.0,
                "execution_rate": 1.0,
                "verification_rate": 2 / 3,
                "verified_from_created_rate": 2 / 3,
            },
        } == data["proposal_funnel"]["window_24h"]
        assert {
            "created": 5,
            "pending_approval": 1,
            "approved": 0,
            "executed": 1,
            "verified": 3,
            "rejected": 0,
            "conversion": {
                "approval_rate": 4 / 5,
                "execution_rate": 1.0,
                "verification_rate": 3 / 4,
                "verified_from_created_rate": 3 / 5,
            },
        } == data["proposal_funnel"]["window_7d"]

        outcome = data["outcome_quality"]
        assert {"win": 2, "loss": 2, "inconclusive": 0} == outcome["verdict_counts"]
        assert (4, 0.5, 0.5, 0.0) == (
            outcome["verified_total"],
            outcome["win_rate"],
            outcome["loss_rate"],
            outcome["inconclusive_rate"],
        )
        assert (1, 0, 1, 0) == (
            outcome["pending_recheck_runs"],
            outcome["pending_recheck_runs_24h_ago"],
            outcome["pending_recheck_growth_24h"],
            outcome["retry_exhausted_runs"],
        )
        assert pytest.approx((0.66 + 0.85 + 0.66 + 0.85) / 4) == outcome["avg_confidence"]
        assert pytest.approx((2.0 - 3.0 + 1.5 - 3.0) / 4) == outcome["avg_delta"]["health_score"]
        assert (5, 0.0, 0.0) == (
            outcome["executed_runs"],
            outcome["avg_cost_usd"],
            outcome["avg_duration_ms"],
        )
        # Runs aged 8 d 1 h (A), 2 d 1 h (B), 1 h (C, two attempts) and 10 min (E).
        assert {"win": 1, "loss": 1, "inconclusive": 0} == outcome["trend_24h"]
        assert {"win": 1, "loss": 2, "inconclusive": 0} == outcome["trend_7d"]

        policy = session_of(h.loop).load(POLICY_ID, Policy)
        assert policy is not None
        state = report.policy_state
        assert (True, False, 3) == (state.enabled, state.frozen, state.credited_runs)
        family = state.families["approve_threshold"]
        assert policy.selection["approve_threshold"] == family.selected
        assert {
            label: (arm["a"], arm["b"], arm["pulls"])
            for label, arm in policy.arms["approve_threshold"].items()
        } == {label: (a.a, a.b, a.pulls) for label, a in family.arms.items()}
        assert 6 == sum(a.pulls for a in family.arms.values())
        assert all(a.mean == a.a / (a.a + a.b) for a in family.arms.values())

        assert {
            "canary_enabled": True,
            "real_apply_enabled": False,
            "normal_mode_max_per_hour": 2,
            "normal_mode_runs_last_hour": 1,
            "normal_mode_min_priority": 0.9,
            "normal_mode_allowed_risk": ["low"],
            "normal_mode_cooldown_until": (end + timedelta(seconds=1200)).isoformat(),
            "normal_mode_cooldown_remaining_sec": 1200.0,
            "normal_mode_successes": 2,
            "normal_mode_losses": 2,
            "normal_mode_inconclusive": 0,
            "normal_mode_last_reason": "cooldown_active",
            "normal_mode_admissions_total": 4,
            "cooldowns_started": 2,
            "patches_applied_runs": 0,
            "patches_applied_files": 0,
            "patches_applied_now": 0,
            "patches_rolled_back_runs": 0,
            "patches_rolled_back_by_operator": 0,
            "patches_restored_after_failure": 0,
            "patches_checked_runs": 0,
            "patches_check_conflicts": 0,
            "real_apply_refused": 0,
            "rollbacks_blocked": [],
        } == data["execution_guardrail"]

        check = session_of(h.loop).load(SELF_CHECK_ID, SelfCheck)
        assert check is not None
        assert {
            "learning_opportunities": 0,
            "improvement_opportunities": 6,
            "windowed_self_check_enabled": True,
            "synthetic_opportunities_enabled": True,
            "no_opportunity_iterations": 0,
            "synthetic_windows_opened": 0,
            "learning_window_open": False,
            "improvement_window_open": True,
            "no_learning_streak": 0,
            "no_improvement_streak": 2,
            "cycles": 6,
            "last_cycle_at": end.isoformat(),
        } == data["opportunity_windows"]
        assert check.no_improvement_streak == report.opportunity_windows.no_improvement_streak

        last = app_of(h.loop).recorder.max_notification_id()
        store = report.store
        assert (len(h.events()), last, ()) == (
            store.events_recorded,
            store.last_position,
            store.warnings,
        )
        assert dict.fromkeys(VIEW_NAMES, (last, 0)) == {
            name: (v.position, v.lag) for name, v in store.views.items()
        }

    def test_report_matches_its_json_schema(self, h: Harness) -> None:
        """`to_dict()` validates against the shipped JSON Schema, and survives a JSON round trip."""
        scripted(h)
        data = h.loop.status().to_dict()
        jsonschema.validate(data, status_schema())
        assert data == json.loads(json.dumps(data))
        broken = {**data, "outcome_quality": {**data["outcome_quality"], "trend_7d": {"win": 1}}}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, status_schema())

    def test_as_of_gives_the_report_as_it_was(self, h: Harness) -> None:
        """`as_of` replays the log up to that instant and applies the windows then."""
        ids = scripted(h)
        then = ids["t0"] + timedelta(days=6, seconds=600)  # 10 minutes after B's loss
        report = h.loop.status(as_of=then)
        assert (then, True) == (report.at, report.as_of)
        assert {"win": 1, "loss": 1, "inconclusive": 0} == report.to_dict()["outcome_quality"][
            "verdict_counts"
        ]
        assert 1200.0 == report.execution_guardrail.normal_mode_cooldown_remaining_sec
        # A, R, P and B existed then; only B (created 10 minutes before) is in the 24 h cohort.
        assert (4, 1) == (report.proposal_funnel.created, report.proposal_funnel.window_24h.created)
        assert {} == report.store.views

    def test_as_of_now_equals_the_views(self, h: Harness) -> None:
        """Replaying the whole log gives the same sections as the caught-up views."""
        scripted(h)
        live = h.loop.status().to_dict()
        replayed = h.loop.status(as_of=h.clock()).to_dict()
        for key in VIEW_NAMES:
            assert live[key] == replayed[key], key
        assert live["store"]["events_recorded"] == replayed["store"]["events_recorded"]

    @pytest.mark.parametrize(
        ("as_of", "message"),
        [
            (timedelta(seconds=1), "lies in the future"),
            ("2026-01-01", "expected a datetime"),
        ],
    )
    def test_bad_as_of(self, h: Harness, as_of: Any, message: str) -> None:
        """`as_of` in the future or not a time is a ValidationError naming it."""
        value = h.clock() + as_of if isinstance(as_of, timedelta) else as_of
        with pytest.raises(sl.ValidationError, match=message):
            h.loop.status(as_of=value)

    def test_naive_as_of(self, h: Harness) -> None:
        """A naive `as_of` is refused: the API needs an aware time."""
        with pytest.raises(sl.ValidationError, match="aware"):
            h.loop.status(as_of=h.clock().replace(tzinfo=None))

    def test_status_writes_no_event(self, h: Harness) -> None:
        """Status and rebuild leave the event log as it was."""
        scripted(h)
        before = app_of(h.loop).recorder.max_notification_id()
        h.loop.status()
        h.loop.rebuild_views()
        h.loop.status(as_of=h.clock())
        assert before == app_of(h.loop).recorder.max_notification_id()

    def test_mixed_flags_in_the_last_hour_warn(self, h: Harness) -> None:
        """Cycles with different flags within the hour give a warning; an hour later, none."""
        h.loop.tick()
        h.loop.disable("executor", reason="incident 42")
        h.clock.advance(seconds=60)
        h.loop.tick()
        report = h.loop.status()
        assert ("shadow", 2) == (report.rollout.stage, report.rollout.flag_sets_last_hour)
        assert report.rollout.warning is not None
        assert "enable_experiment_executor" in report.rollout.warning
        h.clock.advance(seconds=3600)
        h.loop.tick()
        assert (None, 1) == (
            h.loop.status().rollout.warning,
            h.loop.status().rollout.flag_sets_last_hour,
        )

    def test_proposals_that_start_past_pending(self, h: Harness) -> None:
        """A proposal recorded as approved, verified or rejected (v1 import) starts there."""
        at = h.clock()
        for status in ("approved", "verified", "rejected"):
            proposal = Proposal(
                id=uuid4(),
                at=at,
                title=f"imported {status}",
                hypothesis="",
                plan_steps=[],
                expected_impact="",
                risk_level="low",
                confidence=0.85,
                priority=0.5,
                signature=f"mig_{status}",
                metadata={},
                patches=[],
                origin_event_ids=[],
                status=status,
            )
            app_of(h.loop).save(proposal)
        f = h.loop.status().proposal_funnel
        assert (3, 0, 1, 0, 1, 1) == (
            f.created,
            f.pending_approval,
            f.approved,
            f.executed,
            f.verified,
            f.rejected,
        )
        # Reached: approved by the approved and the verified one; executed, verified by the latter.
        assert (2 / 3, 1 / 2, 1.0, 1 / 3) == (
            f.conversion.approval_rate,
            f.conversion.execution_rate,
            f.conversion.verification_rate,
            f.conversion.verified_from_created_rate,
        )

    def test_unknown_events_advance_every_view(self, h: Harness) -> None:
        """An event no view knows still moves every view's position."""
        h.loop.tick()
        app_of(h.loop).save(Stranger(at=h.clock()))
        report = h.loop.status()
        last = app_of(h.loop).recorder.max_notification_id()
        assert {last} == {v.position for v in report.store.views.values()}
        assert len(h.events()) == report.store.events_recorded

    def test_rebuild_gives_the_same_report(self, h: Harness) -> None:
        """Dropping and replaying the views changes no section; one view can be rebuilt alone."""
        scripted(h)
        before = h.loop.status().to_dict()
        every = h.loop.rebuild_views()
        assert (VIEW_NAMES, len(h.events())) == (every.views, every.events)
        one = h.loop.rebuild_views(views=["outcome_quality"])
        assert ("outcome_quality",) == one.views
        after = h.loop.status().to_dict()
        assert {k: before[k] for k in VIEW_NAMES} == {k: after[k] for k in VIEW_NAMES}

    def test_unknown_view_name(self, h: Harness) -> None:
        """Rebuilding a view that does not exist is NotFound naming the views that do."""
        with pytest.raises(sl.NotFound, match=r"no view 'funnel'.*proposal_funnel"):
            h.loop.rebuild_views(views=["funnel"])

    def test_progress_is_reported(self, h: Harness) -> None:
        """The rebuild's progress callback ends at the number of events in the log."""
        scripted(h)
        calls: list[tuple[int, int]] = []
        h.loop.rebuild_views(lambda done, total: calls.append((done, total)))
        assert calls
        assert (len(h.events()), len(h.events())) == calls[-1]


class Stranger(Aggregate):
    """An aggregate no view knows (as a later version of selflearn might add)."""

    class Appeared(Aggregate.Created):
        at: Any

    @event(Appeared)
    def __init__(self, *, at: Any) -> None:
        self.at = at
