"""Opening a store: its URL → an eventsourcing application, its schema checked or stamped."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from selflearn.exceptions import StoreError
from selflearn.store.application import SelflearnApplication
from selflearn.store.errors import translated
from selflearn.store.postgres import open_postgres
from selflearn.store.retry import retry_locked
from selflearn.store.schema import check_schema
from selflearn.store.url import StoreURL


def open_store(url: str | None, *, create: bool = True) -> tuple[SelflearnApplication, StoreURL]:
    """Open the store at `url`; with `create=False` a missing SQLite file is an error."""
    parsed = StoreURL.parse(url)
    with translated(f"cannot open store {parsed.redacted}", chain=False):
        try:
            return _open(parsed, create=create), parsed
        except OSError as exc:
            raise StoreError(f"cannot open store {parsed.redacted}: {exc}") from None


def _open(parsed: StoreURL, *, create: bool) -> SelflearnApplication:
    if parsed.kind == "memory":
        return SelflearnApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app = (open_sqlite if parsed.kind == "sqlite" else open_postgres)(parsed, create=create)
    try:
        retry_locked(
            lambda: check_schema(app, parsed, write=create), what=f"open {parsed.redacted}"
        )
    except BaseException:
        app.close()
        raise
    return app


def open_sqlite(parsed: StoreURL, *, create: bool) -> SelflearnApplication:
    """The application of the SQLite store at `parsed`, in WAL mode."""
    assert parsed.path is not None
    path = parsed.path
    if not path.exists():
        if not create:
            raise StoreError(f"no store at {parsed.redacted}: {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
    _switch_to_wal(path, parsed.lock_timeout)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(path),
        "SQLITE_LOCK_TIMEOUT": str(parsed.lock_timeout),
    }
    return retry_locked(lambda: SelflearnApplication(env=env), what=f"open {parsed.redacted}")


def _switch_to_wal(path: Path, timeout: int) -> None:
    """Put the file in WAL mode first, retrying while another process does the same."""

    def switch() -> None:
        with contextlib.closing(sqlite3.connect(str(path), timeout=timeout)) as c:
            mode = c.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                c.execute("PRAGMA journal_mode=WAL")

    retry_locked(switch, what=f"switch {path} to WAL")


__all__ = ["open_sqlite", "open_store"]
