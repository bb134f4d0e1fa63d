"""Child-process functions of the real-apply process tests (spawned: importable by name)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

import selflearn as sl
from selflearn.realapply.workspace import Hooks
from selflearn.testing import FakeClock, FakeProbe
from tests.workers import SlowExecutor


def apply_until_killed(
    url: str, at: str, flags: dict[str, Any], workspace: str, step: str, marker: str
) -> None:
    """Run a cycle whose apply stops at `step` (touching `marker`) and waits to be killed."""

    def pause(reached: str) -> None:
        if reached == step:
            Path(marker).write_text(reached)
            time.sleep(600)

    loop = sl.LearningLoop(
        url,
        flags=sl.Flags(**flags),
        executor=SlowExecutor(0.0),
        probe=FakeProbe({"health_score": 80.0}),
        clock=FakeClock(datetime.fromisoformat(at)),
        workspace=workspace,
    )
    loop._host = attrs.evolve(loop._host, apply_hooks=Hooks(on_step=pause))
    loop.tick()


def race_tick_with_workspace(
    url: str, at: str, flags: dict[str, Any], workspace: str, barrier: Any, out: Any
) -> None:
    """Open the store with a workspace, wait for the others, run one cycle at `at`."""
    try:
        loop = sl.LearningLoop(
            url,
            flags=sl.Flags(**flags),
            executor=SlowExecutor(0.02),
            probe=FakeProbe({"health_score": 80.0}),
            clock=FakeClock(datetime.fromisoformat(at)),
            workspace=workspace,
        )
        with loop:
            barrier.wait(timeout=60)
            report = loop.tick()
        out.put(("ok", report.to_dict()))
    except BaseException as exc:  # report everything to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))
