"""Catch-up, rebuild and replay: reading the log a page at a time and folding it into views.

Catch-up reads the notification log after the views' positions, in pages, decoding only
the events some view handles; each page's states and positions are saved in one
transaction. Replay folds the log from the start into fresh states, without storing
anything, keeping only events up to an instant of domain time (`status(as_of=...)`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final

import attrs
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification
from eventsourcing.utils import TopicError, resolve_topic

from selflearn._log import get_logger
from selflearn.exceptions import StoreError
from selflearn.projections.base import View
from selflearn.projections.viewstore import ViewRecord, ViewStore
from selflearn.values import converter, to_plain

log = get_logger(__name__)

PAGE_SIZE: Final = 5000  # events per read and per commit: a commit costs an fsync
CONFLICT_ATTEMPTS: Final = 20

Progress = Callable[[int, int], None]


@attrs.define
class Live:
    """A view being caught up: its state, its position, and what is stored of it."""

    view: View[Any]
    state: Any
    position: int = 0
    events: int = 0
    stored_position: int = 0


@attrs.frozen
class Folded:
    """Views after a catch-up or a replay."""

    states: dict[str, Any]
    positions: dict[str, int]
    events: dict[str, int]
    processed: int
    notes: tuple[str, ...] = ()


def encode(state: Any) -> str:
    return json.dumps(to_plain(state), separators=(",", ":"), allow_nan=False)


def decode(view: View[Any], text: str) -> Any:
    """A stored state; any error means it cannot be decoded (the caller rebuilds it)."""
    return converter().structure(json.loads(text), view.state_type)


def event_class(topic: str) -> type[Any] | None:
    """The class of `topic`, or None for a topic this version of selflearn does not know."""
    try:
        cls = resolve_topic(topic)
    except (TopicError, ImportError, AttributeError, ValueError):
        return None
    return cls if isinstance(cls, type) else None


def _dispatch(topic: str, lives: Sequence[Live]) -> list[tuple[Live, Callable[[Any, Any], None]]]:
    cls = event_class(topic)
    if cls is None:
        log.warning("view.unknown_event", topic=topic)
        return []
    return [
        (live, handler) for live in lives if (handler := live.view.handler_for(cls)) is not None
    ]


def load(
    app: Application[Any], store: ViewStore, views: Iterable[View[Any]]
) -> tuple[list[Live], list[str]]:
    """The stored views, decoded; a view that cannot be used as stored is dropped and rebuilt."""
    records = store.load(app.name)
    lives: list[Live] = []
    notes: list[str] = []
    for view in views:
        record = records.get(view.name)
        live = Live(view=view, state=view.state())
        if record is not None:
            if record.version > view.version:
                raise StoreError(
                    f"view {view.name!r} was written by a newer selflearn (state schema "
                    f"v{record.version}; this selflearn reads v{view.version}): upgrade "
                    f"selflearn, or run `selflearn rebuild --view {view.name}`"
                )
            problem = None
            if record.version < view.version:
                problem = f"its stored state has schema v{record.version}, not v{view.version}"
            else:
                try:
                    live.state = decode(view, record.state)
                except Exception as exc:
                    problem = f"its stored state could not be decoded ({type(exc).__name__})"
            if problem is None:
                live.position = live.stored_position = record.position
                live.events = record.events
            else:
                live.state = view.state()
                store.drop(app.name, [view.name])
                note = f"view {view.name!r}: {problem}; it was rebuilt from the log"
                log.warning("view.rebuilt", view=view.name, problem=problem)
                notes.append(note)
        lives.append(live)
    return lives, notes


def _fold_pages(
    app: Application[Any],
    store: ViewStore,
    lives: list[Live],
    *,
    page_size: int,
    max_pages: int | None,
    progress: Progress | None,
) -> int:
    recorder = app.recorder
    to_event = app.mapper.to_domain_event
    start = min((live.position for live in lives), default=0)
    total = max((recorder.max_notification_id() or 0) - start, 0)
    dispatch: dict[str, list[tuple[Live, Callable[[Any, Any], None]]]] = {}
    done = pages = 0
    while max_pages is None or pages < max_pages:
        page: Sequence[Notification] = recorder.select_notifications(
            start=start, limit=page_size, inclusive_of_start=False
        )
        if not page:
            break
        for n in page:
            handlers = dispatch.get(n.topic)
            if handlers is None:
                handlers = dispatch[n.topic] = _dispatch(n.topic, lives)
            if handlers:
                event = to_event(n)
                for live, handler in handlers:
                    if n.id > live.position:
                        handler(live.state, event)
        last = page[-1].id
        for live in lives:
            if live.position < page[0].id:
                live.events += len(page)
            elif live.position < last:
                live.events += sum(1 for n in page if n.id > live.position)
            live.position = max(live.position, last)
        moved = [live for live in lives if live.position > live.stored_position]
        store.save(
            app.name,
            [
                ViewRecord(
                    live.view.name,
                    live.view.version,
                    live.events,
                    encode(live.state),
                    live.position,
                )
                for live in moved
            ],
        )
        for live in moved:
            live.stored_position = live.position
        start = last
        done += len(page)
        pages += 1
        if progress is not None:
            progress(done, max(total, done))
        if len(page) < page_size:
            break
    return done


def catch_up(
    app: Application[Any],
    store: ViewStore,
    views: Sequence[View[Any]],
    *,
    page_size: int = PAGE_SIZE,
    max_pages: int | None = None,
    progress: Progress | None = None,
) -> Folded:
    """Bring `views` up to the end of the log (or `max_pages` pages further) and store them."""
    notes: list[str] = []
    for attempt in range(CONFLICT_ATTEMPTS):
        lives, dropped = load(app, store, views)
        notes.extend(dropped)
        try:
            processed = _fold_pages(
                app, store, lives, page_size=page_size, max_pages=max_pages, progress=progress
            )
        except IntegrityError:
            # Another process stored these views further on: start again from there.
            log.debug("view.conflict.retry", attempt=attempt + 1)
            continue
        return Folded(
            states={live.view.name: live.state for live in lives},
            positions={live.view.name: live.position for live in lives},
            events={live.view.name: live.events for live in lives},
            processed=processed,
            notes=tuple(notes),
        )
    raise StoreError(
        f"could not catch the views up after {CONFLICT_ATTEMPTS} attempts "
        "(other processes kept storing them first)"
    )


def rebuild(
    app: Application[Any],
    store: ViewStore,
    views: Sequence[View[Any]],
    *,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
) -> Folded:
    """Drop `views` and fold the whole log into them again."""
    store.drop(app.name, [view.name for view in views])
    return catch_up(app, store, views, page_size=page_size, progress=progress)


def replay(
    app: Application[Any],
    views: Sequence[View[Any]],
    *,
    until: datetime | None = None,
    page_size: int = PAGE_SIZE,
) -> Folded:
    """Fold the whole log into fresh states, keeping only events dated `until` or earlier."""
    recorder, mapper = app.recorder, app.mapper
    states = {view.name: view.state() for view in views}
    dispatch: dict[str, tuple[type[Any] | None, list[tuple[Any, Callable[[Any, Any], None]]]]] = {}
    start: int | None = None
    count = position = 0
    while True:
        page = recorder.select_notifications(start=start, limit=page_size, inclusive_of_start=False)
        for n in page:
            known = dispatch.get(n.topic)
            if known is None:
                cls = event_class(n.topic)
                handlers = (
                    []
                    if cls is None
                    else [
                        (states[view.name], h)
                        for view in views
                        if (h := view.handler_for(cls)) is not None
                    ]
                )
                known = dispatch[n.topic] = (cls, handlers)
            cls, handlers = known
            if cls is not None:
                event: Any = mapper.to_domain_event(n)
                at = getattr(event, "at", None)
            else:  # an event this selflearn does not know: only its date matters
                at = mapper.transcoder.decode(n.state).get("at")
            if until is not None and isinstance(at, datetime) and at > until:
                continue
            count += 1
            position = n.id
            for state, handler in handlers:
                handler(state, event)
        if len(page) < page_size:
            break
        start = page[-1].id
    return Folded(
        states=states,
        positions=dict.fromkeys(states, position),
        events=dict.fromkeys(states, count),
        processed=count,
    )
