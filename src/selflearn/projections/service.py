"""What `LearningLoop.status()` and `rebuild_views()` do with the views and the log."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import Application

from selflearn._log import get_logger
from selflearn.exceptions import ValidationError
from selflearn.projections import VIEWS, views_named
from selflearn.projections.assemble import build_report
from selflearn.projections.backends import view_store_for
from selflearn.projections.runner import Folded, Progress, catch_up, rebuild, replay
from selflearn.projections.viewstore import ViewStore
from selflearn.status import RebuildReport, StatusReport, StoreStatus, ViewStatus
from selflearn.store import open_store, store_errors, table_creation

log = get_logger(__name__)


def check_as_of(as_of: object, now: datetime) -> datetime:
    """`as_of` as an aware UTC time not after `now`, or `ValidationError` saying why not."""
    if not isinstance(as_of, datetime):
        raise ValidationError(f"as_of={as_of!r}: expected a datetime")
    if as_of.tzinfo is None:
        raise ValidationError(f"as_of={as_of.isoformat()}: expected an aware time (with offset)")
    as_of = as_of.astimezone(UTC)
    if as_of > now:
        raise ValidationError(
            f"as_of={as_of.isoformat()} lies in the future (now is {now.isoformat()})"
        )
    return as_of


def status(
    app: Application[Any],
    store: ViewStore,
    url: str,
    *,
    now: datetime,
    as_of: datetime | None = None,
) -> StatusReport:
    """The report from the views caught up to the end of the log, or replayed up to `as_of`."""
    if as_of is not None:
        instant = check_as_of(as_of, now)
        folded = replay(app, VIEWS, until=instant)
        position = max(folded.positions.values(), default=0)
        summary = StoreStatus(
            url=url,
            events_recorded=folded.processed,
            last_position=position,
            views={},
        )
        return build_report(folded.states, now=instant, store=summary, as_of=True)
    folded = catch_up(app, store, VIEWS)
    last = app.recorder.max_notification_id() or 0
    return build_report(folded.states, now=now, store=store_status(folded, url, last), as_of=False)


def status_of(url: str, *, as_of: datetime | None = None) -> StatusReport:
    """The status of the existing store at `url`, now or `as_of` (what `selflearn status`
    shows): the store is never created and no event is written (catching the views up
    may write their tables)."""
    now = datetime.now(UTC)
    app, parsed = open_store(url, create=False)
    with app, store_errors(parsed):
        with table_creation(parsed):
            views = view_store_for(app.recorder)
        return status(app, views, parsed.redacted, now=now, as_of=as_of)


def store_status(folded: Folded, url: str, last: int) -> StoreStatus:
    ahead = max(folded.positions, key=lambda name: folded.positions[name], default=None)
    return StoreStatus(
        url=url,
        events_recorded=folded.events[ahead] if ahead is not None else 0,
        last_position=last,
        views={
            view.name: ViewStatus(
                position=folded.positions[view.name],
                lag=max(0, last - folded.positions[view.name]),
                events=folded.events[view.name],
                version=view.version,
            )
            for view in VIEWS
            if view.name in folded.positions
        },
        warnings=folded.notes,
    )


def rebuild_views(
    app: Application[Any],
    store: ViewStore,
    names: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
) -> RebuildReport:
    """Drop the views `names` (every view for None) and fold the whole log into them again."""
    views = views_named(names)
    started = time.perf_counter()
    folded = rebuild(app, store, views, progress=progress)
    seconds = time.perf_counter() - started
    log.info("views.rebuilt", views=[v.name for v in views], events=folded.processed)
    return RebuildReport(
        views=tuple(view.name for view in views),
        events=folded.processed,
        seconds=seconds,
        events_per_second=folded.processed / seconds if seconds > 0 else 0.0,
    )
