"""The `execution_guardrail` view: admissions, the cooldown, the normal-mode outcomes, and
what real apply did to the workspace (patches applied, checked, restored, blocked)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from selflearn.events.guardrail import Guardrail
from selflearn.events.proposal import Proposal
from selflearn.events.rules import QUOTA_WINDOW
from selflearn.projections.base import View


@attrs.define
class GuardrailViewState:
    #: Admission times within an hour of the latest one (bounded by the hourly quota).
    admissions: list[datetime] = attrs.Factory(list)
    admissions_total: int = 0
    cooldown_until: datetime | None = None
    cooldowns: int = 0
    #: Normal-mode runs started and not closed yet.
    open_normal_runs: list[str] = attrs.Factory(list)
    successes: int = 0
    losses: int = 0
    inconclusive: int = 0
    last_mode: str | None = None
    last_reason: str | None = None
    last_decision_at: datetime | None = None
    patches_applied_runs: int = 0
    patches_applied_files: int = 0
    patches_rolled_back_runs: int = 0
    patches_rolled_back_by_operator: int = 0
    patches_restored_after_failure: int = 0
    patches_checked_runs: int = 0
    patches_check_conflicts: int = 0
    real_apply_refused: int = 0
    #: Runs whose files hold applied patches now (applied, not restored), and runs whose
    #: restore is blocked: only these are kept one by one.
    holding_patches: list[str] = attrs.Factory(list)
    rollbacks_blocked: list[str] = attrs.Factory(list)


def admitted(state: GuardrailViewState, event: Guardrail.Admitted) -> None:
    start = event.at - QUOTA_WINDOW
    state.admissions = [t for t in state.admissions if t > start] + [event.at]
    state.admissions_total += 1


def cooldown_started(state: GuardrailViewState, event: Guardrail.CooldownStarted) -> None:
    state.cooldowns += 1
    if state.cooldown_until is None or event.until > state.cooldown_until:
        state.cooldown_until = event.until


def run_started(state: GuardrailViewState, event: Proposal.RunStarted) -> None:
    state.last_mode = event.mode
    state.last_reason = event.mode_reason
    state.last_decision_at = event.at
    if event.mode == "normal":
        state.open_normal_runs.append(event.run_id)


def run_converged(state: GuardrailViewState, event: Proposal.RunConverged) -> None:
    if event.run_id not in state.open_normal_runs:
        return
    state.open_normal_runs.remove(event.run_id)
    if event.verdict == "win":
        state.successes += 1
    elif event.verdict == "loss":
        state.losses += 1
    else:
        state.inconclusive += 1


def run_failed(state: GuardrailViewState, event: Proposal.RunFailed) -> None:
    if event.run_id in state.open_normal_runs:
        state.open_normal_runs.remove(event.run_id)
    if event.reason == "real_apply_failed":
        state.real_apply_refused += 1


def _restored(state: GuardrailViewState, run_id: str) -> None:
    for held in (state.holding_patches, state.rollbacks_blocked):
        if run_id in held:
            held.remove(run_id)


def patches_applied(state: GuardrailViewState, event: Proposal.PatchesApplied) -> None:
    state.patches_applied_runs += 1
    state.patches_applied_files += len(event.files)
    if event.run_id not in state.holding_patches:
        state.holding_patches.append(event.run_id)


def patches_checked(state: GuardrailViewState, event: Proposal.PatchesChecked) -> None:
    state.patches_checked_runs += 1
    if event.outcome == "conflict":
        state.patches_check_conflicts += 1


def patches_rolled_back(state: GuardrailViewState, event: Proposal.PatchesRolledBack) -> None:
    state.patches_rolled_back_runs += 1
    if event.actor == "operator":
        state.patches_rolled_back_by_operator += 1
    _restored(state, event.run_id)


def apply_restored(
    state: GuardrailViewState, event: Proposal.ApplyAbandoned | Proposal.ApplyReconciled
) -> None:
    state.patches_restored_after_failure += 1
    _restored(state, event.run_id)


def rollback_blocked(state: GuardrailViewState, event: Proposal.RollbackBlocked) -> None:
    if event.run_id not in state.rollbacks_blocked:
        state.rollbacks_blocked.append(event.run_id)


def apply_intended(state: GuardrailViewState, event: Proposal.ApplyIntended) -> None:
    """An intent changes no count: its outcome (applied, abandoned, reconciled) will."""


GUARDRAIL: Final = View(
    name="execution_guardrail",
    version=2,
    state_type=GuardrailViewState,
    handlers={
        Guardrail.Admitted: admitted,
        Guardrail.CooldownStarted: cooldown_started,
        Proposal.RunStarted: run_started,
        Proposal.RunConverged: run_converged,
        Proposal.RunFailed: run_failed,
        Proposal.ApplyIntended: apply_intended,
        Proposal.PatchesApplied: patches_applied,
        Proposal.PatchesChecked: patches_checked,
        Proposal.PatchesRolledBack: patches_rolled_back,
        Proposal.ApplyAbandoned: apply_restored,
        Proposal.ApplyReconciled: apply_restored,
        Proposal.RollbackBlocked: rollback_blocked,
    },
)
