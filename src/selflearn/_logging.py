"""selflearn's loggers: structlog bound to the standard library's `logging`.

Nothing here configures logging. Each module logs through `get_logger(__name__)`, a
structlog logger over `logging.getLogger("selflearn.<module>")` with its own processors
(no global `structlog.configure`): an event is dropped unless that stdlib logger is enabled
for its level, else rendered as one line of text, `event key=value …`, and handed to
the stdlib logger. A host that configures nothing sees warnings only, on stderr
(`logging`'s last-resort handler); a host that configures `logging` gets every event
where its handlers send them.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog
from structlog.typing import Processor, WrappedLogger


def _render(logger: WrappedLogger, method: str, event_dict: MutableMapping[str, Any]) -> str:
    """`event key=value …`: the event's name, then its values in the order they were given."""
    event = event_dict.pop("event", "")
    pairs = " ".join(f"{key}={value!r}" for key, value in event_dict.items())
    return f"{event} {pairs}" if pairs else str(event)


_PROCESSORS: list[Processor] = [structlog.stdlib.filter_by_level, _render]


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger over the stdlib logger `name` (a module's `__name__`)."""
    return structlog.stdlib.BoundLogger(logging.getLogger(name), _PROCESSORS, {})


__all__ = ["get_logger"]
