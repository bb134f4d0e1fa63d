"""The windowed self-check: opportunity windows, streaks and synthetic openings.

The counters after a cycle are computed by `rules.next_streaks` before the event and
recorded in it, so the log holds the values the loop acted on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from selflearn.events.rules import Streaks

SELF_CHECK_ID: Final = uuid5(NAMESPACE_URL, "selflearn/self-check")


class SelfCheck(Aggregate):
    """The self-check's counters and the log position up to which learning events were taken."""

    class Event(Aggregate.Event):
        """The base of this aggregate's events (declared here, so that eventsourcing need
        not redefine each event class under it)."""

    class Opened(Event, Aggregate.Created):
        at: datetime

    @event(Opened)
    def __init__(self, *, id: UUID, at: datetime) -> None:
        self.cursor = 0
        self.no_learning_streak = 0
        self.no_improvement_streak = 0
        self.learning_opportunities = 0
        self.improvement_opportunities = 0
        self.no_opportunity_iterations = 0
        self.synthetic_windows_opened = 0
        self.cycles = 0

    @property
    def streaks(self) -> Streaks:
        return Streaks(
            no_learning_streak=self.no_learning_streak,
            no_improvement_streak=self.no_improvement_streak,
            learning_opportunities=self.learning_opportunities,
            improvement_opportunities=self.improvement_opportunities,
            no_opportunity_iterations=self.no_opportunity_iterations,
        )

    class CycleChecked(Event):
        """A cycle's windows and the counters after it; `cursor` is the last log position taken."""

        at: datetime
        cursor: int
        windowed: bool
        learning_window_open: bool
        learning_progress: bool
        improvement_window_open: bool
        improvement_progress: bool
        no_learning_streak: int
        no_improvement_streak: int
        learning_opportunities: int
        improvement_opportunities: int
        no_opportunity_iterations: int
        host_errors: list[str]

    def check_cycle(
        self,
        *,
        at: datetime,
        cursor: int,
        windowed: bool,
        learning_window_open: bool,
        learning_progress: bool,
        improvement_window_open: bool,
        improvement_progress: bool,
        after: Streaks,
        host_errors: list[str],
    ) -> None:
        self._cycle_checked(
            at=at,
            cursor=max(cursor, self.cursor),
            windowed=windowed,
            learning_window_open=learning_window_open,
            learning_progress=learning_progress,
            improvement_window_open=improvement_window_open,
            improvement_progress=improvement_progress,
            no_learning_streak=after.no_learning_streak,
            no_improvement_streak=after.no_improvement_streak,
            learning_opportunities=after.learning_opportunities,
            improvement_opportunities=after.improvement_opportunities,
            no_opportunity_iterations=after.no_opportunity_iterations,
            host_errors=list(host_errors),
        )

    @event(CycleChecked)
    def _cycle_checked(
        self,
        *,
        at: datetime,
        cursor: int,
        windowed: bool,
        learning_window_open: bool,
        learning_progress: bool,
        improvement_window_open: bool,
        improvement_progress: bool,
        no_learning_streak: int,
        no_improvement_streak: int,
        learning_opportunities: int,
        improvement_opportunities: int,
        no_opportunity_iterations: int,
        host_errors: list[str],
    ) -> None:
        self.cursor = cursor
        self.no_learning_streak = no_learning_streak
        self.no_improvement_streak = no_improvement_streak
        self.learning_opportunities = learning_opportunities
        self.improvement_opportunities = improvement_opportunities
        self.no_opportunity_iterations = no_opportunity_iterations
        self.cycles += 1

    class SyntheticOpened(Event):
        """Idle cycles reached the threshold: recent learning events went to the proposer."""

        at: datetime
        opportunity_id: str
        event_ids: list[str]
        proposal_ids: list[str]

    def open_synthetic(
        self, *, at: datetime, opportunity_id: str, event_ids: list[str], proposal_ids: list[str]
    ) -> None:
        self._synthetic_opened(
            at=at,
            opportunity_id=opportunity_id,
            event_ids=list(event_ids),
            proposal_ids=list(proposal_ids),
        )

    @event(SyntheticOpened)
    def _synthetic_opened(
        self, *, at: datetime, opportunity_id: str, event_ids: list[str], proposal_ids: list[str]
    ) -> None:
        self.no_opportunity_iterations = 0
        self.synthetic_windows_opened += 1

    class CycleSkipped(Event):
        """A cycle ran but did nothing (proposal v2 is off)."""

        at: datetime
        reason: str

    def skip_cycle(self, *, at: datetime, reason: str) -> None:
        self._cycle_skipped(at=at, reason=reason)

    @event(CycleSkipped)
    def _cycle_skipped(self, *, at: datetime, reason: str) -> None:
        self.cycles += 1
