"""Fakes of every host port and a state machine, for tests of selflearn and of hosts' own
integrations.

    clock = FakeClock()
    probe = FakeProbe({"health_score": 80.0})
    executor = FakeExecutor(probe=probe, effects={"Cache results": {"health_score": +2.0}})
    loop = LearningLoop("memory://", executor=executor, probe=probe, clock=clock)
    loop.tick(); clock.advance(seconds=300); loop.tick()

`LearningLoopMachine` and `SimulatedCrash` need hypothesis (the `testing` extra) and are
imported only when asked for.
"""

from __future__ import annotations

from typing import Any

from selflearn.audit.invariants import Violation, check_history, check_log
from selflearn.loop import LearningLoop
from selflearn.testing.fakes import FakeClock, FakeExecutor, FakeProbe


def check_invariants(loop: LearningLoop) -> list[Violation]:
    """Every violation of the guardrail invariants in `loop`'s whole recorded history."""
    return check_log(loop._session.app)


def __getattr__(name: str) -> Any:
    # The state machine needs hypothesis (the `testing` extra); import it only when asked.
    if name in ("LearningLoopMachine", "SimulatedCrash"):
        from selflearn.testing import machine

        return getattr(machine, name)
    raise AttributeError(f"module 'selflearn.testing' has no attribute {name!r}")


__all__ = [
    "FakeClock",
    "FakeExecutor",
    "FakeProbe",
    "LearningLoopMachine",
    "SimulatedCrash",
    "Violation",
    "check_history",
    "check_invariants",
]
