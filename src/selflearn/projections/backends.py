"""The view store beside an application's recorder: memory, SQLite or PostgreSQL."""

from __future__ import annotations

from typing import Any, Final

from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteDatastore

from selflearn.projections.viewstore import MemoryViewStore, SQLiteViewStore, ViewStore

#: How many times a process tries to make the view tables while others make them too.
CREATE_ATTEMPTS: Final = 10


def view_store_for(recorder: Any) -> ViewStore:
    """The view store beside an application's recorder, its tables created if missing.

    Processes that find the tables missing at the same moment all create them, and
    eventsourcing's tracking table then records its own layout once: every other
    process's insert of that record conflicts (`IntegrityError`). The tables exist by
    then, so a fresh recorder, which finds them, succeeds.
    """
    datastore = getattr(recorder, "datastore", None)
    for attempt in range(CREATE_ATTEMPTS):
        store: ViewStore
        if isinstance(datastore, SQLiteDatastore):
            store = SQLiteViewStore(datastore)
        elif datastore is not None and type(datastore).__module__.startswith(
            "eventsourcing.postgres"
        ):
            store = postgres_view_store(datastore)
        else:
            return MemoryViewStore()
        try:
            store.create_table()  # type: ignore[attr-defined]  # both recorders define it
        except IntegrityError:
            if attempt == CREATE_ATTEMPTS - 1:
                raise
            continue
        return store
    raise AssertionError("unreachable")


def postgres_view_store(datastore: Any) -> ViewStore:
    """A PostgreSQL view store on `datastore` (psycopg is imported only here)."""
    from selflearn.projections._postgres import PostgresViewStore

    return PostgresViewStore(datastore)


__all__ = ["CREATE_ATTEMPTS", "view_store_for"]
