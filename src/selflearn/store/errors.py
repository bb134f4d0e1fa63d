"""The store's own errors (eventsourcing's, sqlite3's, psycopg's) as selflearn's `StoreError`."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from eventsourcing.persistence import PersistenceError

from selflearn.exceptions import SelflearnError, StoreError
from selflearn.store.url import StoreURL


def is_store_error(exc: BaseException) -> bool:
    """Whether `exc` comes from the store: eventsourcing, sqlite3 or psycopg (not imported)."""
    return isinstance(exc, (PersistenceError, sqlite3.Error)) or type(exc).__module__.startswith(
        ("psycopg", "psycopg_pool")
    )


def store_errors(parsed: StoreURL) -> contextlib.AbstractContextManager[None]:
    """Turn the store's own errors into `StoreError` naming the store (no password)."""
    return translated(f"store {parsed.redacted}")


@contextlib.contextmanager
def translated(prefix: str, *, chain: bool = True) -> Iterator[None]:
    """Turn a store error raised in the block into `StoreError("<prefix>: <error>")`.

    `prefix` names the store by its redacted URL (no password). selflearn's own errors
    pass unchanged; with `chain=False` the store's error is not kept as the cause.
    """
    try:
        yield
    except SelflearnError:
        raise
    except Exception as exc:
        if not is_store_error(exc):
            raise
        raise StoreError(f"{prefix}: {exc}") from (exc if chain else None)


__all__ = ["is_store_error", "store_errors", "translated"]
