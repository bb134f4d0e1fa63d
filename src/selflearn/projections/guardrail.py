"""The `execution_guardrail` view: admissions, the cooldown and the normal-mode outcomes."""

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


GUARDRAIL: Final = View(
    name="execution_guardrail",
    version=1,
    state_type=GuardrailViewState,
    handlers={
        Guardrail.Admitted: admitted,
        Guardrail.CooldownStarted: cooldown_started,
        Proposal.RunStarted: run_started,
        Proposal.RunConverged: run_converged,
        Proposal.RunFailed: run_failed,
    },
)
