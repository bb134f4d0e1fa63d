"""The `outcome_quality` view: verdicts of converged runs, rechecks, costs, hourly trends.

A run counts once, when it converges (failed runs are no verdicts). Runs with a
verification attempt and no verdict yet are kept one by one, with their last Δ.
"""

from __future__ import annotations

from typing import Final

import attrs

from selflearn.events.proposal import Proposal
from selflearn.projections.base import BUCKET_HORIZON_HOURS, View, hour_of, prune_hours

VERDICTS: Final = ("win", "loss", "inconclusive")


@attrs.define
class OpenRun:
    pending: bool = False
    delta: dict[str, float] = attrs.Factory(dict)


@attrs.define
class OutcomeState:
    verdicts: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(VERDICTS, 0))
    exhausted: int = 0
    confidence_sum: float = 0.0
    delta_sums: dict[str, float] = attrs.Factory(dict)
    delta_counts: dict[str, int] = attrs.Factory(dict)
    executions: int = 0
    cost_usd_sum: float = 0.0
    duration_ms_sum: float = 0.0
    runs: dict[str, OpenRun] = attrs.Factory(dict)
    pending: int = 0
    #: Hour → pending_recheck_runs after the last change in that hour (plus one older baseline).
    pending_history: dict[int, int] = attrs.Factory(dict)
    #: Converged hour → runs per verdict [win, loss, inconclusive].
    trend: dict[int, list[int]] = attrs.Factory(dict)
    latest_hour: int = 0


def _advance(state: OutcomeState, hour: int) -> None:
    if hour <= state.latest_hour:
        return
    state.latest_hour = hour
    prune_hours(state.trend, hour)
    horizon = hour - BUCKET_HORIZON_HOURS
    old = [h for h in state.pending_history if h < horizon]
    if old:  # keep the newest old entry: it is the count at the horizon
        keep = max(old)
        for h in old:
            if h != keep:
                del state.pending_history[h]


def _pending(state: OutcomeState, change: int, hour: int) -> None:
    if change:
        state.pending += change
        state.pending_history[hour] = state.pending


def run_executed(state: OutcomeState, event: Proposal.RunExecuted) -> None:
    state.executions += 1
    state.cost_usd_sum += event.cost_usd
    state.duration_ms_sum += event.duration_ms


def attempt_verified(state: OutcomeState, event: Proposal.AttemptVerified) -> None:
    hour = hour_of(event.at)
    _advance(state, hour)
    run = state.runs.setdefault(event.run_id, OpenRun())
    change = int(event.pending_recheck) - int(run.pending)
    run.pending = event.pending_recheck
    run.delta = dict(event.delta)
    _pending(state, change, hour)


def run_converged(state: OutcomeState, event: Proposal.RunConverged) -> None:
    hour = hour_of(event.at)
    _advance(state, hour)
    run = state.runs.pop(event.run_id, OpenRun())
    _pending(state, -int(run.pending), hour)
    verdict = event.verdict if event.verdict in VERDICTS else "inconclusive"
    state.verdicts[verdict] += 1
    state.exhausted += int(event.exhausted)
    state.confidence_sum += event.confidence
    for metric, value in run.delta.items():
        state.delta_sums[metric] = state.delta_sums.get(metric, 0.0) + value
        state.delta_counts[metric] = state.delta_counts.get(metric, 0) + 1
    if hour >= state.latest_hour - BUCKET_HORIZON_HOURS:
        state.trend.setdefault(hour, [0, 0, 0])[VERDICTS.index(verdict)] += 1


def run_failed(state: OutcomeState, event: Proposal.RunFailed) -> None:
    hour = hour_of(event.at)
    _advance(state, hour)
    run = state.runs.pop(event.run_id, OpenRun())
    _pending(state, -int(run.pending), hour)


OUTCOME: Final = View(
    name="outcome_quality",
    version=1,
    state_type=OutcomeState,
    handlers={
        Proposal.RunExecuted: run_executed,
        Proposal.AttemptVerified: attempt_verified,
        Proposal.RunConverged: run_converged,
        Proposal.RunFailed: run_failed,
    },
)
