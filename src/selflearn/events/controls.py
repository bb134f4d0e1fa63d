"""Operator controls: the effective flags cycles ran with, and operator overrides."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from selflearn.config import check_capability

CONTROLS_ID: Final = uuid5(NAMESPACE_URL, "selflearn/controls")


class Controls(Aggregate):
    """The last recorded effective flags and the capabilities an operator has switched off."""

    class Event(Aggregate.Event):
        """The base of this aggregate's events (declared here, so that eventsourcing need
        not redefine each event class under it)."""

    class Opened(Event, Aggregate.Created):
        at: datetime

    @event(Opened)
    def __init__(self, *, id: UUID, at: datetime) -> None:
        self.flags: dict[str, Any] = {}
        self.stage: str | None = None
        self.disabled: dict[str, dict[str, Any]] = {}

    class FlagsRecorded(Event):
        """A cycle ran with effective flags that differ from the last recorded ones."""

        at: datetime
        flags: dict[str, Any]
        stage: str

    def record_flags(self, *, at: datetime, flags: dict[str, Any], stage: str) -> bool:
        """Record `flags` if they differ from the last recorded; return whether they did."""
        if flags == self.flags and stage == self.stage:
            return False
        self._flags_recorded(at=at, flags=dict(flags), stage=stage)
        return True

    @event(FlagsRecorded)
    def _flags_recorded(self, *, at: datetime, flags: dict[str, Any], stage: str) -> None:
        self.flags = dict(flags)
        self.stage = stage

    class CapabilityDisabled(Event):
        """An operator switched a capability off; it stays off until enabled again."""

        at: datetime
        capability: str
        reason: str

    def disable(self, *, at: datetime, capability: str, reason: str) -> None:
        self._capability_disabled(at=at, capability=check_capability(capability), reason=reason)

    @event(CapabilityDisabled)
    def _capability_disabled(self, *, at: datetime, capability: str, reason: str) -> None:
        self.disabled[capability] = {"at": at, "reason": reason}

    class CapabilityEnabled(Event):
        """An operator lifted an override; the environment decides again."""

        at: datetime
        capability: str
        reason: str

    def enable(self, *, at: datetime, capability: str, reason: str) -> None:
        self._capability_enabled(at=at, capability=check_capability(capability), reason=reason)

    @event(CapabilityEnabled)
    def _capability_enabled(self, *, at: datetime, capability: str, reason: str) -> None:
        self.disabled.pop(capability, None)
