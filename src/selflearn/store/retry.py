"""Waiting out SQLite's "database is locked" while a store is opened.

SQLite lets one writer in at a time across processes; one that waits longer than the
store's lock timeout gets "database is locked". Opening a store (switching the file to
WAL, creating tables, stamping the schema) retries that a bounded number of times.
Saves have their own policy (`selflearn.session.Session.retry`), built on `is_locked_error`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Final, TypeVar

from eventsourcing.persistence import IntegrityError, PersistenceError

from selflearn._log import get_logger
from selflearn.exceptions import StoreError

log = get_logger(__name__)

T = TypeVar("T")

OPEN_ATTEMPTS: Final = 40


def is_locked_error(exc: BaseException) -> bool:
    """Whether `exc` is SQLite's 'database is locked' (or busy) under contention."""
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def retry_locked(fn: Callable[[], T], *, what: str, attempts: int = OPEN_ATTEMPTS) -> T:
    """Call `fn`, retrying a bounded number of times while SQLite says the database is locked."""
    for attempt in range(attempts):
        try:
            return fn()
        except (sqlite3.OperationalError, PersistenceError) as exc:
            if isinstance(exc, IntegrityError) or not is_locked_error(exc):
                raise
            if attempt == attempts - 1:
                raise StoreError(f"could not {what}: the database stayed locked ({exc})") from None
            log.debug("store.locked.retry", what=what, attempt=attempt + 1)
            time.sleep(min(0.05 * (attempt + 1), 0.5))
    raise AssertionError("unreachable")


__all__ = ["OPEN_ATTEMPTS", "is_locked_error", "retry_locked"]
