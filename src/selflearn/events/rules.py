"""Pure decision rules of the loop: no store, no clock, no host in sight."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

import attrs

from selflearn.config import Flags, Mode, RiskLevel
from selflearn.ports import LearningEventView

QUOTA_WINDOW: Final = timedelta(seconds=3600)
DEDUP_WINDOW: Final = timedelta(days=30)
SYNTHETIC_LOOKBACK: Final = timedelta(hours=24)
SYNTHETIC_MAX_EVENTS: Final = 5
MAX_EXECUTIONS_PER_CYCLE: Final = 3
MAX_RECHECKS_PER_CYCLE: Final = 3
MAX_FAILED_RUNS: Final = 3
SIGNATURE_CONTENT_CHARS: Final = 180

NON_PRODUCTION_SOURCES: Final = frozenset(
    {"unit_test", "manual_test", "manual_check", "manual_boost", "demo", "debug", "local_debug"}
)
NON_PRODUCTION_PREFIXES: Final = ("test_", "unit_", "manual_", "debug_", "demo_")
STREAMS: Final = ("production", "non_production")


def clamp01(x: float) -> float:
    """`x` clamped to [0, 1]."""
    return min(1.0, max(0.0, x))


def priority_of(*, value: float, novelty: float, confidence: float, risk: float) -> float:
    """The default engine's priority of a learning event."""
    return clamp01(0.40 * value + 0.25 * novelty + 0.20 * confidence + 0.15 * (1.0 - risk))


def event_priority(event: LearningEventView) -> float:
    """`priority_of` a recorded learning event."""
    return priority_of(
        value=event.value, novelty=event.novelty, confidence=event.confidence, risk=event.risk
    )


def risk_level_of(risk: float) -> RiskLevel:
    """`high` from 0.75, `medium` from 0.45, else `low`."""
    if risk >= 0.75:
        return "high"
    if risk >= 0.45:
        return "medium"
    return "low"


def stream_of(source: str, stream: str | None) -> str:
    """The stream of a learning event: the given one, else derived from its source."""
    if stream is not None:
        return stream
    name = source.strip().lower()
    if name in NON_PRODUCTION_SOURCES or name.startswith(NON_PRODUCTION_PREFIXES):
        return "non_production"
    return "production"


def signature_of(source: str, event_type: str, content: str) -> str:
    """The dedup signature of a learning event: `source|event_type|content[:180]`, lower-cased."""
    return f"{source}|{event_type}|{content[:SIGNATURE_CONTENT_CHARS]}".lower()


def canary_admits(proposal_id: str, percent: int) -> bool:
    """Whether the executor takes `proposal_id` at canary `percent`, by a stable hash."""
    if percent >= 100:
        return True
    bucket = int.from_bytes(hashlib.sha256(proposal_id.encode()).digest()[:8], "big") % 100
    return bucket < percent


def admissions_in_window(admissions: Iterable[datetime], now: datetime) -> int:
    """Admissions that count against the hourly quota at `now`.

    The window is `(now - 3600 s, now]`; an admission stamped after `now` (a process
    whose clock runs ahead) is counted too, so clock skew can only make the quota stricter.
    """
    start = now - QUOTA_WINDOW
    return sum(1 for at in admissions if at > start)


def lease_expired(*, closed: bool, executed: bool, lease_until: datetime, now: datetime) -> bool:
    """Whether a run is overdue: open, its execution never recorded, its lease run out.

    Such a run's process died (or hangs) mid-run; any process may close it as interrupted.
    """
    return not closed and not executed and lease_until < now


def recheck_due_at(
    *,
    closed: bool,
    executed: bool,
    attempts: int,
    lease_until: datetime,
    pending_recheck: bool,
    last_attempt_at: datetime | None,
    interval_seconds: int,
) -> datetime | None:
    """When a run's next verification attempt is due, or None when it needs none.

    A pending run is due `interval_seconds` after its last attempt. A run whose execution
    was recorded but whose first attempt never was (its process died in between) is due
    once its lease has run out, so a live process is never raced for it.
    """
    if closed or not executed:
        return None
    if attempts == 0:
        return lease_until
    if pending_recheck and last_attempt_at is not None:
        return last_attempt_at + timedelta(seconds=interval_seconds)
    return None


@attrs.frozen
class ModeDecision:
    """The mode a run gets and why, with the facts the decision was made on."""

    mode: Mode
    reason: str
    detail: Mapping[str, object]


def decide_mode(
    *,
    flags: Flags,
    cooldown_until: datetime | None,
    admissions: Sequence[datetime],
    risk_level: str,
    priority: float,
    now: datetime,
) -> ModeDecision:
    """Decide `safe` or `normal`, checks in order: the first check that fails names it."""
    used = admissions_in_window(admissions, now)
    detail: dict[str, object] = {
        "execution_mode_default": flags.execution_mode_default,
        "canary_enabled": flags.enable_normal_mode_canary,
        "cooldown_until": cooldown_until.isoformat() if cooldown_until else None,
        "admissions_last_hour": used,
        "max_per_hour": flags.normal_mode_max_per_hour,
        "risk_level": risk_level,
        "allowed_risk": sorted(flags.normal_mode_allowed_risk),
        "priority": priority,
        "min_priority": flags.normal_mode_min_priority,
    }
    if flags.execution_mode_default == "safe":
        return ModeDecision("safe", "default_safe_mode", detail)
    if not flags.enable_normal_mode_canary:
        return ModeDecision("safe", "canary_disabled", detail)
    if cooldown_until is not None and cooldown_until > now:
        return ModeDecision("safe", "cooldown_active", detail)
    if used >= flags.normal_mode_max_per_hour:
        return ModeDecision("safe", "hourly_quota_exceeded", detail)
    if risk_level not in flags.normal_mode_allowed_risk:
        return ModeDecision("safe", f"risk_not_allowed:{risk_level}", detail)
    if priority < flags.normal_mode_min_priority:
        return ModeDecision("safe", "priority_below_canary_threshold", detail)
    return ModeDecision("normal", "canary_allowed", detail)


def cooldown_end(current: datetime | None, at: datetime, seconds: int) -> datetime:
    """`max(current, at + seconds)`: a loss never shortens a running cooldown."""
    end = at + timedelta(seconds=seconds)
    return end if current is None or end > current else current


def auto_approval(*, priority: float, risk_level: str, threshold: float) -> tuple[bool, str]:
    """Whether a pending proposal is approved without an operator, and why."""
    if risk_level == "high":
        return False, "high_risk_needs_operator"
    if priority >= threshold:
        return True, f"priority {priority:.4f} >= approve threshold {threshold:.4f}"
    return False, f"priority {priority:.4f} < approve threshold {threshold:.4f}"


@attrs.frozen
class Streaks:
    """The self-check counters after a cycle."""

    no_learning_streak: int = 0
    no_improvement_streak: int = 0
    learning_opportunities: int = 0
    improvement_opportunities: int = 0
    no_opportunity_iterations: int = 0


def next_streaks(
    current: Streaks,
    *,
    windowed: bool,
    learning_open: bool,
    learning_progress: bool,
    improvement_open: bool,
    improvement_progress: bool,
) -> Streaks:
    """Move the self-check counters by one cycle."""

    def move(streak: int, window_open: bool, progress: bool) -> int:
        if windowed and not window_open:
            return streak
        return 0 if progress else streak + 1

    return Streaks(
        no_learning_streak=move(current.no_learning_streak, learning_open, learning_progress),
        no_improvement_streak=move(
            current.no_improvement_streak, improvement_open, improvement_progress
        ),
        learning_opportunities=current.learning_opportunities + int(learning_open),
        improvement_opportunities=current.improvement_opportunities + int(improvement_open),
        no_opportunity_iterations=(
            0 if learning_open or improvement_open else current.no_opportunity_iterations + 1
        ),
    )


def thompson_draws(
    arms: Mapping[str, Mapping[str, Mapping[str, float]]], seed: int
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Draw one Beta(a, b) value per arm from `seed`; pick the largest per family.

    Families are visited in sorted order and arms in their declared order, so the same
    seed and state give the same draws. Ties go to the first arm.
    """
    rng = random.Random(seed)
    draws: dict[str, dict[str, float]] = {}
    selection: dict[str, str] = {}
    for family in sorted(arms):
        family_draws = {
            arm: rng.betavariate(state["a"], state["b"]) for arm, state in arms[family].items()
        }
        draws[family] = family_draws
        best = max(family_draws.values())
        selection[family] = next(arm for arm, d in family_draws.items() if d == best)
    return draws, selection


def approve_threshold(selection: Mapping[str, str], default: float) -> float:
    """The selected `approve_threshold` arm as a number, else `default`."""
    label = selection.get("approve_threshold")
    if label is None:
        return default
    try:
        value = float(label)
    except ValueError:
        return default
    return value if math.isfinite(value) else default
