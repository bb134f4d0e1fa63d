"""Store URLs: `memory://`, `sqlite:///PATH` (the default) and `postgresql://USER@HOST/DB`.

A URL is parsed once, into a `StoreURL` whose `redacted` form (no password) is the only
one that ever appears in a message or a log.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from selflearn.config import DEFAULT_STORE
from selflearn.exceptions import ConfigError

SQLITE_LOCK_TIMEOUT_SECONDS: Final = 15
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


__all__ = ["StoreURL"]
