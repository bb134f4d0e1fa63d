"""The store's schema stamp: which layout of events and tables a store was written with.

A writer stamps the store; a selflearn older than a store's stamp refuses to open it.
"""

from __future__ import annotations

from typing import Any, Final

from eventsourcing.application import Application

from selflearn.exceptions import StoreError
from selflearn.store.application import SelflearnApplication
from selflearn.store.url import StoreURL

#: The version of the store's layout (event classes and their versions, selflearn's tables).
STORE_SCHEMA_VERSION: Final = 1
SCHEMA_TABLE: Final = "selflearn_schema"


def check_schema(app: Application[Any], parsed: StoreURL, *, write: bool) -> None:
    """Refuse a store stamped by a newer selflearn; with `write`, stamp an older or new one.

    The stamp is the row `store` of the table `selflearn_schema`; a store without it was
    written before stamps existed, or not written at all.
    """
    datastore: Any = getattr(app.recorder, "datastore", None)
    sqlite = parsed.kind == "sqlite"
    table = SCHEMA_TABLE if sqlite else f'"{parsed.schema}".{SCHEMA_TABLE}'
    marker = "?" if sqlite else "%s"
    with datastore.transaction(commit=write) as cursor:
        if sqlite:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (SCHEMA_TABLE,)
            )
        else:
            if not write:  # a reader needs the events: a missing store is not an empty one
                events = f'"{parsed.schema}".{SelflearnApplication.name}_events'
                cursor.execute("SELECT to_regclass(%s) AS name", (events,))
                if cursor.fetchone()["name"] is None:
                    raise StoreError(f"no store at {parsed.redacted}: {events} does not exist")
            cursor.execute("SELECT to_regclass(%s) AS name", (table,))
        row = cursor.fetchone()
        version: int | None = None
        if row is not None and row[0 if sqlite else "name"] is not None:
            cursor.execute(f"SELECT version FROM {table} WHERE component = 'store'")
            stamp = cursor.fetchone()
            version = None if stamp is None else int(stamp[0 if sqlite else "version"])
        if version is not None and version > STORE_SCHEMA_VERSION:
            raise StoreError(
                f"store {parsed.redacted} was written by a newer selflearn (store schema "
                f"v{version}; this selflearn reads up to v{STORE_SCHEMA_VERSION}): "
                "upgrade selflearn to open it"
            )
        if write and version != STORE_SCHEMA_VERSION:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            cursor.execute(
                f"INSERT INTO {table} VALUES ('store', {marker}) "
                "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (STORE_SCHEMA_VERSION,),
            )


__all__ = ["SCHEMA_TABLE", "STORE_SCHEMA_VERSION", "check_schema"]
