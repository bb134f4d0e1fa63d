"""View states → the status report, relative to "now" (time windows are applied here).

Everything that depends on time — trends, cohorts, the hour's admissions, the cooldown's
remaining seconds, flag sets of the last hour — is computed from the views' hourly
buckets and timestamps at query time, so a view never holds an answer that goes stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from selflearn.events.rules import admissions_in_window
from selflearn.projections.base import hour_of, hours_in_window, ratio
from selflearn.projections.funnel import FunnelState
from selflearn.projections.guardrail import GuardrailViewState
from selflearn.projections.outcome import VERDICTS, OutcomeState
from selflearn.projections.policy import PolicyViewState
from selflearn.projections.rollout import MIXED_FLAGS_WINDOW, RolloutState
from selflearn.projections.windows import WindowsState
from selflearn.status import (
    ArmState,
    Conversion,
    ExecutionGuardrail,
    FamilyState,
    FunnelCounts,
    OpportunityWindows,
    OutcomeQuality,
    OverrideInfo,
    PolicyState,
    ProposalFunnel,
    Rollout,
    StatusReport,
    StoreStatus,
    VerdictCounts,
)

DAY: Final = timedelta(hours=24)
WEEK: Final = timedelta(days=7)


def rollout(state: RolloutState, now: datetime) -> Rollout:
    horizon = now - MIXED_FLAGS_WINDOW
    recent = [seen for seen in state.cycle_flags.values() if seen.last_cycle_at > horizon]
    warning = None
    if len(recent) > 1:
        keys = sorted({k for seen in recent for k in seen.flags})
        differing = [k for k in keys if len({repr(s.flags.get(k)) for s in recent}) > 1]
        stages = sorted({seen.stage for seen in recent})
        warning = (
            f"cycles with {len(recent)} different flag sets wrote to the store in the last hour"
            f" (stages {', '.join(stages)}; differing: {', '.join(differing) or 'none'})"
        )
    return Rollout(
        stage=state.stage,
        flags=dict(state.flags),
        flags_recorded_at=state.recorded_at,
        overrides={
            name: OverrideInfo(at=o.at, reason=o.reason) for name, o in state.overrides.items()
        },
        flag_sets_last_hour=len(recent),
        warning=warning,
    )


def _funnel_counts(counts: Mapping[str, int]) -> FunnelCounts:
    created = counts["created"]
    approved, executed = counts["reached_approved"], counts["reached_executed"]
    verified = counts["reached_verified"]
    return FunnelCounts(
        created=created,
        pending_approval=counts["pending_approval"],
        approved=counts["approved"],
        executed=counts["executed"],
        verified=counts["verified"],
        rejected=counts["rejected"],
        conversion=Conversion(
            approval_rate=ratio(approved, created),
            execution_rate=ratio(executed, approved),
            verification_rate=ratio(verified, executed),
            verified_from_created_rate=ratio(verified, created),
        ),
    )


def _cohort(state: FunnelState, now: datetime, window: timedelta) -> FunnelCounts:
    total = dict.fromkeys(state.totals, 0)
    for hour in hours_in_window(state.cohorts, now, window):
        for key, value in state.cohorts[hour].items():
            total[key] += value
    return _funnel_counts(total)


def funnel(state: FunnelState, now: datetime) -> ProposalFunnel:
    counts = _funnel_counts(state.totals)
    return ProposalFunnel(
        created=counts.created,
        pending_approval=counts.pending_approval,
        approved=counts.approved,
        executed=counts.executed,
        verified=counts.verified,
        rejected=counts.rejected,
        conversion=counts.conversion,
        window_24h=_cohort(state, now, DAY),
        window_7d=_cohort(state, now, WEEK),
    )


def _trend(state: OutcomeState, now: datetime, window: timedelta) -> VerdictCounts:
    sums = [0, 0, 0]
    for hour in hours_in_window(state.trend, now, window):
        for i, n in enumerate(state.trend[hour]):
            sums[i] += n
    return VerdictCounts(**dict(zip(VERDICTS, sums, strict=True)))


def pending_at(state: OutcomeState, at: datetime) -> int:
    """pending_recheck_runs at the end of the hour of `at` (0 before any change)."""
    hour = hour_of(at)
    earlier = [h for h in state.pending_history if h <= hour]
    return state.pending_history[max(earlier)] if earlier else 0


def outcome(state: OutcomeState, now: datetime) -> OutcomeQuality:
    verified = sum(state.verdicts.values())
    then = pending_at(state, now - DAY)
    return OutcomeQuality(
        verdict_counts=VerdictCounts(**state.verdicts),
        verified_total=verified,
        win_rate=ratio(state.verdicts["win"], verified),
        loss_rate=ratio(state.verdicts["loss"], verified),
        inconclusive_rate=ratio(state.verdicts["inconclusive"], verified),
        pending_recheck_runs=state.pending,
        pending_recheck_runs_24h_ago=then,
        pending_recheck_growth_24h=state.pending - then,
        retry_exhausted_runs=state.exhausted,
        avg_confidence=state.confidence_sum / verified if verified else None,
        avg_delta={
            metric: total / state.delta_counts[metric]
            for metric, total in sorted(state.delta_sums.items())
        },
        executed_runs=state.executions,
        avg_cost_usd=state.cost_usd_sum / state.executions if state.executions else None,
        avg_duration_ms=state.duration_ms_sum / state.executions if state.executions else None,
        trend_24h=_trend(state, now, DAY),
        trend_7d=_trend(state, now, WEEK),
    )


def policy(state: PolicyViewState, flags: Mapping[str, Any]) -> PolicyState:
    enabled = flags.get("enable_policy_bandit")
    return PolicyState(
        enabled=enabled,
        frozen=enabled is False,
        selected_at=state.selected_at,
        credited_runs=state.credited_runs,
        families={
            family: FamilyState(
                selected=state.selection.get(family),
                arms={
                    label: ArmState(a=a, b=b, mean=a / (a + b), pulls=int(pulls))
                    for label, (a, b, pulls) in arms.items()
                },
            )
            for family, arms in sorted(state.arms.items())
        },
    )


def guardrail(
    state: GuardrailViewState, flags: Mapping[str, Any], now: datetime
) -> ExecutionGuardrail:
    until = state.cooldown_until
    remaining = max(0.0, (until - now).total_seconds()) if until is not None else 0.0
    risk = flags.get("normal_mode_allowed_risk")
    return ExecutionGuardrail(
        canary_enabled=flags.get("enable_normal_mode_canary"),
        real_apply_enabled=flags.get("enable_executor_real_apply"),
        normal_mode_max_per_hour=flags.get("normal_mode_max_per_hour"),
        normal_mode_runs_last_hour=admissions_in_window(state.admissions, now),
        normal_mode_min_priority=flags.get("normal_mode_min_priority"),
        normal_mode_allowed_risk=sorted(risk) if risk is not None else None,
        normal_mode_cooldown_until=until,
        normal_mode_cooldown_remaining_sec=remaining,
        normal_mode_successes=state.successes,
        normal_mode_losses=state.losses,
        normal_mode_inconclusive=state.inconclusive,
        normal_mode_last_reason=state.last_reason,
        normal_mode_admissions_total=state.admissions_total,
        cooldowns_started=state.cooldowns,
        patches_applied_runs=state.patches_applied_runs,
        patches_applied_files=state.patches_applied_files,
        patches_applied_now=len(state.holding_patches),
        patches_rolled_back_runs=state.patches_rolled_back_runs,
        patches_rolled_back_by_operator=state.patches_rolled_back_by_operator,
        patches_restored_after_failure=state.patches_restored_after_failure,
        patches_checked_runs=state.patches_checked_runs,
        patches_check_conflicts=state.patches_check_conflicts,
        real_apply_refused=state.real_apply_refused,
        rollbacks_blocked=list(state.rollbacks_blocked),
    )


def windows(state: WindowsState, flags: Mapping[str, Any]) -> OpportunityWindows:
    return OpportunityWindows(
        learning_opportunities=state.learning_opportunities,
        improvement_opportunities=state.improvement_opportunities,
        windowed_self_check_enabled=flags.get("enable_windowed_self_check"),
        synthetic_opportunities_enabled=flags.get("enable_synthetic_opportunities"),
        no_opportunity_iterations=state.no_opportunity_iterations,
        synthetic_windows_opened=state.synthetic_windows_opened,
        learning_window_open=state.learning_window_open,
        improvement_window_open=state.improvement_window_open,
        no_learning_streak=state.no_learning_streak,
        no_improvement_streak=state.no_improvement_streak,
        cycles=state.cycles,
        last_cycle_at=state.last_cycle_at,
    )


def build_report(
    states: Mapping[str, Any], *, now: datetime, store: StoreStatus, as_of: bool
) -> StatusReport:
    """The status report at `now` from the states of every view."""
    rollout_state: RolloutState = states["rollout"]
    flags = rollout_state.flags
    return StatusReport(
        at=now,
        as_of=as_of,
        rollout=rollout(rollout_state, now),
        proposal_funnel=funnel(states["proposal_funnel"], now),
        outcome_quality=outcome(states["outcome_quality"], now),
        policy_state=policy(states["policy_state"], flags),
        execution_guardrail=guardrail(states["execution_guardrail"], flags, now),
        opportunity_windows=windows(states["opportunity_windows"], flags),
        store=store,
    )
