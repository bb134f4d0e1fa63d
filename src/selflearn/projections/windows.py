"""The `opportunity_windows` view: the self-check counters as of the last cycle."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import attrs

from selflearn.events.selfcheck import SelfCheck
from selflearn.projections.base import View


@attrs.define
class WindowsState:
    cycles: int = 0
    skipped_cycles: int = 0
    last_cycle_at: datetime | None = None
    learning_window_open: bool = False
    improvement_window_open: bool = False
    learning_opportunities: int = 0
    improvement_opportunities: int = 0
    no_opportunity_iterations: int = 0
    no_learning_streak: int = 0
    no_improvement_streak: int = 0
    synthetic_windows_opened: int = 0
    empty_synthetic_windows: int = 0
    cycles_with_host_errors: int = 0


def cycle_checked(state: WindowsState, event: SelfCheck.CycleChecked) -> None:
    state.cycles += 1
    state.last_cycle_at = event.at
    state.learning_window_open = event.learning_window_open
    state.improvement_window_open = event.improvement_window_open
    state.learning_opportunities = event.learning_opportunities
    state.improvement_opportunities = event.improvement_opportunities
    state.no_opportunity_iterations = event.no_opportunity_iterations
    state.no_learning_streak = event.no_learning_streak
    state.no_improvement_streak = event.no_improvement_streak
    state.cycles_with_host_errors += int(bool(event.host_errors))


def synthetic_opened(state: WindowsState, event: SelfCheck.SyntheticOpened) -> None:
    state.synthetic_windows_opened += 1
    state.empty_synthetic_windows += int(not event.event_ids)
    state.no_opportunity_iterations = 0


def cycle_skipped(state: WindowsState, event: SelfCheck.CycleSkipped) -> None:
    state.cycles += 1
    state.skipped_cycles += 1
    state.last_cycle_at = event.at


WINDOWS: Final = View(
    name="opportunity_windows",
    version=1,
    state_type=WindowsState,
    handlers={
        SelfCheck.CycleChecked: cycle_checked,
        SelfCheck.SyntheticOpened: synthetic_opened,
        SelfCheck.CycleSkipped: cycle_skipped,
    },
)
