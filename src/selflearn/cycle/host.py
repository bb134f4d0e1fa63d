"""Calls into the host's ports, and the checks on what they return.

A host's exception is never re-raised: the step that called it records it (on the run,
or on the cycle's self-check) as `host_error(exc)`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from selflearn.exceptions import ValidationError
from selflearn.ports import ProposalView
from selflearn.session import Session
from selflearn.settings import HostSettings


def host_error(exc: BaseException) -> str:
    """A host's exception as recorded text."""
    return f"{type(exc).__name__}: {exc}"


def measure(
    session: Session, host: HostSettings, view: ProposalView, *, missing: str
) -> dict[str, float | list[float]]:
    """The probe's metrics for `view`, checked; `ValidationError` with `missing` if no probe."""
    if host.probe is None:
        raise ValidationError(missing)
    with session.host_call():
        measured = host.probe.measure(view)
    return check_metrics(measured, "the probe")


def check_metrics(value: object, what: str) -> dict[str, float | list[float]]:
    """The probe's metrics as plain data, or `ValidationError` saying what is wrong."""
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{what} returned {type(value).__name__}, expected a mapping of metrics"
        )
    metrics: dict[str, float | list[float]] = {}
    for name, number in value.items():
        if not isinstance(name, str):
            raise ValidationError(f"{what} returned a metric name {name!r} that is not a string")
        if _is_number(number):
            metrics[name] = float(number)
        elif isinstance(number, Sequence) and not isinstance(number, str) and number:
            if not all(_is_number(x) for x in number):
                raise ValidationError(
                    f"{what} returned samples for {name!r} that are not all finite numbers"
                )
            metrics[name] = [float(x) for x in number]
        else:
            raise ValidationError(
                f"{what} returned {number!r} for {name!r}: "
                "expected a number or a non-empty list of numbers"
            )
    return metrics


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


__all__ = ["check_metrics", "host_error", "measure"]
