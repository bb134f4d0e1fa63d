"""selflearn's loggers: key-value events on the standard library's `logging`.

A module logs through `log = get_logger(__name__)`; `log.info("run.started", run_id=…)`
becomes one record of `logging.getLogger("selflearn.…")` whose message is the event and
its values in logfmt (`event=run.started run_id=…`) and which carries the values
themselves as `record.selflearn`. selflearn configures no logging: a host that configures
nothing sees warnings on stderr (the standard library's last resort) and nothing on stdout;
a host that configures `logging` finds selflearn's events where its own logs go.

structlog binds and renders the values. It is imported when an event is first emitted at a
level its logger enables, not when a module is imported: a short command
(`selflearn status`) does not pay for loading it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

#: The structlog logger wrapping each stdlib logger, made on its first emitted event.
_WRAPPED: Final[dict[str, Any]] = {}


class Logger:
    """A stdlib logger and the key-values bound to it (`bind` returns a new one)."""

    __slots__ = ("_logger", "_values")

    def __init__(self, logger: logging.Logger, values: Mapping[str, Any] | None = None) -> None:
        self._logger = logger
        self._values: dict[str, Any] = dict(values or {})

    @property
    def name(self) -> str:
        return self._logger.name

    def bind(self, **values: Any) -> Logger:
        """This logger with `values` added to every event."""
        return Logger(self._logger, {**self._values, **values})

    def debug(self, event: str, **values: Any) -> None:
        self._emit(logging.DEBUG, event, values)

    def info(self, event: str, **values: Any) -> None:
        self._emit(logging.INFO, event, values)

    def warning(self, event: str, **values: Any) -> None:
        self._emit(logging.WARNING, event, values)

    def error(self, event: str, **values: Any) -> None:
        self._emit(logging.ERROR, event, values)

    def _emit(self, level: int, event: str, values: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            _wrapped(self._logger).log(level, event, **{**self._values, **values})


def get_logger(name: str) -> Logger:
    """The logger of module `name` (`__name__`)."""
    return Logger(logging.getLogger(name))


def _wrapped(logger: logging.Logger) -> Any:
    wrapped = _WRAPPED.get(logger.name)
    if wrapped is None:
        import structlog

        render = structlog.processors.LogfmtRenderer(key_order=["event"])

        def to_record(_: Any, __: str, event_dict: Any) -> dict[str, Any]:
            values = dict(event_dict)
            return {"msg": render(None, "", dict(values)), "extra": {"selflearn": values}}

        wrapped = structlog.wrap_logger(
            logger, processors=[to_record], wrapper_class=structlog.stdlib.BoundLogger
        )
        _WRAPPED[logger.name] = wrapped
    return wrapped
