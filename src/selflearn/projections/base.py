"""What a view is: a name, a state schema version, a state type and pure handlers per event class.

A handler `(state, event) -> None` changes only the state it is given: no I/O, no clock,
nothing but the event's own fields (its domain time is `event.at`). Events no handler of
a view names still advance that view's position (the runner sees to that).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Generic, TypeVar

import attrs

S = TypeVar("S")

Handler = Callable[[Any, Any], None]

HOUR_SECONDS: Final = 3600
#: Buckets older than this (from a view's latest event) can fall in no window of the report.
BUCKET_HORIZON_HOURS: Final = 8 * 24


@attrs.frozen
class View(Generic[S]):
    """A projection: `state()` makes an empty state, `handlers` fold events into it.

    `version` is the schema version of the stored state: bump it when the state's shape
    or meaning changes, and stored states of an older version are rebuilt from the log.
    """

    name: str
    version: int
    state_type: type[S]
    handlers: Mapping[type[Any], Handler]

    def state(self) -> S:
        return self.state_type()

    def handler_for(self, event_class: type[Any]) -> Handler | None:
        """The handler of the nearest class in `event_class`'s MRO, if this view has one."""
        for cls in event_class.__mro__:
            handler = self.handlers.get(cls)
            if handler is not None:
                return handler
        return None


def hour_of(at: datetime) -> int:
    """The hour bucket of `at`: whole hours since the epoch."""
    return int(at.timestamp()) // HOUR_SECONDS


def hours_in_window(hours: Iterable[int], now: datetime, window: timedelta) -> list[int]:
    """The buckets whose hour overlaps the window `(now - window, now]`."""
    start = now.timestamp() - window.total_seconds()
    end = now.timestamp()
    return [h for h in hours if (h + 1) * HOUR_SECONDS > start and h * HOUR_SECONDS <= end]


def prune_hours(buckets: dict[int, Any], latest_hour: int) -> None:
    """Forget buckets that lie beyond every window of the report."""
    horizon = latest_hour - BUCKET_HORIZON_HOURS
    for hour in [h for h in buckets if h < horizon]:
        del buckets[hour]


def ratio(numerator: int, denominator: int) -> float | None:
    """`numerator / denominator`, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None
