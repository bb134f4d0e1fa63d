"""Step 1: the flags a cycle runs with — the loop's, with the operator's overrides applied."""

from __future__ import annotations

from selflearn.config import Flags
from selflearn.cycle.state import Cycle


def record_flags(cycle: Cycle) -> Flags:
    """The effective flags, recorded on the controls when they changed since last recorded."""
    session = cycle.session

    def attempt() -> Flags:
        at = session.now()
        controls = session.controls(at)
        effective = cycle.host.flags.with_overrides(controls.disabled)
        if controls.record_flags(at=at, flags=effective.recorded(), stage=effective.stage):
            session.save(controls)
            cycle.log.info("flags.recorded", stage=effective.stage)
        return effective

    return session.retry(attempt, what="record the effective flags")


def skip(cycle: Cycle, reason: str) -> None:
    """Record a cycle that did nothing, and why."""
    session = cycle.session

    def attempt() -> None:
        at = session.now()
        check = session.self_check(at)
        check.skip_cycle(at=at, reason=reason)
        session.save(check)

    session.retry(attempt, what="record a skipped cycle")


__all__ = ["record_flags", "skip"]
