"""PostgreSQL stores: the eventsourcing environment, connection arguments, advisory locks.

psycopg is imported only when a PostgreSQL store is used (the `postgres` extra).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import Any

from selflearn.exceptions import StoreError
from selflearn.store.application import SelflearnApplication
from selflearn.store.url import StoreURL


def postgres_env(parsed: StoreURL, *, create_table: bool) -> dict[str, str]:
    """The eventsourcing environment of the store at `parsed`."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parsed.dbname,
        "POSTGRES_HOST": parsed.host,
        "POSTGRES_PORT": str(parsed.port),
        "POSTGRES_USER": parsed.user,
        "POSTGRES_PASSWORD": parsed.password,
        "POSTGRES_SCHEMA": parsed.schema,
        "POSTGRES_CONNECT_TIMEOUT": str(parsed.connect_timeout),
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "4",
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": "y" if create_table else "n",
    }


def postgres_conninfo(parsed: StoreURL) -> dict[str, Any]:
    """psycopg connection arguments for `parsed`."""
    return {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.user,
        "password": parsed.password or None,
        "dbname": parsed.dbname,
        "connect_timeout": parsed.connect_timeout,
    }


@contextlib.contextmanager
def postgres_lock(parsed: StoreURL, name: str) -> Iterator[Any]:
    """Hold a PostgreSQL advisory lock named `name` (per schema) on a connection of its own."""
    import psycopg

    key = zlib.crc32(f"selflearn/{parsed.schema}/{name}".encode())
    with psycopg.connect(autocommit=True, **postgres_conninfo(parsed)) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def table_creation(parsed: StoreURL) -> contextlib.AbstractContextManager[object]:
    """On PostgreSQL, the advisory lock under which processes take turns creating tables
    (concurrent CREATE TABLE fails there); elsewhere, nothing."""
    if parsed.kind == "postgresql":
        return postgres_lock(parsed, "schema")
    return contextlib.nullcontext()


def open_postgres(parsed: StoreURL, *, create: bool) -> SelflearnApplication:
    """The application of the PostgreSQL store at `parsed`, its schema and tables made with
    `create` (an existing store is required otherwise)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(
            "PostgreSQL stores need the 'postgres' extra: pip install 'selflearn[postgres]'"
        ) from None
    if not create:
        return SelflearnApplication(env=postgres_env(parsed, create_table=False))
    # Concurrent CREATE TABLE / CREATE OR REPLACE FUNCTION fail intermittently in
    # PostgreSQL; an advisory lock makes processes that start together take turns.
    with postgres_lock(parsed, "schema") as conn:
        # Only a missing schema is created: CREATE SCHEMA IF NOT EXISTS needs the right to
        # create schemas in the database even when the schema exists, and a role given a
        # schema by an administrator usually lacks it.
        found = conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (parsed.schema,)
        ).fetchone()
        if found is None:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{parsed.schema}"')
        return SelflearnApplication(env=postgres_env(parsed, create_table=True))


__all__ = ["open_postgres", "postgres_conninfo", "postgres_env", "postgres_lock", "table_creation"]
