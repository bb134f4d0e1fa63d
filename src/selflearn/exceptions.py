"""The errors selflearn raises: one root and a few leaves."""

from __future__ import annotations


class SelflearnError(Exception):
    """Root of every error selflearn raises on purpose."""


class ConfigError(SelflearnError, ValueError):
    """A flag or setting has a value that is not allowed."""


class ValidationError(SelflearnError, ValueError):
    """Input from a host or an operator is malformed; nothing was recorded."""


class NotFound(SelflearnError, KeyError):
    """No proposal, run or view has the given id or name."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better unquoted.
        return str(self.args[0]) if self.args else "not found"


class IllegalTransition(SelflearnError):
    """A command does not fit the current state of a proposal; nothing was recorded."""


class StoreError(SelflearnError):
    """The event store could not be opened, read or written."""
