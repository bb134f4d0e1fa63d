"""The pure rules, pinned to their documented numbers in tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import selflearn as sl
from selflearn.events import rules

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "novelty", "confidence", "risk", "expected"),
    [
        (1.0, 1.0, 1.0, 0.0, 1.0),
        (0.0, 0.0, 0.0, 1.0, 0.0),
        (0.9, 0.9, 0.9, 0.1, 0.90),
        (0.5, 0.5, 0.5, 0.5, 0.5),
        (1.0, 0.0, 0.0, 1.0, 0.40),
        (0.0, 1.0, 0.0, 1.0, 0.25),
        (0.0, 0.0, 1.0, 1.0, 0.20),
        (0.0, 0.0, 0.0, 0.0, 0.15),
    ],
)
def test_priority_formula(
    value: float, novelty: float, confidence: float, risk: float, expected: float
) -> None:
    """priority = 0.40·value + 0.25·novelty + 0.20·confidence + 0.15·(1 − risk)."""
    got = rules.priority_of(value=value, novelty=novelty, confidence=confidence, risk=risk)
    assert expected == pytest.approx(got, abs=1e-12)


def test_a_strong_safe_event_reaches_normal_mode_priority() -> None:
    """A strong, safe event reaches ≥ 0.9, so normal mode is reachable."""
    assert rules.priority_of(value=0.9, novelty=0.9, confidence=0.9, risk=0.1) >= 0.9 - 1e-12


@pytest.mark.parametrize(
    ("risk", "level"),
    [
        (0.0, "low"),
        (0.4499, "low"),
        (0.45, "medium"),
        (0.7499, "medium"),
        (0.75, "high"),
        (1.0, "high"),
    ],
)
def test_risk_levels_at_their_boundaries(risk: float, level: str) -> None:
    """high from 0.75, medium from 0.45, else low."""
    assert level == rules.risk_level_of(risk)


@pytest.mark.parametrize(
    ("source", "given", "stream"),
    [
        ("tool_monitor", None, "production"),
        ("unit_test", None, "non_production"),
        ("manual_check", None, "non_production"),
        ("manual_boost", None, "non_production"),
        ("demo", None, "non_production"),
        ("debug", None, "non_production"),
        ("local_debug", None, "non_production"),
        ("manual_test", None, "non_production"),
        ("test_runner", None, "non_production"),
        ("unit_x", None, "non_production"),
        ("manual_anything", None, "non_production"),
        ("debug_probe", None, "non_production"),
        ("demo_host", None, "non_production"),
        ("Demo", None, "non_production"),
        ("tested_tool", None, "production"),
        ("demo_host", "production", "production"),
        ("tool_monitor", "non_production", "non_production"),
    ],
)
def test_stream_of(source: str, given: str | None, stream: str) -> None:
    """Non-production sources by name or prefix, unless the event names its stream."""
    assert stream == rules.stream_of(source, given)


def test_signature_lowercases_and_cuts_content_at_180() -> None:
    """The dedup signature is lower-cased source|event_type|content[:180]."""
    long = "A" * 180
    assert rules.signature_of("Src", "Type", long + "TAIL") == f"src|type|{'a' * 180}"


def test_canary_is_stable_and_proportional() -> None:
    """The canary takes a stable share of proposal ids close to its percent."""
    ids = [f"proposal-{i}" for i in range(4000)]
    taken = [pid for pid in ids if rules.canary_admits(pid, 25)]
    assert 0.22 < len(taken) / len(ids) < 0.28
    assert taken == [pid for pid in ids if rules.canary_admits(pid, 25)]
    assert all(rules.canary_admits(pid, 100) for pid in ids[:50])
    assert not any(rules.canary_admits(pid, 0) for pid in ids[:50])


NORMAL = sl.Flags(execution_mode_default="normal")


def decide(flags: sl.Flags = NORMAL, **overrides: object) -> rules.ModeDecision:
    facts: dict[str, object] = {
        "cooldown_until": None,
        "admissions": [],
        "risk_level": "low",
        "priority": 0.95,
        "now": NOW,
    }
    facts.update(overrides)
    return rules.decide_mode(flags=flags, **facts)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "facts", "mode", "reason"),
    [
        (sl.Flags(), {}, "safe", "default_safe_mode"),
        (
            sl.Flags(execution_mode_default="normal", enable_normal_mode_canary=False),
            {},
            "safe",
            "canary_disabled",
        ),
        (NORMAL, {"cooldown_until": NOW + timedelta(seconds=1)}, "safe", "cooldown_active"),
        (NORMAL, {"admissions": [NOW - timedelta(seconds=3599)]}, "safe", "hourly_quota_exceeded"),
        (NORMAL, {"risk_level": "medium"}, "safe", "risk_not_allowed:medium"),
        (NORMAL, {"priority": 0.8999}, "safe", "priority_below_canary_threshold"),
        (NORMAL, {}, "normal", "canary_allowed"),
    ],
)
def test_each_reason_when_only_its_condition_fails(
    flags: sl.Flags, facts: dict[str, object], mode: str, reason: str
) -> None:
    """Every reason of the mode decision comes out when only its own condition fails."""
    decision = decide(flags, **facts)
    assert (mode, reason) == (decision.mode, decision.reason)


def test_checks_go_in_the_specs_order() -> None:
    """With every condition failing, the first check in the decision's order names the reason."""
    everything = {
        "cooldown_until": NOW + timedelta(hours=1),
        "admissions": [NOW],
        "risk_level": "high",
        "priority": 0.1,
    }
    assert decide(sl.Flags(), **everything).reason == "default_safe_mode"
    no_canary = sl.Flags(execution_mode_default="normal", enable_normal_mode_canary=False)
    assert decide(no_canary, **everything).reason == "canary_disabled"
    assert decide(**everything).reason == "cooldown_active"
    assert decide(**{**everything, "cooldown_until": NOW}).reason == "hourly_quota_exceeded"
    assert decide(**{**everything, "cooldown_until": None, "admissions": []}).reason == (
        "risk_not_allowed:high"
    )


@pytest.mark.parametrize(
    ("age_seconds", "counts"),
    [(0, True), (1, True), (3599, True), (3600, False), (3601, False)],
)
def test_quota_window_is_half_open(age_seconds: int, counts: bool) -> None:
    """The window is (now − 3600 s, now]: an admission exactly 3600 s old no longer counts."""
    decision = decide(admissions=[NOW - timedelta(seconds=age_seconds)])
    assert (decision.reason == "hourly_quota_exceeded") is counts


def test_cooldown_ending_now_is_over() -> None:
    """cooldown_until > now is active; equal to now it has expired."""
    assert decide(cooldown_until=NOW).reason == "canary_allowed"


def test_min_priority_equal_passes() -> None:
    """A priority equal to NORMAL_MODE_MIN_PRIORITY passes."""
    assert decide(priority=0.9).reason == "canary_allowed"


def test_zero_quota_admits_none() -> None:
    """NORMAL_MODE_MAX_PER_HOUR = 0 admits nothing."""
    flags = sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=0)
    assert decide(flags).reason == "hourly_quota_exceeded"


def test_higher_quota() -> None:
    """With a quota of 2, one admission in the window still allows another."""
    flags = sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=2)
    assert decide(flags, admissions=[NOW - timedelta(minutes=5)]).mode == "normal"
    assert decide(flags, admissions=[NOW, NOW]).mode == "safe"


def test_cooldown_end_never_shortens() -> None:
    """cooldown_until = max(current, at + seconds)."""
    assert rules.cooldown_end(None, NOW, 1800) == NOW + timedelta(seconds=1800)
    later = NOW + timedelta(hours=2)
    assert rules.cooldown_end(later, NOW, 1800) == later
    assert rules.cooldown_end(NOW, NOW, 1800) == NOW + timedelta(seconds=1800)


@pytest.mark.parametrize(
    ("priority", "risk", "threshold", "approved"),
    [
        (0.82, "low", 0.82, True),
        (0.8199, "low", 0.82, False),
        (0.99, "medium", 0.82, True),
        (0.99, "high", 0.82, False),
        (0.86, "low", 0.86, True),
    ],
)
def test_auto_approval(priority: float, risk: str, threshold: float, approved: bool) -> None:
    """priority ≥ threshold and risk low or medium; high risk never."""
    assert (
        approved is rules.auto_approval(priority=priority, risk_level=risk, threshold=threshold)[0]
    )


def test_approve_threshold_from_selection() -> None:
    """The selected approve_threshold arm is the threshold; without one, the default."""
    assert rules.approve_threshold({"approve_threshold": "0.86"}, 0.82) == 0.86
    assert rules.approve_threshold({}, 0.82) == 0.82


S0 = rules.Streaks()


@pytest.mark.parametrize(
    ("windowed", "l_open", "l_prog", "i_open", "i_prog", "expected"),
    [
        (True, False, False, False, False, rules.Streaks(0, 0, 0, 0, 1)),
        (True, True, False, False, False, rules.Streaks(1, 0, 1, 0, 0)),
        (True, True, True, False, False, rules.Streaks(0, 0, 1, 0, 0)),
        (True, False, False, True, False, rules.Streaks(0, 1, 0, 1, 0)),
        (True, False, False, True, True, rules.Streaks(0, 0, 0, 1, 0)),
        (False, False, False, False, False, rules.Streaks(1, 1, 0, 0, 1)),
        (False, True, True, True, False, rules.Streaks(0, 1, 1, 1, 0)),
    ],
)
def test_streaks_move_by_windows(
    windowed: bool,
    l_open: bool,
    l_prog: bool,
    i_open: bool,
    i_prog: bool,
    expected: rules.Streaks,
) -> None:
    """Windowed, streaks move only in open windows; otherwise every cycle."""
    got = rules.next_streaks(
        S0,
        windowed=windowed,
        learning_open=l_open,
        learning_progress=l_prog,
        improvement_open=i_open,
        improvement_progress=i_prog,
    )
    assert expected == got


def test_streaks_reset_on_progress_and_keep_counting() -> None:
    """Progress resets a streak to 0; an open window without progress adds 1."""
    start = rules.Streaks(4, 2, 5, 6, 2)
    got = rules.next_streaks(
        start,
        windowed=True,
        learning_open=True,
        learning_progress=False,
        improvement_open=True,
        improvement_progress=True,
    )
    assert rules.Streaks(5, 0, 6, 7, 0) == got


def test_thompson_draws_are_reproducible_from_the_seed() -> None:
    """The same seed and state give the same draws and choice; each family picks its max."""
    arms = {
        "approve_threshold": {
            k: {"a": 1.0, "b": 1.0, "pulls": 0} for k in ("0.78", "0.82", "0.86")
        },
        "strategy": {
            "x": {"a": 30.0, "b": 1.0, "pulls": 0},
            "y": {"a": 1.0, "b": 30.0, "pulls": 0},
        },
    }
    draws, selection = rules.thompson_draws(arms, 12345)
    assert (draws, selection) == rules.thompson_draws(arms, 12345)
    for family, family_draws in draws.items():
        assert family_draws[selection[family]] == max(family_draws.values())
    assert selection["strategy"] == "x"


LEASE = NOW + timedelta(seconds=900)


@pytest.mark.parametrize(
    ("closed", "executed", "now", "overdue"),
    [
        (False, False, LEASE + timedelta(seconds=1), True),
        (False, False, LEASE, False),  # the lease runs out after `lease_until`, not at it
        (False, False, NOW, False),
        (True, False, LEASE + timedelta(seconds=1), False),
        (False, True, LEASE + timedelta(seconds=1), False),
    ],
)
def test_a_run_is_overdue_when_open_unexecuted_and_past_its_lease(
    closed: bool, executed: bool, now: datetime, overdue: bool
) -> None:
    """Only an open run whose execution was never recorded is overdue, once past its lease."""
    assert overdue == rules.lease_expired(
        closed=closed, executed=executed, lease_until=LEASE, now=now
    )


@pytest.mark.parametrize(
    ("closed", "executed", "attempts", "pending", "last", "due"),
    [
        (False, False, 0, False, None, None),  # not executed yet: nothing to verify
        (True, True, 1, True, NOW, None),  # closed: never again
        (False, True, 0, False, None, LEASE),  # the first attempt a crash missed
        (False, True, 1, True, NOW, NOW + timedelta(seconds=300)),  # a recheck
        (False, True, 1, False, NOW, None),  # converged attempt, run not closed yet
        (False, True, 2, True, None, None),
    ],
)
def test_when_a_verification_attempt_is_due(
    closed: bool,
    executed: bool,
    attempts: int,
    pending: bool,
    last: datetime | None,
    due: datetime | None,
) -> None:
    """A pending run is due an interval after its last attempt; an executed run without an
    attempt is due when its lease runs out."""
    assert due == rules.recheck_due_at(
        closed=closed,
        executed=executed,
        attempts=attempts,
        lease_until=LEASE,
        pending_recheck=pending,
        last_attempt_at=last,
        interval_seconds=300,
    )


def test_a_recorded_event_has_the_priority_of_its_scores() -> None:
    """`event_priority` is `priority_of` the event's four scores."""
    event = sl.LearningEventView(
        id="e",
        source="s",
        event_type="t",
        content="c",
        novelty=0.2,
        value=0.9,
        risk=0.3,
        confidence=0.6,
        stream="production",
        at=NOW,
    )
    assert rules.priority_of(value=0.9, novelty=0.2, confidence=0.6, risk=0.3) == (
        rules.event_priority(event)
    )
