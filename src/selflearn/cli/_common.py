"""What every command shares: the `--store` and `--json` options, opening the store, turning
selflearn's errors into click's, JSON on stdout, and where logs go.

Importing this module imports click and nothing of the library beyond its exceptions: each
command imports what it calls when it runs, so that `selflearn --help` starts fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

import click

from selflearn.exceptions import SelflearnError

if TYPE_CHECKING:
    from selflearn.config import Flags
    from selflearn.loop import LearningLoop

F = TypeVar("F", bound=Callable[..., Any])

#: The store a command uses when neither `--store` nor $SELFLEARN_STORE names one (the same
#: default as the library's, `selflearn.config.DEFAULT_STORE`; a test keeps them equal).
DEFAULT_STORE: Final = "sqlite:///data/selflearn.db"
#: What a log line on stderr looks like on a terminal.
CONSOLE_FORMAT: Final = "%(asctime)s [%(levelname)-7s] %(message)s"


# -- options ------------------------------------------------------------------------------


def store_option(command: F) -> F:
    """`--store URL`, defaulting to $SELFLEARN_STORE, else the default SQLite file."""
    return click.option(
        "--store",
        envvar="SELFLEARN_STORE",
        default=DEFAULT_STORE,
        show_default=True,
        metavar="URL",
        help="The event store (sqlite:///PATH, postgresql://USER@HOST:PORT/DB, memory://).",
    )(command)


def json_option(command: F) -> F:
    """`--json`: print only JSON on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only, on stdout.")(
        command
    )


def parse_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time; one without an offset is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time (for example 2026-01-05T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class LazyChoice(click.Choice[str]):
    """A choice among names that are looked up when first needed (to check a value, or to
    show them in `--help`), so that defining the command imports nothing."""

    def __init__(self, names: Callable[[], Sequence[str]]) -> None:
        super().__init__((), case_sensitive=True)
        self._names = names
        self._loaded: tuple[str, ...] | None = None

    @property  # click sets `choices` in __init__; here it is read lazily
    def choices(self) -> tuple[str, ...]:
        if self._loaded is None:
            self._loaded = tuple(self._names())
        return self._loaded

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        self._loaded = tuple(value) if value else None


# -- errors and output --------------------------------------------------------------------


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """selflearn's errors become a message on stderr and exit code 1, without a traceback."""
    try:
        yield
    except SelflearnError as exc:
        raise click.ClickException(str(exc)) from None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever `sys.stderr` is when a record is emitted (a test
    runner swaps it, and may close the one that was there when logging was set up)."""

    @property  # StreamHandler keeps its stream in an attribute; this one is looked up
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr


class _JSONFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, the event and its values."""

    def format(self, record: logging.LogRecord) -> str:
        values = getattr(record, "selflearn", None)
        values = values if isinstance(values, dict) else {"event": record.getMessage()}
        line = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": values.get("event"),
            **values,
        }
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(verbose: bool) -> None:
    """selflearn's logs go to stderr (text on a terminal, JSON lines otherwise): warnings
    only, everything with `-v`. stdout stays for the command's output."""
    logger = logging.getLogger("selflearn")
    for handler in [h for h in logger.handlers if isinstance(h, _Stderr)]:
        logger.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(
        logging.Formatter(CONSOLE_FORMAT) if sys.stderr.isatty() else _JSONFormatter()
    )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


# -- the store ----------------------------------------------------------------------------


def open_loop(store: str, flags: Flags | None = None) -> LearningLoop:
    """A loop on an existing store: never creates one, never writes on start-up (no v1 import)."""
    from selflearn.config import Flags
    from selflearn.loop import LearningLoop

    return LearningLoop(store, flags=flags or Flags(), _open_existing=True)


def missing_sqlite_file(store: str) -> bool:
    """Whether `store` names a SQLite file that does not exist (opening it would create it)."""
    from selflearn.store import StoreURL

    parsed = StoreURL.parse(store)
    return parsed.kind == "sqlite" and parsed.path is not None and not parsed.path.exists()
