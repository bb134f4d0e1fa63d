"""Store URLs and opening stores: memory, SQLite, PostgreSQL, and the errors of each."""

from __future__ import annotations

from pathlib import Path

import pytest

import selflearn as sl
from selflearn.store import StoreURL, open_store
from selflearn.testing import FakeClock
from tests.conftest import require_postgres, session_of


@pytest.mark.parametrize(
    ("url", "kind", "detail"),
    [
        ("memory://", "memory", None),
        ("sqlite:///data/selflearn.db", "sqlite", Path("data/selflearn.db")),
        ("sqlite:////var/lib/selflearn/es.db", "sqlite", Path("/var/lib/selflearn/es.db")),
        (
            "postgresql://alice@db.example:6543/agents",
            "postgresql",
            ("db.example", 6543, "alice", "agents"),
        ),
        ("postgres://bob:pw@host/db", "postgresql", ("host", 5432, "bob", "db")),
    ],
)
def test_store_urls_parse(url: str, kind: str, detail: object) -> None:
    """Each supported URL form parses to its backend and location."""
    parsed = StoreURL.parse(url)
    assert kind == parsed.kind
    if kind == "sqlite":
        assert detail == parsed.path
    if kind == "postgresql":
        assert detail == (parsed.host, parsed.port, parsed.user, parsed.dbname)


def test_default_store_is_the_relative_sqlite_file() -> None:
    """No URL means sqlite:///data/selflearn.db."""
    assert Path("data/selflearn.db") == StoreURL.parse(None).path


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x/y",
        "sqlite://data.db",
        "sqlite:///",
        "postgresql://host/",
        "postgresql:///db",
        "nonsense",
    ],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    """An unsupported or incomplete URL is a ConfigError naming SELFLEARN_STORE."""
    with pytest.raises(sl.ConfigError, match="SELFLEARN_STORE"):
        StoreURL.parse(url)


def test_password_is_redacted() -> None:
    """The printable form of a URL never shows the password."""
    parsed = StoreURL.parse("postgresql://alice:s3cret@h:5432/db?schema=agents")
    assert "s3cret" not in parsed.redacted
    assert parsed.redacted == "postgresql://alice:***@h:5432/db?schema=agents"


def test_unreachable_postgres_is_a_store_error_without_password() -> None:
    """An unreachable PostgreSQL raises StoreError naming the URL, not its password."""
    with pytest.raises(sl.StoreError) as caught:
        sl.LearningLoop("postgresql://alice:s3cret@127.0.0.1:1/db", flags=sl.Flags())
    assert "postgresql://alice:***@127.0.0.1:1/db" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_sqlite_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A file that is not a SQLite database is a StoreError, and is left as it was."""
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    before = path.read_bytes()
    with pytest.raises(sl.StoreError, match=r"notes\.db"):
        sl.LearningLoop(f"sqlite:///{path}", flags=sl.Flags())
    assert before == path.read_bytes()


def test_sqlite_in_an_unwritable_place(tmp_path: Path) -> None:
    """A SQLite path that cannot be created is a StoreError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(sl.StoreError):
        sl.LearningLoop(f"sqlite:///{blocker}/sub/store.db", flags=sl.Flags())


def test_sqlite_directories_are_created(tmp_path: Path) -> None:
    """Opening a SQLite store creates its directories."""
    path = tmp_path / "a" / "b" / "store.db"
    with sl.LearningLoop(f"sqlite:///{path}", flags=sl.Flags(), clock=FakeClock()) as loop:
        loop.tick()
    assert path.exists()


def test_missing_sqlite_file_for_readers(tmp_path: Path) -> None:
    """Opening without create refuses a missing file instead of making an empty store."""
    with pytest.raises(sl.StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_host_environment_does_not_reconfigure_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """eventsourcing variables in the host's environment do not redirect the store."""
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    monkeypatch.setenv("SQLITE_DBNAME", str(tmp_path / "elsewhere.db"))
    path = tmp_path / "mine.db"
    with sl.LearningLoop(f"sqlite:///{path}", flags=sl.Flags(), clock=FakeClock()) as loop:
        loop.tick()
    assert path.exists()
    assert not (tmp_path / "elsewhere.db").exists()


def test_store_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no store given, $SELFLEARN_STORE chooses it."""
    path = tmp_path / "env.db"
    monkeypatch.setenv("SELFLEARN_STORE", f"sqlite:///{path}")
    with sl.LearningLoop(flags=sl.Flags(), clock=FakeClock()) as loop:
        assert session_of(loop).url.path == path


def test_postgres_schema_is_created(tmp_path: Path) -> None:
    """A PostgreSQL store in a schema that does not exist yet creates it."""
    require_postgres()
    from tests.conftest import drop_postgres_schema, postgres_schema_url

    schema = "t_schema_created"
    drop_postgres_schema(schema)
    try:
        with sl.LearningLoop(
            postgres_schema_url(schema), flags=sl.Flags(), clock=FakeClock()
        ) as loop:
            loop.tick()
            assert session_of(loop).url.schema == schema
    finally:
        drop_postgres_schema(schema)


def test_postgres_schema_made_by_an_administrator(tmp_path: Path) -> None:
    """A role that may not create schemas in the database (PostgreSQL's default for a role
    that does not own it) uses the schema an administrator made for it."""
    require_postgres()
    import uuid

    import psycopg

    from selflearn.store import postgres_conninfo
    from tests.conftest import POSTGRES_URL, drop_postgres_schema

    admin = StoreURL.parse(POSTGRES_URL)
    role, schema = f"t_role_{uuid.uuid4().hex[:12]}", f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(autocommit=True, **postgres_conninfo(admin)) as c:
        c.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD 'secret'")
        c.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
    url = f"postgresql://{role}:secret@{admin.host}:{admin.port}/{admin.dbname}?schema={schema}"
    try:
        with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock()) as loop:
            loop.tick()
            assert 1 == loop.status().opportunity_windows.cycles
    finally:
        drop_postgres_schema(schema)
        with psycopg.connect(autocommit=True, **postgres_conninfo(admin)) as c:
            c.execute(f'DROP ROLE "{role}"')


def test_clock_must_be_aware() -> None:
    """A clock returning a naive time is a ConfigError at the first use."""
    from datetime import datetime

    loop = sl.LearningLoop("memory://", flags=sl.Flags(), clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(sl.ConfigError, match="aware"):
        loop.tick()


def test_missing_postgres_store_for_readers() -> None:
    """Opening without create refuses a PostgreSQL schema with no store, and creates nothing."""
    require_postgres()
    from tests.conftest import drop_postgres_schema, postgres_schema_url

    schema = "t_no_store_here"
    drop_postgres_schema(schema)
    with pytest.raises(sl.StoreError, match=r"no store at .*does not exist"):
        open_store(postgres_schema_url(schema), create=False)


def test_store_stamped_by_a_newer_selflearn(tmp_path: Path) -> None:
    """A store whose schema stamp is newer than this selflearn is refused, for writers too."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'store.db'}"
    app, _ = open_store(url)
    app.close()
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert [("store", 1)] == conn.execute("SELECT * FROM selflearn_schema").fetchall()
        conn.execute("UPDATE selflearn_schema SET version = 2")
    for create in (True, False):
        with pytest.raises(sl.StoreError, match=r"newer selflearn \(store schema v2"):
            open_store(url, create=create)
