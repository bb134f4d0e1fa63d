"""Functions run in child processes by the multi-process tests (spawned: importable by name)."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta
from typing import Any

import selflearn as sl
from selflearn.testing import FakeClock, FakeProbe


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


def race_status(url: str, barrier: Any, out: Any) -> None:
    """Open the store, wait for the others, read the status (its views made on first use)."""
    try:
        with sl.LearningLoop(url, flags=sl.Flags(selflearn_v1_store="")) as loop:
            barrier.wait(timeout=60)
            report = loop.status()
        out.put(("ok", report.store.events_recorded))
    except BaseException as exc:  # report everything to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))


class CountingApp:
    """Counts the events a process saved, by wrapping its session's `save`."""

    def __init__(self, loop: sl.LearningLoop) -> None:
        self.saved = 0
        real = loop._session.save

        def save(*objs: Any, **kwargs: Any) -> Any:
            recordings = real(*objs, **kwargs)
            self.saved += len(recordings)
            return recordings

        loop._session.save = save  # type: ignore[method-assign]


def shared_clock(epoch: str, t0: float, speed: float) -> Any:
    """A clock every process shares: domain time runs `speed` times faster than wall time."""
    start = datetime.fromisoformat(epoch)

    def now() -> datetime:
        return start + timedelta(seconds=(time.time() - t0) * speed)

    return now


def cycling_worker(
    url: str, index: int, cycles: int, epoch: str, t0: float, speed: float, out: Any
) -> None:
    """Cycle `cycles` times with random host activity; report what this process did."""
    import random

    try:
        rng = random.Random(index)
        probe = FakeProbe({"health_score": 80.0}, noise=0.0)
        calls: list[tuple[str, str]] = []
        effects = [{"health_score": 2.0}, {"health_score": -3.0}, {}, {}]

        class Host:
            def execute(self, proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
                calls.append((proposal.id, mode))
                time.sleep(rng.uniform(0.0, 0.003))
                probe.metrics["health_score"] = 80.0 + rng.choice(effects).get("health_score", 0.0)
                return sl.ExecutionResult()

        flags = sl.Flags(
            execution_mode_default="normal",
            normal_mode_max_per_hour=2,
            normal_mode_cooldown_seconds=600,
            verification_retry_interval_seconds=60,
            execution_lease_seconds=300,
        )
        loop = sl.LearningLoop(
            url,
            flags=flags,
            executor=Host(),
            probe=probe,
            clock=shared_clock(epoch, t0, speed),
            seed=index,
        )
        counter = CountingApp(loop)
        with loop:
            for n in range(cycles):
                if rng.random() < 0.3:
                    loop.record_event(
                        "tool_monitor",
                        "tool_timeout",
                        f"p{index} c{n}",
                        novelty=rng.uniform(0.5, 1),
                        value=rng.uniform(0.5, 1),
                        risk=rng.uniform(0, 0.5),
                        confidence=rng.uniform(0.5, 1),
                    )
                if rng.random() < 0.2:
                    pid = loop.propose(
                        sl.ProposalDraft(
                            title=f"p{index} draft {n}",
                            priority=rng.choice([0.85, 0.92, 0.97]),
                            risk_level=rng.choice(["low", "low", "medium"]),
                        )
                    )
                    # Another process's cycle may have auto-approved it first.
                    with contextlib.suppress(sl.IllegalTransition):
                        loop.approve(pid, reason="worker approval")
                loop.tick()
        out.put(("ok", {"saved": counter.saved, "calls": calls}))
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def killable_worker(url: str, epoch: str, t0: float, speed: float, progress: str) -> None:
    """Cycle until killed; after every save, append its notification ids to `progress`,
    and mark each host call, so the killer can tell where the process died."""
    import os
    import random

    rng = random.Random(os.getpid())
    with open(progress, "a", buffering=1) as log:

        def mark(text: str) -> None:
            log.write(text + "\n")
            log.flush()

        class Host:
            def execute(self, proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
                mark("host executor")
                time.sleep(rng.uniform(0.005, 0.04))
                mark("between saves")
                return sl.ExecutionResult()

            def measure(self, proposal: sl.ProposalView) -> dict[str, float]:
                mark("host probe")
                time.sleep(rng.uniform(0.001, 0.01))
                mark("between saves")
                return {"health_score": 80.0 + rng.choice([0.0, 0.0, 2.0, -3.0])}

        flags = sl.Flags(
            execution_mode_default="normal",
            normal_mode_max_per_hour=2,
            execution_lease_seconds=300,
            verification_retry_interval_seconds=60,
        )
        loop = sl.LearningLoop(
            url, flags=flags, executor=Host(), probe=Host(), clock=shared_clock(epoch, t0, speed)
        )
        real = loop._session.save

        def save(*objs: Any, **kwargs: Any) -> Any:
            mark("in a save")
            recordings = real(*objs, **kwargs)
            mark("saved " + " ".join(str(r.notification.id) for r in recordings))
            mark("between saves")
            return recordings

        loop._session.save = save  # type: ignore[method-assign]
        n = 0
        while True:
            n += 1
            pid = loop.propose(
                sl.ProposalDraft(title=f"{os.getpid()} {n}", priority=0.95, risk_level="low")
            )
            with contextlib.suppress(sl.IllegalTransition):
                loop.approve(pid, reason="killable worker")
            loop.tick()
