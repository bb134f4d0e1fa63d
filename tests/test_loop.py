"""The loop at work: fakes for the host, a fake clock, every backend.

Each behaviour is a base class; its `Test…Memory`, `Test…SQLite` and `Test…Postgres`
subclasses run it against a fresh store of that backend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

import selflearn as sl
from selflearn.cycle.executions import record_execution, start_run
from selflearn.events.policy import POLICY_ID, Policy
from selflearn.testing import FakeExecutor
from tests.conftest import BackendCase, Harness, app_of, cycle_of, session_of

NORMAL = sl.Flags(execution_mode_default="normal")
MakeHarness = Callable[..., Harness]


def run_reasons(h: Harness) -> list[tuple[str, str]]:
    return [(e.mode, e.mode_reason) for e in h.events("Proposal.RunStarted")]


def position(h: Harness) -> int:
    return app_of(h.loop).recorder.max_notification_id() or 0


# -- mode decisions ------------------------------------------------------------------------


class TestModeDecision(BackendCase):
    @pytest.mark.parametrize(
        ("flags", "fields", "reason"),
        [
            (sl.Flags(), {}, "default_safe_mode"),
            (
                sl.Flags(execution_mode_default="normal", enable_normal_mode_canary=False),
                {},
                "canary_disabled",
            ),
            (NORMAL, {"risk_level": "medium"}, "risk_not_allowed:medium"),
            (NORMAL, {"priority": 0.85}, "priority_below_canary_threshold"),
            (NORMAL, {}, "canary_allowed"),
        ],
    )
    def test_each_reason_when_only_its_condition_fails(
        self, make: MakeHarness, flags: sl.Flags, fields: dict[str, Any], reason: str
    ) -> None:
        """A run's recorded mode reason is the one check that failed."""
        h = make(flags=flags)
        h.approved(**fields)
        h.loop.tick()
        expected = "normal" if reason == "canary_allowed" else "safe"
        assert [(expected, reason)] == run_reasons(h)

    def test_normal_mode_override_disables_the_canary(self, make: MakeHarness) -> None:
        """`disable normal-mode` makes every decision safe with canary_disabled."""
        h = make(flags=NORMAL)
        h.loop.disable("normal-mode", reason="incident 42")
        h.approved()
        h.loop.tick()
        assert [("safe", "canary_disabled")] == run_reasons(h)

    def test_decision_records_its_facts(self, make: MakeHarness) -> None:
        """The run's start carries the facts the mode was decided on."""
        h = make(flags=NORMAL)
        h.approved()
        h.loop.tick()
        (started,) = h.events("Proposal.RunStarted")
        assert started.decision["admissions_last_hour"] == 0
        assert started.decision["priority"] == 0.95
        assert started.decision["allowed_risk"] == ["low"]


# -- the hourly quota ----------------------------------------------------------------------


class TestQuota(BackendCase):
    def test_two_eligible_proposals_in_an_hour(self, make: MakeHarness) -> None:
        """Two eligible proposals within an hour: one normal, one hourly_quota_exceeded."""
        h = make(flags=NORMAL)
        first = h.approved("first", priority=0.97)
        second = h.approved("second", priority=0.95)
        report = h.loop.tick()
        assert (report.normal_mode_runs, report.safe_mode_runs) == (1, 1)
        assert [("normal", "canary_allowed"), ("safe", "hourly_quota_exceeded")] == run_reasons(h)
        assert [first, second] == [str(e.originator_id) for e in h.events("Proposal.RunStarted")]
        assert len(h.events("Guardrail.Admitted")) == 1

    def test_quota_frees_exactly_an_hour_later(self, make: MakeHarness) -> None:
        """An admission exactly 3600 s old no longer counts."""
        h = make(flags=NORMAL)
        h.approved("first")
        h.loop.tick()
        h.clock.advance(seconds=3599)
        h.approved("second")
        h.loop.tick()
        h.clock.advance(seconds=1)
        h.approved("third")
        h.loop.tick()
        assert [
            ("normal", "canary_allowed"),
            ("safe", "hourly_quota_exceeded"),
            ("normal", "canary_allowed"),
        ] == run_reasons(h)

    def test_quota_is_used_even_when_the_run_fails(self, make: MakeHarness) -> None:
        """The quota is consumed at admission, whatever happens to the run."""
        h = make(flags=NORMAL)
        h.executor.outcomes["first"] = RuntimeError("boom")
        h.approved("first")
        h.loop.tick()
        h.approved("second")
        h.loop.tick()
        assert ("safe", "hourly_quota_exceeded") == run_reasons(h)[-1]


# -- cooldown ------------------------------------------------------------------------------


class TestCooldown(BackendCase):
    def test_normal_loss_starts_a_cooldown(self, make: MakeHarness) -> None:
        """A normal-mode loss sets cooldown_until = at + 1800 s; safe until then, normal after."""
        h = make(flags=NORMAL)
        h.executor.effects["bad"] = {"health_score": -2.0}
        h.approved("bad")
        start = h.clock()
        report = h.loop.tick()
        assert report.losses == 1
        (cooldown,) = h.events("Guardrail.CooldownStarted")
        assert cooldown.until == start + timedelta(seconds=1800)
        (converged,) = h.events("Proposal.RunConverged")
        assert converged.cooldown_until == cooldown.until
        h.clock.set(cooldown.until - timedelta(seconds=1))
        h.approved("just before")
        h.loop.tick()
        assert run_reasons(h)[-1] == ("safe", "cooldown_active")
        h.clock.set(cooldown.until + timedelta(seconds=3600))
        h.approved("after")
        h.loop.tick()
        assert run_reasons(h)[-1] == ("normal", "canary_allowed")

    def test_cooldown_decisions_until_it_ends(self, make: MakeHarness) -> None:
        """During the cooldown every decision is cooldown_active; at its end normal again."""
        h = make(flags=sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=10))
        h.executor.effects["bad"] = {"health_score": -2.0}
        h.approved("bad")
        h.loop.tick()
        h.clock.advance(seconds=1799)
        h.approved("inside")
        h.loop.tick()
        h.clock.advance(seconds=1)
        h.approved("at the end")
        h.loop.tick()
        assert [
            ("normal", "canary_allowed"),
            ("safe", "cooldown_active"),
            ("normal", "canary_allowed"),
        ] == run_reasons(h)

    def test_loss_on_a_recheck_starts_a_cooldown(self, make: MakeHarness) -> None:
        """A loss found on a recheck of a normal-mode run starts the cooldown too."""
        h = make(flags=sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=10))
        h.approved("slow harm")
        h.loop.tick()  # no change: pending
        h.probe.metrics["health_score"] -= 3.0
        h.clock.advance(seconds=300)
        checked = h.clock()
        report = h.loop.tick()
        assert (report.retry_attempted, report.losses) == (1, 1)
        (cooldown,) = h.events("Guardrail.CooldownStarted")
        assert cooldown.until == checked + timedelta(seconds=1800)

    def test_safe_loss_starts_no_cooldown(self, make: MakeHarness) -> None:
        """Only normal-mode losses start a cooldown."""
        h = make()
        h.executor.effects["bad"] = {"health_score": -2.0}
        h.approved("bad")
        assert h.loop.tick().losses == 1
        assert [] == h.events("Guardrail.CooldownStarted")


# -- rechecks ------------------------------------------------------------------------------


class TestRecheck(BackendCase):
    def test_pending_timeline_to_exhaustion(self, h: Harness) -> None:
        """Pending at +0; nothing at +299 s; attempt 2 at +300 s; attempt 3 at +600 s exhausts."""
        pid = h.approved("no effect")
        first = h.loop.tick()
        view = h.loop.proposal(pid)
        (run,) = view.runs
        assert (view.status, run.pending_recheck, run.attempts) == ("executed", True, 1)
        assert run.next_recheck_at == h.clock() + timedelta(seconds=300)
        assert first.verified == 0
        h.clock.advance(seconds=299)
        assert h.loop.tick().retry_attempted == 0
        h.clock.advance(seconds=1)
        second = h.loop.tick()
        assert (second.retry_attempted, second.retry_exhausted) == (1, 0)
        assert h.loop.proposal(pid).runs[0].attempts == 2
        h.clock.advance(seconds=300)
        third = h.loop.tick()
        assert (third.retry_attempted, third.retry_exhausted, third.inconclusive) == (1, 1, 1)
        view = h.loop.proposal(pid)
        assert (view.status, view.verdict, view.exhausted) == ("verified", "inconclusive", True)
        (converged,) = h.events("Proposal.RunConverged")
        assert converged.reason == "max_retries_exhausted"
        assert [1, 2, 3] == [e.attempt for e in h.events("Proposal.AttemptVerified")]
        h.clock.advance(seconds=300)
        assert h.loop.tick().retry_attempted == 0

    def test_recheck_win_converges(self, h: Harness) -> None:
        """A recheck that yields a win converges the proposal to verified/win."""
        pid = h.approved("late effect")
        h.loop.tick()
        h.probe.metrics["health_score"] += 1.5
        h.clock.advance(seconds=300)
        report = h.loop.tick()
        assert (report.retry_verified, report.wins, report.verified) == (1, 1, 1)
        view = h.loop.proposal(pid)
        assert (view.status, view.verdict, view.exhausted) == ("verified", "win", False)

    def test_probe_error_on_recheck_is_an_attempt(self, h: Harness) -> None:
        """A probe error during a recheck is an inconclusive attempt with confidence 0, retried."""
        pid = h.approved()
        h.loop.tick()
        h.probe.push(ConnectionError("metrics endpoint down"))
        h.clock.advance(seconds=300)
        h.loop.tick()
        attempts = h.events("Proposal.AttemptVerified")
        assert attempts[-1].error == "ConnectionError: metrics endpoint down"
        assert (attempts[-1].confidence, attempts[-1].pending_recheck) == (0.0, True)
        assert h.loop.proposal(pid).runs[0].attempts == 2

    def test_at_most_three_rechecks_per_cycle(self, make: MakeHarness) -> None:
        """At most 3 rechecks per cycle, earliest due first."""
        h = make(flags=sl.Flags(enable_policy_bandit=False))
        pids = [h.approved(f"p{i}") for i in range(5)]
        h.loop.tick()  # executes 3
        h.loop.tick()  # executes 2
        h.clock.advance(seconds=300)
        report = h.loop.tick()
        assert report.retry_attempted == 3
        rechecked = {r.proposal_id for r in report.runs if r.kind == "recheck"}
        assert len(rechecked) == 3
        assert rechecked <= set(pids)

    def test_backlogged_rechecks_hold_back_new_runs(self, make: MakeHarness) -> None:
        """Runs that stay pending need 2 rechecks each, a cycle makes 3: new runs wait.

        Cycles every interval, 40 approved proposals whose runs measure nothing: the
        pending runs never exceed 6 (3 started, 3 rechecked), and every run converges.
        """
        h = make(flags=sl.Flags(enable_policy_bandit=False))
        pids = [h.approved(f"no effect {i}") for i in range(40)]
        pending: list[int] = []
        backlog: list[int] = []
        for _ in range(60):
            report = h.loop.tick()
            backlog.append(report.recheck_backlog)
            assert report.executed <= 3 - min(3, report.recheck_backlog)
            pending.append(len(h.loop.proposals(status="executed")))
            h.clock.advance(seconds=300)
        assert max(pending) == 6
        assert max(backlog) == 3
        assert {"verified"} == {h.loop.proposal(pid).status for pid in pids}

    def test_lowered_maximum_finalizes_without_measuring(self, h: Harness) -> None:
        """A run whose maximum was lowered below its attempts is exhausted, not measured."""
        pid = h.approved()
        h.loop.tick()  # attempt 1 of 3: pending
        loop = h.reopen(flags=sl.Flags(verification_retry_max_attempts=1))
        h.clock.advance(seconds=300)
        measured = len(h.probe.calls)
        report = loop.tick()
        assert (report.retry_exhausted, report.inconclusive) == (1, 1)
        assert measured == len(h.probe.calls)
        assert 1 == len(h.events("Proposal.AttemptVerified"))
        view = loop.proposal(pid)
        assert (view.status, view.verdict, view.exhausted) == ("verified", "inconclusive", True)

    def test_max_attempts_one_finalizes_at_once(self, make: MakeHarness) -> None:
        """With VERIFICATION_RETRY_MAX_ATTEMPTS = 1 a pending first attempt is final."""
        h = make(flags=sl.Flags(verification_retry_max_attempts=1))
        pid = h.approved()
        h.loop.tick()
        view = h.loop.proposal(pid)
        assert (view.status, view.verdict, view.exhausted) == ("verified", "inconclusive", True)


# -- the executor switch, flags and overrides -----------------------------------------------


class TestSwitches(BackendCase):
    def test_executor_off_runs_nothing_but_rechecks_converge(self, make: MakeHarness) -> None:
        """Executor off: nothing executes, pending rechecks still converge."""
        h = make()
        pid = h.approved("pending one")
        h.loop.tick()
        waiting = h.approved("waiting")
        shadow = h.reopen(flags=sl.Flags(enable_experiment_executor=False))
        h.probe.metrics["health_score"] += 2.0
        h.clock.advance(seconds=300)
        calls = len(h.executor.calls)
        report = shadow.tick()
        assert (report.executed, report.retry_verified) == (0, 1)
        assert calls == len(h.executor.calls)
        assert shadow.proposal(pid).status == "verified"
        assert shadow.proposal(waiting).status == "approved"

    def test_executor_override_takes_effect_next_cycle(self, h: Harness) -> None:
        """`disable executor` stops executions at the next cycle, without a restart."""
        h.loop.disable("executor", reason="bad deploy")
        h.approved()
        assert h.loop.tick().executed == 0
        h.loop.enable("executor", reason="fixed")
        assert h.loop.tick().executed == 1

    def test_override_cannot_switch_on(self, make: MakeHarness) -> None:
        """Enabling a capability the environment has off leaves it off."""
        h = make(flags=sl.Flags(enable_experiment_executor=False))
        h.loop.disable("executor", reason="x")
        h.loop.enable("executor", reason="y")
        h.approved()
        assert h.loop.tick().executed == 0

    def test_flags_recorded_when_they_change(self, h: Harness) -> None:
        """Effective flags are recorded once, and again only when they change."""
        h.loop.tick()
        h.loop.tick()
        recorded = h.events("Controls.FlagsRecorded")
        assert [e.stage for e in recorded] == ["expanded-safe"]
        h.loop.disable("executor", reason="incident")
        h.loop.tick()
        recorded = h.events("Controls.FlagsRecorded")
        assert [e.stage for e in recorded] == ["expanded-safe", "shadow"]
        assert recorded[-1].flags["enable_experiment_executor"] is False

    def test_proposal_v2_off_only_records_the_cycle(self, make: MakeHarness) -> None:
        """With proposal v2 off a cycle records that it ran and does nothing else."""
        h = make(flags=sl.Flags(enable_proposal_v2=False))
        h.loop.record_event(
            "tool_monitor", "timeout", "x", novelty=1, value=1, risk=0, confidence=1
        )
        report = h.loop.tick()
        assert report.skipped == "proposal_v2_disabled"
        kinds = {type(e).__qualname__ for e in h.events()}
        assert {"SelfCheck.CycleSkipped", "Proposal.Proposed"} & kinds == {"SelfCheck.CycleSkipped"}

    def test_canary_percent_skips_without_counting(self, make: MakeHarness) -> None:
        """Proposals outside the canary percent are skipped and do not count toward the 3."""
        h = make(flags=sl.Flags(executor_canary_percent=0))
        h.approved()
        report = h.loop.tick()
        assert (report.executed, report.canary_skipped) == (0, 1)

    def test_at_most_three_executions_highest_priority_first(self, h: Harness) -> None:
        """At most 3 executions per cycle: highest priority first, then oldest."""
        low = h.approved("low", priority=0.91)
        h.clock.advance(seconds=1)
        old = h.approved("old", priority=0.95)
        h.clock.advance(seconds=1)
        new = h.approved("new", priority=0.95)
        top = h.approved("top", priority=0.99)
        report = h.loop.tick()
        assert [top, old, new] == [r.proposal_id for r in report.runs]
        assert h.loop.proposal(low).status == "approved"


# -- the bandit ----------------------------------------------------------------------------


class TestBandit(BackendCase):
    def test_bandit_off_records_no_policy_event(self, make: MakeHarness) -> None:
        """Bandit off: no arm selection, no credit, no policy event at all."""
        h = make(flags=sl.Flags(enable_policy_bandit=False))
        h.executor.effects["good"] = {"health_score": 2.0}
        pid = h.approved("good")
        h.loop.tick()
        assert [] == h.events("Policy.Opened") + h.events("Policy.ArmsSelected")
        assert h.loop.proposal(pid).policy_arms == {}

    def test_fixed_seed_gives_the_same_choices(self, make: MakeHarness) -> None:
        """Two loops with the same seed select the same arms, cycle after cycle."""
        choices = []
        for _ in range(2):
            h = make(seed=2024)
            for _ in range(6):
                h.loop.tick()
                h.clock.advance(minutes=5)
            choices.append([(e.seed, e.selection) for e in h.events("Policy.ArmsSelected")])
        assert len(choices[0]) == 6
        assert choices[0] == choices[1]

    def test_credit_goes_to_the_approval_selection(self, make: MakeHarness) -> None:
        """A win adds 1 to `a` of each arm the proposal was approved under, once."""
        h = make(seed=5, policy_families={"strategy": ["cache", "retry"]})
        h.executor.effects["good"] = {"health_score": 2.0}
        h.loop.tick()  # a first selection
        pid = h.approved("good")
        arms = dict(h.loop.proposal(pid).policy_arms)
        assert set(arms) == {"approve_threshold", "strategy"}
        h.loop.tick()
        policy = session_of(h.loop).load(POLICY_ID, Policy)
        assert policy is not None
        for family, arm in arms.items():
            assert policy.arms[family][arm]["a"] == 2.0
            assert policy.arms[family][arm]["b"] == 1.0
        (credit,) = h.events("Policy.Credited")
        assert (credit.verdict, credit.arms) == ("win", arms)

    def test_pulls_count_selections(self, h: Harness) -> None:
        """Per arm, pulls = the cycles in which it was selected."""
        for _ in range(5):
            h.loop.tick()
        policy = session_of(h.loop).load(POLICY_ID, Policy)
        assert policy is not None
        assert sum(arm["pulls"] for arm in policy.arms["approve_threshold"].values()) == 5

    def test_replay_reproduces_the_policy(self, make: MakeHarness) -> None:
        """The policy rebuilt from the log equals the live one (snapshots or not)."""
        h = make(flags=sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=50))
        h.executor.effects["w"] = {"health_score": 2.0}
        for i in range(120):
            if i % 10 == 0:
                h.approved("w" if i % 20 == 0 else "x", signature=f"s{i}")
            h.loop.tick()
            h.clock.advance(minutes=6)
        live = session_of(h.loop).load(POLICY_ID, Policy)
        assert live is not None
        replayed: Any = None
        for event in app_of(h.loop).events.get(POLICY_ID):
            replayed = event.mutate(replayed)
        assert live.state() == replayed.state()
        assert app_of(h.loop).snapshots is not None
        assert list(app_of(h.loop).snapshots.get(POLICY_ID))

    def test_converging_with_the_bandit_off_earns_no_credit(self, make: MakeHarness) -> None:
        """A run that converges while the bandit is off earns no credit."""
        h = make()
        h.loop.tick()
        pid = h.approved("late win")
        h.loop.tick()  # pending
        assert h.loop.proposal(pid).policy_arms
        h.loop.disable("bandit", reason="freeze the policy")
        h.probe.metrics["health_score"] += 2
        h.clock.advance(seconds=300)
        assert h.loop.tick().wins == 1
        assert [] == h.events("Policy.Credited")


# -- learning events and proposals ----------------------------------------------------------


def observe(h: Harness, content: str, **fields: Any) -> str | None:
    scores = {"novelty": 0.9, "value": 0.9, "risk": 0.1, "confidence": 0.9, **fields}
    source = scores.pop("source", "tool_monitor")
    return h.loop.record_event(source, "tool_timeout", content, **scores)


class TestLearning(BackendCase):
    def test_strong_event_becomes_an_approved_proposal(self, h: Harness) -> None:
        """A strong event makes a proposal with the engine's priority and risk, auto-approved."""
        eid = observe(h, "web_search timed out 3 times")
        report = h.loop.tick()
        (view,) = h.loop.proposals()
        assert (report.created, report.approved) == (1, 1)
        assert view.priority == pytest.approx(0.9)
        assert view.risk_level == "low"
        assert view.origin_event_ids == (eid,)
        assert view.signature == "tool_monitor|tool_timeout|web_search timed out 3 times"

    def test_create_threshold(self, h: Harness) -> None:
        """Only events whose priority reaches PROPOSAL_V2_CREATE_THRESHOLD make proposals."""
        observe(h, "weak", value=0.5, novelty=0.5, confidence=0.5, risk=0.5)  # 0.5
        observe(h, "above the bar", value=0.8, novelty=0.6, confidence=0.4, risk=0.4)  # 0.64
        h.loop.tick()
        assert ["tool_monitor|tool_timeout|above the bar"] == [
            p.signature for p in h.loop.proposals()
        ]

    def test_duplicates_are_dropped_for_30_days(self, h: Harness) -> None:
        """The same signature within 30 days returns None and records nothing."""
        assert observe(h, "same thing") is not None
        before = position(h)
        assert observe(h, "SAME THING") is None
        assert before == position(h)
        h.clock.advance(days=29, hours=23)
        assert observe(h, "same thing") is None
        h.clock.advance(hours=1)
        assert observe(h, "same thing") is not None

    def test_non_production_events_make_no_proposals(self, make: MakeHarness) -> None:
        """Non-production learning events make proposals only when the host asks."""
        h = make()
        observe(h, "from a test", source="unit_test")
        observe(h, "from a demo", source="demo_host")
        observe(h, "explicit", source="demo", stream="production")
        h.loop.tick()
        assert ["tool_timeout"] == [p.metadata["event_type"] for p in h.loop.proposals()]
        assert [] == [p for p in h.loop.proposals() if p.metadata["source"] != "demo"]
        opted = make(include_non_production=True)
        observe(opted, "from a test", source="unit_test")
        opted.loop.tick()
        assert len(opted.loop.proposals()) == 1

    def test_no_second_proposal_while_one_with_the_signature_is_open(self, h: Harness) -> None:
        """No proposal is created while a non-terminal one has the same signature."""
        observe(h, "again and again")
        h.loop.tick()
        h.clock.advance(days=31)
        observe(h, "again and again")
        h.loop.tick()
        assert len(h.loop.proposals()) == 1

    def test_bad_learning_events_record_nothing(self, h: Harness) -> None:
        """Scores outside [0, 1], empty names or a bad stream raise ValidationError."""
        before = position(h)
        bad: list[dict[str, Any]] = [
            {"value": 1.5},
            {"risk": -0.1},
            {"novelty": float("nan")},
            {"confidence": True},
            {"stream": "staging"},
            {"source": " "},
        ]
        for fields in bad:
            with pytest.raises(sl.ValidationError):
                observe(h, "x", **fields)
        assert before == position(h)

    def test_proposer_error_is_recorded_and_the_cycle_goes_on(self, make: MakeHarness) -> None:
        """A proposer that raises is recorded on the cycle's self-check; the cycle finishes."""

        class Broken:
            def propose(self, opportunity: sl.Opportunity) -> list[sl.ProposalDraft]:
                raise RuntimeError("model unavailable")

        h = make(proposer=Broken())
        observe(h, "anything")
        report = h.loop.tick()
        assert report.created == 0
        (check,) = h.events("SelfCheck.CycleChecked")
        assert any("model unavailable" in e for e in check.host_errors)


# -- windowed self-check and synthetic opportunities -----------------------------------------


class TestSelfCheck(BackendCase):
    def test_three_idle_cycles_open_a_synthetic_opportunity(self, h: Harness) -> None:
        """Three idle cycles open a synthetic opportunity, propose the best event, reset."""
        observe(h, "weak one", value=0.3, novelty=0.3, confidence=0.3, risk=0.3)
        observe(h, "better one", value=0.5, novelty=0.5, confidence=0.5, risk=0.3)
        h.loop.tick()  # learning window open, no progress
        reports = [h.loop.tick() for _ in range(3)]
        assert [r.synthetic_opened for r in reports] == [False, False, True]
        (opened,) = h.events("SelfCheck.SyntheticOpened")
        assert len(opened.event_ids) == 2
        (proposal,) = h.loop.proposals()
        assert proposal.signature.endswith("better one")
        assert proposal.metadata["opportunity"] == "synthetic"
        assert proposal.priority < 0.62
        checks = h.events("SelfCheck.CycleChecked")
        assert [c.no_opportunity_iterations for c in checks] == [0, 1, 2, 3]
        assert session_of(h.loop).self_check(h.clock()).no_opportunity_iterations == 0

    def test_empty_synthetic_opportunity_is_recorded(self, h: Harness) -> None:
        """With no recent unproposed events the opportunity is recorded as empty."""
        for _ in range(3):
            h.loop.tick()
        (opened,) = h.events("SelfCheck.SyntheticOpened")
        assert (opened.event_ids, opened.proposal_ids) == ([], [])

    def test_synthetic_off_lets_the_counter_grow(self, make: MakeHarness) -> None:
        """With synthetic opportunities off, idle cycles only grow the counter."""
        h = make(flags=sl.Flags(enable_synthetic_opportunities=False))
        for _ in range(5):
            h.loop.tick()
        assert [] == h.events("SelfCheck.SyntheticOpened")
        assert h.events("SelfCheck.CycleChecked")[-1].no_opportunity_iterations == 5

    def test_windows_and_streaks(self, h: Harness) -> None:
        """Windows open on new events and on proposal activity; streaks move only in them."""
        observe(h, "strong")
        h.loop.tick()  # learning open with progress; improvement open (created)
        observe(h, "too weak", value=0.1, novelty=0.1, confidence=0.1, risk=0.9)
        h.loop.tick()  # learning open without progress; improvement closed (pending run)
        checks = h.events("SelfCheck.CycleChecked")
        assert [(c.learning_window_open, c.learning_progress) for c in checks] == [
            (True, True),
            (True, False),
        ]
        assert [c.no_learning_streak for c in checks] == [0, 1]
        assert [c.learning_opportunities for c in checks] == [1, 2]
        assert checks[0].improvement_window_open

    def test_old_events_are_not_bundled(self, h: Harness) -> None:
        """Only learning events of the last 24 h are bundled."""
        observe(h, "old news", value=0.3, novelty=0.3, confidence=0.3, risk=0.3)
        h.loop.tick()
        h.clock.advance(hours=25)
        for _ in range(3):
            h.loop.tick()
        (opened,) = h.events("SelfCheck.SyntheticOpened")
        assert opened.event_ids == []


# -- host errors and failed runs -------------------------------------------------------------


class TestHostError(BackendCase):
    @pytest.mark.parametrize(
        ("setup", "reason"),
        [
            ("probe_raises", "baseline_probe_error"),
            ("probe_bad_type", "baseline_probe_error"),
            ("executor_raises", "executor_error"),
            ("executor_bad_type", "executor_bad_result"),
            ("executor_failed", "executor_failed"),
        ],
    )
    def test_host_errors_fail_the_run(self, h: Harness, setup: str, reason: str) -> None:
        """A host port that raises or returns the wrong type fails the run; the loop goes on."""
        if setup == "probe_raises":
            h.probe.push(TimeoutError("probe timed out"))
        elif setup == "probe_bad_type":
            h.probe.push({"health_score": "high"})  # type: ignore[dict-item]
        elif setup == "executor_raises":
            h.executor.default = RuntimeError("executor crashed")
        elif setup == "executor_bad_type":
            h.executor.default = lambda proposal, mode: "done"
        else:
            h.executor.default = sl.ExecutionResult(status="failed", error="tests failed")
        pid = h.approved()
        report = h.loop.tick()
        (failed,) = h.events("Proposal.RunFailed")
        assert failed.reason == reason
        assert failed.error
        assert report.failed == 1
        view = h.loop.proposal(pid)
        assert (view.status, view.runs[0].execution_status) == ("approved", "failed")
        assert [] == h.events("Proposal.AttemptVerified")

    def test_three_failed_runs_reject_the_proposal(self, h: Harness) -> None:
        """After 3 failed runs the proposal is rejected with execution_failed."""
        h.executor.default = RuntimeError("always")
        pid = h.approved()
        for _ in range(4):
            h.loop.tick()
        view = h.loop.proposal(pid)
        assert view.status == "rejected"
        assert len(view.runs) == 3
        assert h.events("Proposal.Rejected")[-1].reason == "execution_failed"

    def test_failed_runs_earn_no_credit_and_no_cooldown(self, make: MakeHarness) -> None:
        """A failed run gets no verdict, no cooldown and no bandit credit."""
        h = make(flags=NORMAL)
        h.loop.tick()
        h.executor.default = RuntimeError("x")
        h.approved()
        h.loop.tick()
        assert [] == h.events("Guardrail.CooldownStarted") + h.events("Policy.Credited")

    def test_verifier_error_is_an_attempt(self, make: MakeHarness) -> None:
        """A verifier that raises gives an inconclusive attempt with confidence 0, retried."""

        class Broken:
            def verify(self, before: Any, after: Any, execution: Any) -> sl.Verdict:
                raise ValueError("cannot judge")

        h = make(verifier=Broken())
        pid = h.approved()
        h.loop.tick()
        (attempt,) = h.events("Proposal.AttemptVerified")
        assert (attempt.verdict, attempt.confidence, attempt.pending_recheck) == (
            "inconclusive",
            0.0,
            True,
        )
        assert attempt.error == "ValueError: cannot judge"
        assert h.loop.proposal(pid).status == "executed"


# -- crash reconciliation -------------------------------------------------------------------


class TestReconcile(BackendCase):
    def crashed_run(self, h: Harness) -> str:
        """A run whose process died after recording its start."""
        pid = h.approved()
        cycle = cycle_of(h.loop)
        session_of(h.loop).sync()
        assert start_run(cycle, pid) is not None
        return pid

    def test_run_past_its_lease_is_interrupted(self, h: Harness) -> None:
        """A run started more than EXECUTION_LEASE_SECONDS ago is recorded interrupted."""
        pid = self.crashed_run(h)
        h.clock.advance(seconds=900)
        assert h.loop.tick().interrupted == 0
        h.clock.advance(seconds=1)
        loop = h.reopen()
        report = loop.tick()
        assert report.interrupted == 1
        (failed,) = h.events("Proposal.RunFailed")
        assert failed.reason == "interrupted"
        first = loop.proposal(pid).runs[0]
        assert first.execution_status == "interrupted"
        assert len(loop.proposal(pid).runs) == 2  # executed again in the same cycle

    def test_run_inside_its_lease_is_left_alone(self, h: Harness) -> None:
        """Another process's run inside its lease is not touched."""
        pid = self.crashed_run(h)
        h.clock.advance(seconds=600)
        report = h.reopen().tick()
        assert (report.interrupted, report.executed) == (0, 0)
        assert h.loop.proposal(pid).runs[0].execution_status == "running"

    def test_late_result_is_ignored(self, make: MakeHarness) -> None:
        """An executor that outlives its lease finds its run closed; its result is ignored."""
        h = make()
        other: list[sl.LearningLoop] = []

        def slow(proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
            h.clock.advance(seconds=901)
            other[0].tick()  # another process reconciles meanwhile
            return sl.ExecutionResult()

        pid = h.approved()
        other.append(h.open(executor=FakeExecutor(probe=h.probe, default=RuntimeError("x"))))
        h.executor.default = slow
        report = h.loop.tick()
        assert report.runs[0].execution_status == "late_result_ignored"
        (late,) = h.events("Proposal.LateResultIgnored")
        assert late.stage == "execution"
        assert h.loop.proposal(pid).runs[0].execution_status == "interrupted"

    def test_executed_run_without_an_attempt_is_verified_after_its_lease(self, h: Harness) -> None:
        """A run whose process died between execution and attempt 1 is verified later."""
        pid = h.approved()
        cycle = cycle_of(h.loop)
        session_of(h.loop).sync()
        started = start_run(cycle, pid)
        assert started is not None
        record_execution(cycle, pid, started[1].id, {"health_score": 78.0}, sl.ExecutionResult())
        h.clock.advance(seconds=901)
        report = h.reopen().tick()
        assert report.wins == 1
        assert h.loop.proposal(pid).status == "verified"


# -- proposals, transitions and reads --------------------------------------------------------


class TestProposal(BackendCase):
    @pytest.mark.parametrize(
        ("fields", "fragment"),
        [
            ({"priority": 1.2}, "priority"),
            ({"priority": -0.1}, "priority"),
            ({"risk_level": "extreme"}, "risk_level"),
            ({"title": ""}, "title"),
            ({"title": "x" * 181}, "181 characters"),
            ({"confidence": 2}, "confidence"),
            ({"metadata": {"f": object()}}, "metadata"),
            ({"patches": ("not a diff",)}, "unified diff"),
            ({"patches": "--- a/x"}, "tuple of patches"),
        ],
    )
    def test_invalid_drafts_record_nothing(
        self, h: Harness, fields: dict[str, Any], fragment: str
    ) -> None:
        """Invalid drafts raise ValidationError and record nothing."""
        before = position(h)
        draft = {"title": "t", "priority": 0.5, "risk_level": "low", **fields}
        with pytest.raises(sl.ValidationError, match=fragment):
            h.loop.propose(sl.ProposalDraft(**draft))
        assert before == position(h)

    @pytest.mark.parametrize(
        "path", ["../etc/passwd", "/etc/passwd", "a/../../b", ".selflearn/backups/x", "."]
    )
    def test_patch_paths_must_stay_inside(self, h: Harness, path: str) -> None:
        """A patch path outside the workspace is a ValidationError."""
        with pytest.raises(sl.ValidationError, match="patch path"):
            sl.FileEdit(path, None, "x")
        diff = f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"
        with pytest.raises(sl.ValidationError):
            h.propose(patches=(diff,))

    def test_a_valid_diff_is_kept(self, h: Harness) -> None:
        """A draft's patches come back as given."""
        diff = "--- a/conf/app.ini\n+++ b/conf/app.ini\n@@ -1 +1 @@\n-a=1\n+a=2\n"
        edit = sl.FileEdit("conf/new.ini", None, "x=1\n")
        pid = h.propose(patches=(diff, edit))
        assert (diff, edit) == h.loop.proposal(pid).patches

    def test_unknown_ids_are_not_found(self, h: Harness) -> None:
        """Unknown or malformed proposal ids raise NotFound (also a KeyError)."""
        for bad in ("00000000-0000-0000-0000-000000000000", "nope"):
            with pytest.raises(sl.NotFound):
                h.loop.proposal(bad)
            with pytest.raises(KeyError):
                h.loop.approve(bad)

    def test_illegal_transitions_record_nothing(self, h: Harness) -> None:
        """An illegal transition raises IllegalTransition and records nothing."""
        pid = h.approved()
        before = position(h)
        with pytest.raises(sl.IllegalTransition, match="approved"):
            h.loop.approve(pid)
        h.loop.reject(pid, reason="changed my mind")
        before = position(h)
        for call in (lambda: h.loop.approve(pid), lambda: h.loop.reject(pid, reason="again")):
            with pytest.raises(sl.IllegalTransition):
                call()
        assert before == position(h)

    def test_high_risk_waits_for_an_operator(self, h: Harness) -> None:
        """High risk is never auto-approved; an operator may approve it."""
        pid = h.propose(risk_level="high", priority=0.99)
        h.loop.tick()
        assert h.loop.proposal(pid).status == "pending_approval"
        h.loop.approve(pid, reason="reviewed")
        assert h.loop.proposal(pid).status == "approved"

    def test_operator_approval_records_the_last_selection(self, h: Harness) -> None:
        """An operator's approval records the most recent cycle's selection (empty before)."""
        early = h.propose(risk_level="high")
        h.loop.approve(early, reason="ok")
        assert h.loop.proposal(early).policy_arms == {}
        h.loop.tick()
        (selected,) = h.events("Policy.ArmsSelected")
        late = h.propose(risk_level="high")
        h.loop.approve(late, reason="ok")
        assert dict(h.loop.proposal(late).policy_arms) == selected.selection

    def test_proposals_listing_and_status_filter(self, h: Harness) -> None:
        """proposals() lists oldest first and filters by status."""
        a = h.propose("a")
        h.clock.advance(seconds=1)
        b = h.propose("b", risk_level="high")
        h.loop.approve(a, reason="ok")
        assert [a, b] == [p.id for p in h.loop.proposals()]
        assert [b] == [p.id for p in h.loop.proposals(status="pending_approval")]
        with pytest.raises(sl.ValidationError):
            h.loop.proposals(status="done")

    def test_timeline_tells_the_story_with_reasons(self, make: MakeHarness) -> None:
        """timeline() has every event of the proposal in order, each with its reason."""
        h = make(flags=NORMAL)
        h.executor.effects["bad"] = {"health_score": -2.0}
        pid = h.approved("bad")
        h.loop.tick()
        entries = h.loop.timeline(pid)
        assert [e.kind for e in entries] == [
            "Proposed",
            "Approved",
            "RunStarted",
            "Admitted",
            "RunExecuted",
            "AttemptVerified",
            "RunConverged",
        ]
        assert entries[2].detail["mode_reason"] == "canary_allowed"
        assert entries[3].aggregate == "guardrail"
        assert entries[6].detail["cooldown_until"] is not None
        assert entries[0].to_dict()["kind"] == "Proposed"

    def test_a_conflicting_save_leaves_no_trace(self, h: Harness) -> None:
        """A save that loses a race is retried on fresh state; the failed change is gone."""
        pid = h.propose()
        h.loop.proposal(pid)  # cached
        real_save = session_of(h.loop).save
        calls: list[int] = []

        def conflicting(*objs: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise IntegrityError("simulated concurrent write")
            return real_save(*objs, **kwargs)

        session_of(h.loop).save = conflicting  # type: ignore[method-assign]
        h.loop.approve(pid, reason="after a conflict")
        assert 2 == len(calls)
        assert 1 == len(h.events("Proposal.Approved"))
        assert "approved" == h.loop.proposal(pid).status

    def test_record_and_reload_from_a_new_loop(self, h: Harness) -> None:
        """A new loop on the same store sees the same proposals and continues the cycle."""
        h.executor.effects["good"] = {"health_score": 2.0}
        pid = h.approved("good")
        loop = h.reopen()
        assert loop.tick().wins == 1
        assert loop.proposal(pid).verdict == "win"
