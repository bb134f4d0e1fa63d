"""The guardrail: the one aggregate that admits runs to normal mode and holds cooldowns.

Every normal-mode admission is an event on this single aggregate, saved in the same
transaction as the proposal's run start, so its version number serialises admissions
across every process sharing the store (optimistic concurrency: reload and decide again).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from selflearn.events.rules import QUOTA_WINDOW

GUARDRAIL_ID: Final = uuid5(NAMESPACE_URL, "selflearn/guardrail/normal-mode")


class Guardrail(Aggregate):
    """Normal-mode admissions of the last hour and the cooldown."""

    class Event(Aggregate.Event):
        """The base of this aggregate's events (declared here, so that eventsourcing need
        not redefine each event class under it)."""

    class Opened(Event, Aggregate.Created):
        at: datetime

    @event(Opened)
    def __init__(self, *, id: UUID, at: datetime) -> None:
        self.admissions: list[datetime] = []
        self.cooldown_until: datetime | None = None

    class Admitted(Event):
        """A run was admitted to normal mode; it uses one unit of the hourly quota."""

        at: datetime
        proposal_id: str
        run_id: str

    def admit(self, *, at: datetime, proposal_id: str, run_id: str) -> None:
        self._admitted(at=at, proposal_id=proposal_id, run_id=run_id)

    @event(Admitted)
    def _admitted(self, *, at: datetime, proposal_id: str, run_id: str) -> None:
        start = at - QUOTA_WINDOW
        self.admissions = [t for t in self.admissions if t > start] + [at]

    class CooldownStarted(Event):
        """A normal-mode run lost; every decision is safe until `until`."""

        at: datetime
        proposal_id: str
        run_id: str
        until: datetime

    def start_cooldown(
        self, *, at: datetime, proposal_id: str, run_id: str, until: datetime
    ) -> None:
        self._cooldown_started(at=at, proposal_id=proposal_id, run_id=run_id, until=until)

    @event(CooldownStarted)
    def _cooldown_started(
        self, *, at: datetime, proposal_id: str, run_id: str, until: datetime
    ) -> None:
        if self.cooldown_until is None or until > self.cooldown_until:
            self.cooldown_until = until
