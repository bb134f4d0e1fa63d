"""The `proposal_funnel` view: proposals per current state, stages reached, hourly cohorts.

A proposal's first state is the one its `Proposed` event carries (a proposal imported
from v1 may start `approved`, `verified` or `rejected`). Only proposals that are not
terminal are kept one by one — a rejection does not say where it came from.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from selflearn.events.proposal import STATUSES, TERMINAL, Proposal
from selflearn.projections.base import BUCKET_HORIZON_HOURS, View, hour_of, prune_hours

#: How far along the funnel each state is: reaching one counts every stage before it.
LEVELS: Final = {"pending_approval": 0, "approved": 1, "executed": 2, "verified": 3, "rejected": 0}
STAGES: Final = ("approved", "executed", "verified")  # levels 1, 2, 3


def _counts() -> dict[str, int]:
    return dict.fromkeys(("created", *STATUSES, *(f"reached_{s}" for s in STAGES)), 0)


@attrs.define
class FunnelState:
    #: Every proposal ever, per current state, and per stage reached (keys of `_counts`).
    totals: dict[str, int] = attrs.Factory(_counts)
    #: Proposal id → [status, created hour, level reached] while it is not terminal.
    open: dict[str, list[Any]] = attrs.Factory(dict)
    #: Created hour → the same counts, for the proposals created in that hour.
    cohorts: dict[int, dict[str, int]] = attrs.Factory(dict)
    latest_hour: int = 0


def _reach(state: FunnelState, cohort: dict[str, int] | None, old: int, new: int) -> None:
    for level in range(old + 1, new + 1):
        key = f"reached_{STAGES[level - 1]}"
        state.totals[key] += 1
        if cohort is not None:
            cohort[key] += 1


def proposed(state: FunnelState, event: Proposal.Proposed) -> None:
    status = event.status if event.status in LEVELS else "pending_approval"
    hour = hour_of(event.at)
    if hour > state.latest_hour:
        state.latest_hour = hour
        prune_hours(state.cohorts, hour)
    # A proposal dated before the horizon (an old v1 import) falls in no cohort window.
    recent = hour >= state.latest_hour - BUCKET_HORIZON_HOURS
    cohort = state.cohorts.setdefault(hour, _counts()) if recent else None
    for counts in (state.totals, cohort):
        if counts is not None:
            counts["created"] += 1
            counts[status] += 1
    level = LEVELS[status]
    _reach(state, cohort, 0, level)
    if status not in TERMINAL:
        state.open[str(event.originator_id)] = [status, hour, level]


def _move(state: FunnelState, pid: str, to: str) -> None:
    entry = state.open.get(pid)
    if entry is None:
        return  # a proposal this view never saw created (or already terminal)
    old, hour, level = entry
    cohort = state.cohorts.get(hour)
    for counts in (state.totals, cohort):
        if counts is not None:
            counts[old] -= 1
            counts[to] += 1
    new_level = max(level, LEVELS[to])
    _reach(state, cohort, level, new_level)
    if to in TERMINAL:
        del state.open[pid]
    else:
        entry[0], entry[2] = to, new_level


def approved(state: FunnelState, event: Proposal.Approved) -> None:
    _move(state, str(event.originator_id), "approved")


def rejected(state: FunnelState, event: Proposal.Rejected) -> None:
    _move(state, str(event.originator_id), "rejected")


def run_started(state: FunnelState, event: Proposal.RunStarted) -> None:
    _move(state, str(event.originator_id), "executed")


def run_failed(state: FunnelState, event: Proposal.RunFailed) -> None:
    _move(state, str(event.originator_id), "approved")


def run_converged(state: FunnelState, event: Proposal.RunConverged) -> None:
    _move(state, str(event.originator_id), "verified")


FUNNEL: Final = View(
    name="proposal_funnel",
    version=1,
    state_type=FunnelState,
    handlers={
        Proposal.Proposed: proposed,
        Proposal.Approved: approved,
        Proposal.Rejected: rejected,
        Proposal.RunStarted: run_started,
        Proposal.RunFailed: run_failed,
        Proposal.RunConverged: run_converged,
    },
)
