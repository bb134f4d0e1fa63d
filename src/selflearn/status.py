"""The status report: frozen values; `to_dict()` is the JSON of `selflearn status`.

The JSON shape is fixed by `status.schema.json` beside this module: keys are added to it
only in a backwards-compatible way (new optional fields), never renamed or removed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

import attrs

from selflearn.reports import _Plain

SCHEMA_FILE: Final = "status.schema.json"


def status_schema() -> dict[str, Any]:
    """The JSON Schema of `StatusReport.to_dict()`."""
    from importlib.resources import files  # not on the way of `selflearn status`

    data = json.loads(files("selflearn").joinpath(SCHEMA_FILE).read_text())
    assert isinstance(data, dict)
    return data


@attrs.frozen(kw_only=True)
class OverrideInfo:
    at: datetime
    reason: str


@attrs.frozen(kw_only=True)
class Rollout:
    """The flags as the last cycle recorded them, and the operator's overrides."""

    stage: str | None
    flags: dict[str, Any]
    flags_recorded_at: datetime | None
    overrides: dict[str, OverrideInfo]
    flag_sets_last_hour: int
    warning: str | None


@attrs.frozen(kw_only=True)
class Conversion:
    approval_rate: float | None
    execution_rate: float | None
    verification_rate: float | None
    verified_from_created_rate: float | None


@attrs.frozen(kw_only=True)
class FunnelCounts:
    """Proposals created, those now in each state, and the conversion between stages."""

    created: int
    pending_approval: int
    approved: int
    executed: int
    verified: int
    rejected: int
    conversion: Conversion


@attrs.frozen(kw_only=True)
class ProposalFunnel(FunnelCounts):
    window_24h: FunnelCounts
    window_7d: FunnelCounts


@attrs.frozen(kw_only=True)
class VerdictCounts:
    win: int
    loss: int
    inconclusive: int


@attrs.frozen(kw_only=True)
class OutcomeQuality:
    verdict_counts: VerdictCounts
    verified_total: int
    win_rate: float | None
    loss_rate: float | None
    inconclusive_rate: float | None
    pending_recheck_runs: int
    pending_recheck_runs_24h_ago: int
    pending_recheck_growth_24h: int
    retry_exhausted_runs: int
    avg_confidence: float | None
    avg_delta: dict[str, float]
    executed_runs: int
    avg_cost_usd: float | None
    avg_duration_ms: float | None
    trend_24h: VerdictCounts
    trend_7d: VerdictCounts


@attrs.frozen(kw_only=True)
class ArmState:
    a: float
    b: float
    mean: float
    pulls: int


@attrs.frozen(kw_only=True)
class FamilyState:
    selected: str | None
    arms: dict[str, ArmState]


@attrs.frozen(kw_only=True)
class PolicyState:
    enabled: bool | None
    frozen: bool
    selected_at: datetime | None
    credited_runs: int
    families: dict[str, FamilyState]


@attrs.frozen(kw_only=True)
class ExecutionGuardrail:
    canary_enabled: bool | None
    real_apply_enabled: bool | None
    normal_mode_max_per_hour: int | None
    normal_mode_runs_last_hour: int
    normal_mode_min_priority: float | None
    normal_mode_allowed_risk: list[str] | None
    normal_mode_cooldown_until: datetime | None
    normal_mode_cooldown_remaining_sec: float
    normal_mode_successes: int
    normal_mode_losses: int
    normal_mode_inconclusive: int
    normal_mode_last_reason: str | None
    normal_mode_admissions_total: int
    cooldowns_started: int
    #: Real apply: runs whose patches were applied, and files written; runs that
    #: hold applied patches now; rollbacks (all, and by an operator); restores after a
    #: failed write or a crash; safe-mode checks and their conflicts; runs refused.
    patches_applied_runs: int
    patches_applied_files: int
    patches_applied_now: int
    patches_rolled_back_runs: int
    patches_rolled_back_by_operator: int
    patches_restored_after_failure: int
    patches_checked_runs: int
    patches_check_conflicts: int
    real_apply_refused: int
    #: Runs whose restore stopped on a file someone else changed: an operator must look.
    rollbacks_blocked: list[str]


@attrs.frozen(kw_only=True)
class OpportunityWindows:
    learning_opportunities: int
    improvement_opportunities: int
    windowed_self_check_enabled: bool | None
    synthetic_opportunities_enabled: bool | None
    no_opportunity_iterations: int
    synthetic_windows_opened: int
    learning_window_open: bool
    improvement_window_open: bool
    no_learning_streak: int
    no_improvement_streak: int
    cycles: int
    last_cycle_at: datetime | None


@attrs.frozen(kw_only=True)
class ViewStatus:
    position: int
    lag: int
    events: int
    version: int


@attrs.frozen(kw_only=True)
class StoreStatus:
    """How far the log goes and how far each view has folded it (lag in log positions)."""

    url: str
    events_recorded: int
    last_position: int
    views: dict[str, ViewStatus]
    warnings: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class StatusReport(_Plain):
    """The status of a selflearn store at `at` (now, or the instant asked with `as_of`)."""

    at: datetime
    as_of: bool
    rollout: Rollout
    proposal_funnel: ProposalFunnel
    outcome_quality: OutcomeQuality
    policy_state: PolicyState
    execution_guardrail: ExecutionGuardrail
    opportunity_windows: OpportunityWindows
    store: StoreStatus


@attrs.frozen(kw_only=True)
class RebuildReport(_Plain):
    """What `rebuild_views()` did: which views, how many events, how fast (wall time)."""

    views: tuple[str, ...]
    events: int
    seconds: float
    events_per_second: float
