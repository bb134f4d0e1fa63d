"""What every benchmark shares: arguments, fresh stores, timing, and writing the result."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

RESULTS = Path(__file__).resolve().parent / "results"


def arguments(description: str) -> argparse.ArgumentParser:
    """The common options; also sends selflearn's logs (warnings only) to stderr."""
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a tiny size (for the test suite)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="also measure on this PostgreSQL database (one fresh schema per store)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="where the JSON result is saved"
    )
    return parser


@contextlib.contextmanager
def fresh_store(kind: str, postgres: str | None = None) -> Iterator[str]:
    """The URL of a new, empty store: a SQLite file in a temporary directory, or a schema."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'store.db'}"
        return
    assert postgres is not None
    import psycopg

    from selflearn.store import StoreURL, postgres_conninfo

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in postgres else "?"
    try:
        yield f"{postgres}{sep}schema={schema}"
    finally:
        with psycopg.connect(autocommit=True, **postgres_conninfo(StoreURL.parse(postgres))) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def publish(name: str, result: dict[str, Any], *, quick: bool, directory: Path) -> None:
    """Print the result as one JSON object and save it as `<name>[-quick].json`."""
    result = {"benchmark": name, "quick": quick, "machine": machine(), **result}
    text = json.dumps(result, indent=2)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}{'-quick' if quick else ''}.json").write_text(text + "\n")
    print(text)
