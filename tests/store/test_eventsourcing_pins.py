"""What selflearn relies on in eventsourcing 9.5, pinned: a change there fails here first.

- `Session.save` saves through `store.saving.save_aggregates`, which does what
  `Application.save` does for aggregates with public calls (collect the events, put them,
  take the snapshots the intervals ask for): it must leave the store as `Application.save`
  does, and the notification hooks it skips must stay empty. `Application.save` returns
  one recording per event, in order, with its notification id; with
  `AGGREGATE_CACHE_FASTFORWARD` it does not put the saved aggregates in the cache, so the
  session does.
- The v1 import (`selflearn.migrate`) encodes rows with `Mapper.to_stored_event` as
  objects of a class without `class_version`, and reads states back as written with
  `Mapper.to_domain_event` under the topic of a class without upcasters.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError, get_topic, register_topic

from selflearn.events.controls import CONTROLS_ID, Controls
from selflearn.events.guardrail import GUARDRAIL_ID, Guardrail
from selflearn.events.proposal import Proposal
from selflearn.migrate import RAW_TOPIC, raw_state
from selflearn.store import SelflearnApplication, open_store
from selflearn.store.saving import save_aggregates
from tests.conftest import new_proposal

AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def app() -> Any:
    opened, _ = open_store("memory://")
    with opened:
        yield opened


def test_save_returns_a_recording_per_event_in_order(app: Application[UUID]) -> None:
    """`Application.save` returns each event saved with its position in the log."""
    controls = Controls(id=CONTROLS_ID, at=AT)
    controls.disable(at=AT, capability="executor", reason="pin")
    recordings = app.save(controls)
    assert [1, 2] == [r.notification.id for r in recordings]
    assert [Controls.Opened, Controls.CapabilityDisabled] == [
        type(r.domain_event) for r in recordings
    ]


def _store_after_saves(save: Any) -> tuple[list[Any], list[Any], list[int]]:
    """Two singletons changed and saved 120 times, together or alone, with `save`: the
    log (ids, versions, topics), the snapshots (ids, versions) and the positions returned."""
    app, _ = open_store("memory://")
    with app:
        controls = Controls(id=CONTROLS_ID, at=AT)
        guard = Guardrail(id=GUARDRAIL_ID, at=AT)
        positions: list[int] = []
        for n in range(120):
            capability = ("executor", "bandit")[n % 2]
            if capability in controls.disabled:
                controls.enable(at=AT, capability=capability, reason="pin")
            else:
                controls.disable(at=AT, capability=capability, reason="pin")
            guard.admit(at=AT, proposal_id=str(n), run_id=str(n))
            together = n % 3 == 0
            for batch in [[controls, guard]] if together else [[controls], [guard]]:
                positions += [r.notification.id for r in save(app, batch)]
        log = [
            (n.originator_id, n.originator_version, n.topic)
            for n in app.recorder.select_notifications(start=None, limit=1000)
        ]
        assert app.snapshots is not None
        snapshots = [
            (aggregate_id, snapshot.originator_version)
            for aggregate_id in (CONTROLS_ID, GUARDRAIL_ID)
            for snapshot in app.snapshots.get(aggregate_id)
        ]
    return log, snapshots, positions


def test_save_aggregates_leaves_the_store_as_application_save_does() -> None:
    """The same events in the same order, the same snapshots (every 50 versions of these
    singletons), the same positions returned."""
    expected = _store_after_saves(lambda app, batch: app.save(*batch))
    assert expected == _store_after_saves(save_aggregates)
    assert [(CONTROLS_ID, 50), (CONTROLS_ID, 100), (GUARDRAIL_ID, 50), (GUARDRAIL_ID, 100)] == (
        expected[1]
    )


def test_the_notification_hooks_save_aggregates_skips_are_empty() -> None:
    """`Application.save` ends by calling `_notify` and `notify`; selflearn's application
    keeps eventsourcing's, which do nothing."""
    assert SelflearnApplication._notify is Application._notify
    assert SelflearnApplication.notify is Application.notify


def test_save_leaves_the_fast_forwarded_cache_alone(app: Application[UUID]) -> None:
    """With a fast-forwarded cache, `Application.save` does not cache what it saved."""
    assert app.repository.cache is not None
    app.save(Controls(id=CONTROLS_ID, at=AT))
    with pytest.raises(KeyError):
        app.repository.cache.get(CONTROLS_ID)


class Plain:
    """An object the mapper encodes like an event: ids, then its other attributes."""

    originator_id: UUID
    originator_version: int

    def __init__(self, **state: Any) -> None:
        self.__dict__.update(state)


def test_the_mapper_writes_no_class_version_for_a_class_without_one(
    app: Application[UUID],
) -> None:
    """`to_stored_event` stores the object's attributes but its ids, under its class's topic,
    and adds `class_version` only for a class whose `class_version` is above 1."""
    uid = uuid4()
    stored = app.mapper.to_stored_event(
        Plain(originator_id=uid, originator_version=1, title="t", n=[1])
    )
    assert (uid, 1, get_topic(Plain)) == (
        stored.originator_id,
        stored.originator_version,
        stored.topic,
    )
    assert {"title": "t", "n": [1]} == json.loads(stored.state)
    (event,) = new_proposal(AT).collect_events()
    proposed = app.mapper.to_stored_event(event)
    assert 2 == json.loads(proposed.state)["class_version"]


def test_one_topic_names_one_class() -> None:
    """eventsourcing's topic registry refuses a second class for a topic that names one:
    the v1 import's row class keeps a topic of its own, and its stored events take
    `Proposal.Proposed`'s topic afterwards."""
    topic = get_topic(Proposal.Proposed)

    class Impostor:
        pass

    with pytest.raises(TopicError):
        register_topic(topic, Impostor)


def test_a_state_is_read_back_as_written(app: Application[UUID]) -> None:
    """`to_domain_event` under the topic of a class without upcasters gives the stored
    state as it was written (the ids added, a `class_version` key dropped)."""
    uid = uuid4()
    stored = StoredEvent(
        originator_id=uid,
        originator_version=1,
        topic=get_topic(Proposal.Proposed),
        state=json.dumps({"title": "v1 row", "class_version": 1}).encode(),
    )
    raw = app.mapper.to_domain_event(dataclasses.replace(stored, topic=RAW_TOPIC))
    assert {"title": "v1 row", "originator_id": uid, "originator_version": 1} == vars(raw)
    assert {"title": "v1 row"} == raw_state(app, stored)
