"""Store URLs → eventsourcing applications: memory, SQLite (default) and PostgreSQL.

The environment given to eventsourcing is built here from the URL alone; the host
process's `os.environ` is never consulted, so a host's own variables cannot change
where or how selflearn stores its events.
"""

from __future__ import annotations

import contextlib
import getpass
import sqlite3
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

import attrs
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol, MutableOrImmutableAggregate
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    PersistenceError,
    Recording,
    Transcoding,
)
from eventsourcing.utils import Environment, EnvType

from selflearn._log import get_logger
from selflearn.config import DEFAULT_STORE
from selflearn.events.controls import Controls
from selflearn.events.guardrail import Guardrail
from selflearn.events.policy import Policy
from selflearn.events.selfcheck import SelfCheck
from selflearn.exceptions import ConfigError, SelflearnError, StoreError

log = get_logger(__name__)

T = TypeVar("T")

#: The version of the store's layout (event classes and their versions, selflearn's tables).
#: A writer stamps it on the store; a selflearn older than a store's stamp refuses to open it.
STORE_SCHEMA_VERSION: Final = 1
SCHEMA_TABLE: Final = "selflearn_schema"
SQLITE_LOCK_TIMEOUT_SECONDS: Final = 15
OPEN_ATTEMPTS: Final = 40
POSTGRES_CONNECT_TIMEOUT_SECONDS: Final = 10


@attrs.frozen
class StoreURL:
    """A parsed store URL; `redacted` is safe to print (no password)."""

    kind: str  # "memory" | "sqlite" | "postgresql"
    url: str
    redacted: str
    path: Path | None = None
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = "public"
    lock_timeout: int = SQLITE_LOCK_TIMEOUT_SECONDS
    connect_timeout: int = POSTGRES_CONNECT_TIMEOUT_SECONDS

    @classmethod
    def parse(cls, url: str | None) -> StoreURL:
        """Parse `url` (None → the default SQLite store), or raise `ConfigError` naming it."""
        text = (url or DEFAULT_STORE).strip()
        if text in ("memory://", "memory:", "memory:///"):
            return cls(kind="memory", url=text, redacted="memory://")
        if text.startswith("sqlite:///"):
            raw, _, query = text[len("sqlite:///") :].partition("?")
            if not raw or raw.endswith("/"):
                raise ConfigError(f"SELFLEARN_STORE={text!r}: the SQLite URL names no file")
            options = parse_qs(query)
            unknown = set(options) - {"lock_timeout"}
            if unknown:
                raise ConfigError(
                    f"SELFLEARN_STORE={text!r}: unknown SQLite option(s) {sorted(unknown)}; "
                    "allowed: lock_timeout"
                )
            timeout = options.get("lock_timeout", [str(SQLITE_LOCK_TIMEOUT_SECONDS)])[0]
            if not timeout.isdigit() or not 1 <= int(timeout) <= 600:
                raise ConfigError(
                    f"SELFLEARN_STORE={text!r}: lock_timeout={timeout!r}, "
                    "expected whole seconds from 1 to 600"
                )
            return cls(
                kind="sqlite",
                url=text,
                redacted=text,
                path=Path(unquote(raw)),
                lock_timeout=int(timeout),
            )
        if text.startswith(("postgresql://", "postgres://")):
            return cls._parse_postgres(text)
        raise ConfigError(
            f"SELFLEARN_STORE={text!r} is not allowed: expected sqlite:///PATH, "
            "postgresql://USER@HOST:PORT/DB or memory://"
        )

    @classmethod
    def _parse_postgres(cls, text: str) -> StoreURL:
        parts = urlsplit(text)
        dbname = unquote(parts.path.lstrip("/"))
        try:
            port = parts.port or 5432
        except ValueError:
            raise ConfigError(
                f"SELFLEARN_STORE: the PostgreSQL URL has a bad port: {text!r}"
            ) from None
        if not parts.hostname or not dbname:
            raise ConfigError(
                "SELFLEARN_STORE: a PostgreSQL URL needs a host and a database: "
                "postgresql://USER@HOST:PORT/DB"
            )
        query = parse_qs(parts.query)
        unknown = set(query) - {"schema", "connect_timeout"}
        if unknown:
            raise ConfigError(
                f"SELFLEARN_STORE: unknown PostgreSQL option(s) {sorted(unknown)}; "
                "allowed: schema, connect_timeout"
            )
        schema = query.get("schema", ["public"])[0]
        if not schema.replace("_", "").isalnum():
            raise ConfigError(f"SELFLEARN_STORE: schema {schema!r} must be letters, digits and _")
        timeout = query.get("connect_timeout", [str(POSTGRES_CONNECT_TIMEOUT_SECONDS)])[0]
        if not timeout.isdigit() or not 1 <= int(timeout) <= 300:
            raise ConfigError(
                f"SELFLEARN_STORE: connect_timeout={timeout!r}, "
                "expected whole seconds from 1 to 300"
            )
        user = unquote(parts.username) if parts.username else getpass.getuser()
        password = unquote(parts.password) if parts.password else ""
        netloc = f"{user}{':***' if password else ''}@{parts.hostname}:{port}"
        redacted = f"postgresql://{netloc}/{dbname}" + (
            f"?schema={schema}" if schema != "public" else ""
        )
        return cls(
            kind="postgresql",
            url=text,
            redacted=redacted,
            host=parts.hostname,
            port=port,
            user=user,
            password=password,
            dbname=dbname,
            schema=schema,
            connect_timeout=int(timeout),
        )


@attrs.frozen
class TaggedObject:
    """A JSON object whose only keys are `_type_` and `_data_`, as data (see below)."""

    pairs: list[list[Any]]


class TaggedObjectAsPairs(Transcoding):
    """Stores a `TaggedObject` as its key-value pairs.

    eventsourcing's JSON transcoder reads any object with exactly the keys `_type_` and
    `_data_` as one of its tagged values, so a v1 row holding such an object is written
    through this transcoding (`escape_tagged_objects`) and reads back as the same object.
    """

    type = TaggedObject
    name = "selflearn.tagged_object@1"

    def encode(self, obj: TaggedObject) -> list[list[Any]]:
        return obj.pairs

    def decode(self, data: list[list[Any]]) -> dict[str, Any]:
        return {str(key): value for key, value in data}


def escape_tagged_objects(value: Any) -> Any:
    """`value` with every object of exactly the keys `_type_` and `_data_` made a TaggedObject."""
    return _escaped(value) if _has_tagged_object(value) else value


def _has_tagged_object(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return True
        for item in value.values():
            if _has_tagged_object(item):
                return True
    elif kind is list:
        for item in value:
            if _has_tagged_object(item):
                return True
    return False


def _escaped(value: Any) -> Any:
    if isinstance(value, dict):
        items = {key: _escaped(item) for key, item in value.items()}
        if set(items) == {"_type_", "_data_"}:
            return TaggedObject([[key, item] for key, item in items.items()])
        return items
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    return value


# The last events this application saved, with their positions in the log.
RECORDED_KEPT: Final = 256


class SelflearnApplication(Application[UUID]):
    """The event store of one selflearn deployment (table prefix `selflearn`)."""

    name = "selflearn"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Guardrail: 50,
        Policy: 100,
        SelfCheck: 100,
        Controls: 50,
    }

    def __init__(self, env: EnvType | None = None) -> None:
        super().__init__(env)
        # Kept for the loop's cycle (LearningLoop.trusting_cache, catch_up): how many saves
        # this application made, the ids it found no aggregate for, its last events.
        self.saves = 0
        self.known_absent: set[UUID] = set()
        self.recorded: deque[tuple[int, Any]] = deque(maxlen=RECORDED_KEPT)

    def construct_env(self, name: str, env: Any = None) -> Environment:
        # Only what the URL says: a host's os.environ must not reconfigure the store.
        settings = dict(env or {})
        settings["IS_SNAPSHOTTING_ENABLED"] = "y"
        # Cached aggregates are fast-forwarded from the store on every get (one query),
        # except inside a cycle (LearningLoop.trusting_cache).
        # They are not deep-copied: the loop clears the cache whenever an attempt fails,
        # so a command that could not be saved never leaves its changes behind.
        settings.setdefault("AGGREGATE_CACHE_MAXSIZE", "1000")
        settings.setdefault("AGGREGATE_CACHE_FASTFORWARD", "y")
        settings.setdefault("DEEPCOPY_FROM_AGGREGATE_CACHE", "n")
        return Environment(name, settings)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(TaggedObjectAsPairs())

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """`Application.save`, collecting the aggregates' events without protocol checks.

        eventsourcing tells aggregates from events with `isinstance` against runtime
        protocols, which Python 3.11 answers slowly (a fifth of a cycle's time); every
        aggregate here is an `Aggregate`. The rest is `Application.save` step by step.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # deprecated in eventsourcing, still called
        return recordings

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        recordings = super()._record(processing_event)
        self.saves += 1
        self.recorded.extend((r.notification.id, r.domain_event) for r in recordings)
        cache = self.repository.cache
        for aggregate_id, aggregate in processing_event.aggregates.items():
            self.known_absent.discard(aggregate_id)
            if cache is not None:
                cache.put(aggregate_id, aggregate)
        return recordings


def open_store(url: str | None, *, create: bool = True) -> tuple[SelflearnApplication, StoreURL]:
    """Open the store at `url`; with `create=False` a missing SQLite file is an error."""
    parsed = StoreURL.parse(url)
    try:
        if parsed.kind == "memory":
            return SelflearnApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), parsed
        app = (_open_sqlite if parsed.kind == "sqlite" else _open_postgres)(parsed, create=create)
        try:
            retry_locked(
                lambda: check_schema(app, parsed, write=create), what=f"open {parsed.redacted}"
            )
        except BaseException:
            app.close()
            raise
        return app, parsed
    except StoreError:
        raise
    except (PersistenceError, sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open store {parsed.redacted}: {exc}") from None
    except Exception as exc:
        if _is_psycopg_error(exc):
            raise StoreError(f"cannot open store {parsed.redacted}: {exc}") from None
        raise


def _open_sqlite(parsed: StoreURL, *, create: bool) -> SelflearnApplication:
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


def _switch_to_wal(path: Path, timeout: int) -> None:
    """Put the file in WAL mode first, retrying while another process does the same."""

    def switch() -> None:
        with contextlib.closing(sqlite3.connect(str(path), timeout=timeout)) as c:
            mode = c.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                c.execute("PRAGMA journal_mode=WAL")

    retry_locked(switch, what=f"switch {path} to WAL")


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


def _postgres_env(parsed: StoreURL, *, create_table: bool) -> dict[str, str]:
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


def _open_postgres(parsed: StoreURL, *, create: bool) -> SelflearnApplication:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(
            "PostgreSQL stores need the 'postgres' extra: pip install 'selflearn[postgres]'"
        ) from None
    if not create:
        return SelflearnApplication(env=_postgres_env(parsed, create_table=False))
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
        return SelflearnApplication(env=_postgres_env(parsed, create_table=True))


@contextlib.contextmanager
def store_errors(parsed: StoreURL) -> Iterator[None]:
    """Turn the store's own errors into `StoreError` naming the store (no password)."""
    try:
        yield
    except SelflearnError:
        raise
    except (PersistenceError, sqlite3.Error) as exc:
        raise StoreError(f"store {parsed.redacted}: {exc}") from exc
    except Exception as exc:
        if _is_psycopg_error(exc):
            raise StoreError(f"store {parsed.redacted}: {exc}") from exc
        raise


def table_creation(parsed: StoreURL) -> contextlib.AbstractContextManager[object]:
    """On PostgreSQL, the advisory lock under which processes take turns creating tables
    (concurrent CREATE TABLE fails there); elsewhere, nothing."""
    if parsed.kind == "postgresql":
        return postgres_lock(parsed, "schema")
    return contextlib.nullcontext()


def _is_psycopg_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("psycopg", "psycopg_pool"))
