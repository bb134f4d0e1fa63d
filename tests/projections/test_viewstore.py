"""View stores: eventsourcing's own tracking-recorder tests, exactly-once pages, bad states."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, TrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore

# The module, not its classes: pytest would collect and run the abstract bases otherwise.
from eventsourcing.tests import persistence as es_persistence

import selflearn as sl
from selflearn.projections import VIEWS
from selflearn.projections.runner import catch_up
from selflearn.projections.viewstore import MemoryViewStore, SQLiteViewStore, ViewRecord
from selflearn.values import to_plain
from tests.conftest import (
    POSTGRES_URL,
    BackendCase,
    Harness,
    app_of,
    drop_postgres_schema,
    require_postgres,
    session_of,
)


class TestMemoryViewStoreIsATrackingRecorder(es_persistence.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return MemoryViewStore()


class TestSQLiteViewStoreIsATrackingRecorder(es_persistence.TrackingRecorderTestCase):
    def setUp(self) -> None:
        self.directory = tempfile.TemporaryDirectory()
        self.datastores: list[SQLiteDatastore] = []

    def tearDown(self) -> None:
        for datastore in self.datastores:
            datastore.close()
        self.directory.cleanup()

    def create_recorder(self) -> TrackingRecorder:
        datastore = SQLiteDatastore(str(Path(self.directory.name) / f"{uuid.uuid4().hex}.db"))
        self.datastores.append(datastore)
        store = SQLiteViewStore(datastore)
        store.create_table()
        return store


class TestPostgresViewStoreIsATrackingRecorder(es_persistence.TrackingRecorderTestCase):
    def setUp(self) -> None:
        require_postgres()
        self.schema = f"t_{uuid.uuid4().hex[:16]}"
        self.datastores: list[Any] = []

    def tearDown(self) -> None:
        for datastore in self.datastores:
            datastore.close()
        drop_postgres_schema(self.schema)

    def create_recorder(self) -> TrackingRecorder:
        import psycopg
        from eventsourcing.postgres import PostgresDatastore

        from selflearn.projections._postgres import PostgresViewStore
        from selflearn.store import StoreURL, postgres_conninfo

        info = postgres_conninfo(StoreURL.parse(POSTGRES_URL))
        with psycopg.connect(autocommit=True, **info) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        datastore = PostgresDatastore(
            info["dbname"],
            info["host"],
            info["port"],
            info["user"],
            info["password"] or "",
            schema=self.schema,
        )
        self.datastores.append(datastore)
        store = PostgresViewStore(datastore)
        store.create_table()
        return store


class TestViewStore(BackendCase):
    def history(self, h: Harness) -> int:
        h.approved()
        h.loop.tick()
        h.clock.advance(seconds=300)
        h.loop.tick()
        return app_of(h.loop).recorder.max_notification_id() or 0

    def test_a_page_is_stored_exactly_once(self, h: Harness) -> None:
        """Saving a position that is not ahead raises and keeps the stored state unchanged."""
        last = self.history(h)
        h.loop.status()
        store, app = session_of(h.loop).views(), app_of(h.loop)
        before = store.load(app.name)["outcome_quality"]
        with pytest.raises(IntegrityError):
            store.save(app.name, [ViewRecord("outcome_quality", 1, 0, "{}", last)])
        assert before == store.load(app.name)["outcome_quality"]
        assert last == before.position

    def test_views_share_no_tracking_row(self, h: Harness) -> None:
        """Each view keeps its own position: rebuilding one leaves the others where they are."""
        last = self.history(h)
        h.loop.status()
        store, app = session_of(h.loop).views(), app_of(h.loop)
        store.drop(app.name, ["policy_state"])
        positions = {name: r.position for name, r in store.load(app.name).items()}
        assert "policy_state" not in positions
        assert {last} == set(positions.values())
        report = h.loop.status()
        assert last == report.store.views["policy_state"].position

    def test_undecodable_state_is_rebuilt_and_said(self, h: Harness) -> None:
        """A stored state that cannot be decoded is rebuilt from the log, with a warning."""
        last = self.history(h)
        good = h.loop.status().to_dict()
        store, app = session_of(h.loop).views(), app_of(h.loop)
        store.drop(app.name, ["outcome_quality"])
        store.save(app.name, [ViewRecord("outcome_quality", 1, 3, '{"verdicts": [', last)])
        report = h.loop.status()
        (warning,) = report.store.warnings
        assert "outcome_quality" in warning
        assert "could not be decoded" in warning
        assert good["outcome_quality"] == report.to_dict()["outcome_quality"]
        assert () == h.loop.status().store.warnings

    def test_older_state_schema_is_rebuilt(self, h: Harness) -> None:
        """A state stored under an older schema version is rebuilt, and said so."""
        last = self.history(h)
        h.loop.status()
        store, app = session_of(h.loop).views(), app_of(h.loop)
        store.drop(app.name, ["policy_state"])
        store.save(app.name, [ViewRecord("policy_state", 0, 1, "{}", last)])
        report = h.loop.status()
        assert ["view 'policy_state': its stored state has schema v0, not v1"] == [
            w.split(";")[0] for w in report.store.warnings
        ]
        assert report.policy_state.families

    def test_newer_state_schema_is_refused(self, h: Harness) -> None:
        """A view stored by a newer selflearn is a StoreError, and it is left untouched."""
        last = self.history(h)
        h.loop.status()
        store, app = session_of(h.loop).views(), app_of(h.loop)
        store.drop(app.name, ["rollout"])
        store.save(app.name, [ViewRecord("rollout", 99, 1, '{"future": true}', last)])
        with pytest.raises(sl.StoreError, match=r"newer selflearn.*v99"):
            h.loop.status()
        assert '{"future": true}' == store.load(app.name)["rollout"].state

    def test_interrupted_catch_up_resumes(self, h: Harness) -> None:
        """A catch-up stopped after one page leaves consistent views that resume later."""
        last = self.history(h)
        folded = catch_up(
            app_of(h.loop), session_of(h.loop).views(), VIEWS, page_size=4, max_pages=1
        )
        assert {4} == set(folded.positions.values())
        assert last == h.loop.status().store.views["rollout"].position


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
class TestConcurrentCatchUp(BackendCase):
    def test_a_catch_up_overtaken_by_another_reloads_and_finishes(self, h: Harness) -> None:
        """When another process stores the views further on, a catch-up reloads, never doubles."""
        for n in range(4):
            h.approved(f"proposal {n}")
            h.loop.tick()
            h.clock.advance(seconds=400)
        first, second = h.loop, h.reopen()
        overtaken: list[int] = []

        def overtake(done: int, total: int) -> None:
            if not overtaken:  # after the first page: the other process catches up to the end
                overtaken.append(done)
                catch_up(app_of(second), session_of(second).views(), VIEWS)

        folded = catch_up(
            app_of(first), session_of(first).views(), VIEWS, page_size=5, progress=overtake
        )
        expected = catch_up(app_of(first), MemoryViewStore(), VIEWS)
        assert overtaken
        assert {k: to_plain(v) for k, v in expected.states.items()} == {
            k: to_plain(v) for k, v in folded.states.items()
        }
        report = first.status()
        assert {len(h.events())} == {v.events for v in report.store.views.values()}
