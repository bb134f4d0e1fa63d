"""View stores: each view's state and its position in the log, written in one transaction.

One store per backend, each an eventsourcing tracking recorder: a view's position is its
tracking row, named `<application>/<view>` so that views sharing SQLite's fixed
`tracking` table never share a row. `save()` writes the states of a page and their
tracking rows together; a tracking row that does not move forward raises
`IntegrityError` and nothing of the page is kept (exactly once).

| backend | views table | tracking table |
|---|---|---|
| memory | a dict | eventsourcing's POPO tracking |
| SQLite | `selflearn_views` | `tracking` (fixed by eventsourcing, shared) |
| PostgreSQL | `<schema>.selflearn_views` | `<schema>.selflearn_views_tracking` |

The PostgreSQL store is in `_postgres` (psycopg stays optional); `backends.view_store_for`
picks the store for an application's recorder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Final

import attrs
from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.popo import POPOTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

VIEWS_TABLE: Final = "selflearn_views"
POSTGRES_TRACKING_TABLE: Final = "selflearn_views_tracking"


def tracking_name(application: str, view: str) -> str:
    """The tracking row of `view` over `application`'s log."""
    return f"{application}/{view}"


@attrs.frozen
class ViewRecord:
    """A view as stored: its state (JSON text) after `events` events up to `position`."""

    name: str
    version: int
    events: int
    state: str
    position: int


class ViewStore(TrackingRecorder, ABC):
    """Where views are kept, with their positions (the interface the runner uses)."""

    @abstractmethod
    def load(self, application: str) -> dict[str, ViewRecord]:
        """Every stored view over `application`'s log."""

    @abstractmethod
    def save(self, application: str, records: Sequence[ViewRecord]) -> None:
        """Store `records` and move their tracking rows, in one transaction."""

    @abstractmethod
    def drop(self, application: str, names: Sequence[str]) -> None:
        """Forget the views `names` and their positions, in one transaction."""


class MemoryViewStore(POPOTrackingRecorder, ViewStore):
    """Views of a `memory://` store, in this process."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, tuple[int, int, str]] = {}

    def load(self, application: str) -> dict[str, ViewRecord]:
        with self._database_lock:
            return {
                name: ViewRecord(
                    name,
                    version,
                    events,
                    state,
                    self._max_tracking_ids[tracking_name(application, name)] or 0,
                )
                for name, (version, events, state) in self._rows.items()
            }

    def save(self, application: str, records: Sequence[ViewRecord]) -> None:
        trackings = [Tracking(tracking_name(application, r.name), r.position) for r in records]
        with self._database_lock:
            for tracking in trackings:  # check them all before changing anything
                self._assert_tracking_uniqueness(tracking)
            for record, tracking in zip(records, trackings, strict=True):
                self._rows[record.name] = (record.version, record.events, record.state)
                self._insert_tracking(tracking)

    def drop(self, application: str, names: Sequence[str]) -> None:
        with self._database_lock:
            for name in names:
                self._rows.pop(name, None)
                self._max_tracking_ids.pop(tracking_name(application, name), None)


class SQLiteViewStore(SQLiteTrackingRecorder, ViewStore):
    """Views in the store's own SQLite file."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {VIEWS_TABLE} ("
            "name TEXT PRIMARY KEY, version INTEGER NOT NULL, "
            "events INTEGER NOT NULL, state TEXT NOT NULL) WITHOUT ROWID",
        ]

    def load(self, application: str) -> dict[str, ViewRecord]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT v.name, v.version, v.events, v.state, t.notification_id "
                f"FROM {VIEWS_TABLE} v LEFT JOIN tracking t "
                "ON t.application_name = ? || v.name",
                (tracking_name(application, ""),),
            )
            return {
                name: ViewRecord(name, version, events, state, position or 0)
                for name, version, events, state, position in c.fetchall()
            }

    def save(self, application: str, records: Sequence[ViewRecord]) -> None:
        with self.datastore.transaction(commit=True) as c:
            for r in records:
                c.execute(
                    f"INSERT INTO {VIEWS_TABLE} VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE "
                    "SET version = excluded.version, events = excluded.events, "
                    "state = excluded.state",
                    (r.name, r.version, r.events, r.state),
                )
                self._insert_tracking(c, Tracking(tracking_name(application, r.name), r.position))

    def drop(self, application: str, names: Sequence[str]) -> None:
        with self.datastore.transaction(commit=True) as c:
            for name in names:
                c.execute(f"DELETE FROM {VIEWS_TABLE} WHERE name = ?", (name,))
                c.execute(
                    "DELETE FROM tracking WHERE application_name = ?",
                    (tracking_name(application, name),),
                )


__all__ = [
    "POSTGRES_TRACKING_TABLE",
    "VIEWS_TABLE",
    "MemoryViewStore",
    "SQLiteViewStore",
    "ViewRecord",
    "ViewStore",
    "tracking_name",
]
