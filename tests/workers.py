"""Functions run in child processes by the multi-process tests (spawned: importable by name)."""

from __future__ import annotations

import logging
import sys
import time
from datetime import datetime
from typing import Any

import structlog

import selflearn as sl
from selflearn.testing import FakeClock, FakeProbe

structlog.configure(
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    logger_factory=structlog.PrintLoggerFactory(sys.stderr),
)


class SlowExecutor:
    """An executor that takes `seconds` of real time, so racing cycles overlap."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def execute(self, proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
        time.sleep(self.seconds)
        return sl.ExecutionResult()


def race_tick(url: str, at: str, flags: dict[str, Any], barrier: Any, out: Any) -> None:
    """Open the store, wait for the others, run one cycle at domain time `at`."""
    try:
        loop = sl.LearningLoop(
            url,
            flags=sl.Flags(**flags),
            executor=SlowExecutor(0.02),
            probe=FakeProbe({"health_score": 80.0}),
            clock=FakeClock(datetime.fromisoformat(at)),
        )
        with loop:
            barrier.wait(timeout=60)
            report = loop.tick()
        out.put(("ok", report.to_dict()))
    except BaseException as exc:  # report everything to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))
