"""Stores: a URL → an eventsourcing application (memory, SQLite by default, PostgreSQL).

| module | holds |
|---|---|
| `url` | `StoreURL`: parsing, the redacted form |
| `application` | `SelflearnApplication` and its transcoding of tagged objects |
| `connect` | `open_store`: open, switch SQLite to WAL, check or stamp the schema |
| `schema` | the schema stamp |
| `saving` | `save_aggregates`: `Application.save` for aggregates, over public calls |
| `postgres` | the PostgreSQL environment, connection arguments, advisory locks |
| `retry` | waiting out "database is locked" while opening |
| `errors` | the store's errors as `StoreError` |
"""

from __future__ import annotations

from selflearn.store.application import SelflearnApplication, escape_tagged_objects
from selflearn.store.connect import open_store
from selflearn.store.errors import store_errors
from selflearn.store.postgres import postgres_conninfo, postgres_lock, table_creation
from selflearn.store.retry import is_locked_error
from selflearn.store.saving import save_aggregates
from selflearn.store.schema import STORE_SCHEMA_VERSION
from selflearn.store.url import StoreURL

__all__ = [
    "STORE_SCHEMA_VERSION",
    "SelflearnApplication",
    "StoreURL",
    "escape_tagged_objects",
    "is_locked_error",
    "open_store",
    "postgres_conninfo",
    "postgres_lock",
    "save_aggregates",
    "store_errors",
    "table_creation",
]
