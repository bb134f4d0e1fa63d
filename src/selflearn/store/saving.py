"""Saving aggregates: `Application.save`, step by step, over eventsourcing's public API.

`Application.save` tells aggregates from events with `isinstance` checks against
runtime-checkable protocols, which Python 3.11 answers slowly: they cost more than the
rest of a cycle's decisions. Every object selflearn saves is an `Aggregate`, so
`save_aggregates` does what `save` does for aggregates, with public calls only:

1. collect each aggregate's pending events (`Aggregate.collect_events`);
2. put them in the event store in one transaction (`app.events.put`);
3. take a snapshot at every version of an aggregate that is a multiple of its class's
   interval in `app.snapshotting_intervals` (`app.take_snapshot`).

`Application.save` also puts the aggregates in the repository's cache, but only when the
cache does not fast-forward (ours does: `Session.save` puts them itself), and calls the
notification hooks `_notify` and `notify`, which `SelflearnApplication` leaves empty.
`tests/store/test_eventsourcing_pins.py` checks that this stores the same events and snapshots
as `Application.save`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording


def save_aggregates(
    app: Application[Any], aggregates: Sequence[Aggregate]
) -> list[Recording[UUID]]:
    """Save the aggregates' pending events in one transaction; their recordings."""
    events = [event for aggregate in aggregates for event in aggregate.collect_events()]
    recordings: list[Recording[UUID]] = app.events.put(events)
    if app.snapshots is not None and app.snapshotting_intervals:
        kinds = {aggregate.id: type(aggregate) for aggregate in aggregates}
        for event in events:
            interval = app.snapshotting_intervals.get(kinds[event.originator_id])
            if interval is not None and event.originator_version % interval == 0:
                app.take_snapshot(event.originator_id, version=event.originator_version)
    return recordings


__all__ = ["save_aggregates"]
