"""The agenda: the fold of the log that finds each step's candidates."""

from __future__ import annotations

from datetime import UTC, datetime

from eventsourcing.utils import get_topic

from selflearn import agenda
from selflearn.agenda import AGENDA_EVENTS, AGENDA_TOPICS, Agenda
from selflearn.events.controls import CONTROLS_ID, Controls
from tests.conftest import new_proposal

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_folded_events_are_those_with_a_handler() -> None:
    """`AGENDA_EVENTS` lists exactly the classes the agenda has a handler for, each once,
    and every handler has a name of its own."""
    handlers = agenda._HANDLERS
    assert tuple(handlers) == AGENDA_EVENTS
    assert len(set(AGENDA_EVENTS)) == len(AGENDA_EVENTS) == 16
    assert frozenset(get_topic(cls) for cls in handlers) == AGENDA_TOPICS
    names = [handler.__name__ for handler in handlers.values()]
    assert all(name.startswith("_") and name != "_" for name in names)
    assert all(
        getattr(Agenda, name) is handler
        for name, handler in zip(names, handlers.values(), strict=True)
    )


def test_an_event_without_a_handler_only_moves_the_position() -> None:
    """An event the agenda does not fold changes nothing in it but its position."""
    controls = Controls(id=CONTROLS_ID, at=AT)
    (event,) = controls.collect_events()
    fold = Agenda()
    fold.apply(event, 7)
    assert Agenda(position=7, latest_at=AT) == fold


def test_a_proposal_is_an_item_until_it_is_closed() -> None:
    """A new proposal is on the agenda; its rejection takes it off (and its signature)."""
    proposal = new_proposal(AT, priority=0.9)
    proposal.reject(at=AT, actor="operator", reason="no")
    fold = Agenda()
    proposed, rejected = proposal.collect_events()
    fold.apply(proposed, 1)
    assert ["pending_approval"] == [item.status for item in fold.items.values()]
    assert fold.has_open_signature("sig")
    fold.apply(rejected, 2)
    assert ({}, False) == (fold.items, fold.has_open_signature("sig"))
