"""Learning signals: one aggregate per dedup signature, one event per observation.

The aggregate id is derived from the signature, so two processes recording the same
observation at once conflict on its version, and the loser sees the duplicate.
"""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from selflearn.events.rules import DEDUP_WINDOW


def signal_id(signature: str) -> UUID:
    return uuid5(NAMESPACE_URL, "selflearn/learning-signal/" + signature)


class LearningSignal(Aggregate):
    """Every observation that shares one signature."""

    class Event(Aggregate.Event):
        """The base of this aggregate's events (declared here, so that eventsourcing need
        not redefine each event class under it)."""

    class Opened(Event, Aggregate.Created):
        at: datetime
        signature: str

    @event(Opened)
    def __init__(self, *, id: UUID, at: datetime, signature: str) -> None:
        self.signature = signature
        self.last_observed_at: datetime | None = None
        self.observations = 0

    def is_duplicate(self, at: datetime) -> bool:
        """Whether an observation at `at` repeats one within the dedup window (30 days)."""
        return self.last_observed_at is not None and abs(at - self.last_observed_at) < DEDUP_WINDOW

    class Observed(Event):
        """The host reported a learning event."""

        at: datetime
        event_id: str
        source: str
        event_type: str
        content: str
        novelty: float
        value: float
        risk: float
        confidence: float
        stream: str

    def observe(
        self,
        *,
        at: datetime,
        event_id: str,
        source: str,
        event_type: str,
        content: str,
        novelty: float,
        value: float,
        risk: float,
        confidence: float,
        stream: str,
    ) -> None:
        self._observed(
            at=at,
            event_id=event_id,
            source=source,
            event_type=event_type,
            content=content,
            novelty=novelty,
            value=value,
            risk=risk,
            confidence=confidence,
            stream=stream,
        )

    @event(Observed)
    def _observed(
        self,
        *,
        at: datetime,
        event_id: str,
        source: str,
        event_type: str,
        content: str,
        novelty: float,
        value: float,
        risk: float,
        confidence: float,
        stream: str,
    ) -> None:
        self.last_observed_at = at
        self.observations += 1
