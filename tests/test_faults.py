"""Faults: a locked SQLite file, PostgreSQL unreachable mid-cycle, processes killed mid-cycle."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import selflearn as sl
from selflearn.testing import FakeClock, FakeExecutor, FakeProbe, check_invariants
from tests.conftest import (
    POSTGRES_URL,
    app_of,
    drop_postgres_schema,
    require_postgres,
)
from tests.proxy import Proxy


def hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another process-like writer that holds the SQLite write lock for `seconds`."""
    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    ready.wait(5)
    return thread


def test_locked_database_fails_with_a_clear_error(tmp_path: Path) -> None:
    """A SQLite file locked beyond the bounded retries gives a StoreError saying so."""
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}?lock_timeout=1"
    with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock()) as loop:
        loop.tick()
        before = app_of(loop).recorder.max_notification_id()
        holder = hold_write_lock(path, 5.0)
        started = time.monotonic()
        with pytest.raises(sl.StoreError, match="stayed locked"):
            loop.record_event("tool", "timeout", "x", novelty=1, value=1, risk=0, confidence=1)
        assert time.monotonic() - started < 4.5
        holder.join()
        assert before == app_of(loop).recorder.max_notification_id()
        assert loop.record_event("tool", "timeout", "x", novelty=1, value=1, risk=0, confidence=1)


def test_contention_within_the_retries_succeeds(tmp_path: Path) -> None:
    """A lock released within the bounded retries is waited out; the write succeeds once."""
    path = tmp_path / "store.db"
    url = f"sqlite:///{path}?lock_timeout=1"
    with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock()) as loop:
        loop.tick()
        holder = hold_write_lock(path, 1.5)
        eid = loop.record_event("tool", "timeout", "x", novelty=1, value=1, risk=0, confidence=1)
        holder.join()
        assert eid is not None
        observed = [
            n
            for n in app_of(loop).recorder.select_notifications(start=None, limit=100)
            if n.topic.endswith("LearningSignal.Observed")
        ]
        assert 1 == len(observed)


@pytest.mark.slow
def test_postgres_unreachable_mid_cycle(tmp_path: Path) -> None:
    """PostgreSQL gone mid-cycle: the cycle fails with StoreError, the next succeeds, and the
    interrupted run is reconciled after its lease; no decision is half-recorded."""
    require_postgres()
    from selflearn.store import StoreURL

    target = StoreURL.parse(POSTGRES_URL)
    proxy = Proxy(target.host, target.port)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    auth = f"{target.user}:{target.password}@" if target.password else f"{target.user}@"
    url = f"postgresql://{auth}127.0.0.1:{proxy.port}/{target.dbname}?schema={schema}&connect_timeout=1"
    clock = FakeClock()
    probe = FakeProbe({"health_score": 80.0})

    def cut_during(proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
        proxy.cut()
        return sl.ExecutionResult()

    executor = FakeExecutor(probe=probe, default=cut_during)
    try:
        with sl.LearningLoop(
            url, flags=sl.Flags(), executor=executor, probe=probe, clock=clock
        ) as loop:
            pid = loop.propose(sl.ProposalDraft(title="t", priority=0.95, risk_level="low"))
            loop.approve(pid, reason="fault test")
            with pytest.raises(sl.StoreError, match=r"127\.0\.0\.1"):
                loop.tick()
            proxy.restore()
            executor.default = sl.ExecutionResult()
            clock.advance(seconds=901)
            report = loop.tick()
            assert report.interrupted == 1
            kinds = Counter(type(e).__qualname__ for e in _events(loop))
            assert kinds["Proposal.RunStarted"] == 2
            assert kinds["Proposal.RunExecuted"] == 1
            assert [] == check_invariants(loop)
    finally:
        proxy.close()
        drop_postgres_schema(schema)


def _events(loop: sl.LearningLoop) -> list[Any]:
    app = app_of(loop)
    return [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=None, limit=100_000)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_at_random_points_of_a_cycle(backend: str, tmp_path: Path) -> None:
    """A process killed with SIGKILL anywhere in a cycle loses nothing it saved, duplicates
    nothing, and the next process reconciles what it left open."""
    import multiprocessing
    import os
    import random
    import signal

    from tests.conftest import store_url_for
    from tests.workers import killable_worker, shared_clock

    rng = random.Random(1234)
    ctx = multiprocessing.get_context("spawn")
    points: Counter[str] = Counter()
    with store_url_for(backend, tmp_path / "k") as url:
        epoch, t0, speed = FakeClock()().isoformat(), time.time(), 1800.0
        progress = tmp_path / "progress.log"
        for _ in range(8):
            progress.write_text("")
            child = ctx.Process(target=killable_worker, args=(url, epoch, t0, speed, str(progress)))
            child.start()
            deadline = time.monotonic() + 60
            while "saved" not in progress.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.05, 0.8))
            os.kill(child.pid or 0, signal.SIGKILL)
            child.join(10)
            lines = progress.read_text().splitlines()
            points[lines[-1].split(" ")[0] if lines[-1].startswith("saved") else lines[-1]] += 1
            saved = {int(i) for line in lines if line.startswith("saved") for i in line.split()[1:]}
            time.sleep(300 / speed + 0.2)  # the killed process's lease runs out
            with sl.LearningLoop(
                url,
                flags=sl.Flags(
                    execution_mode_default="normal",
                    normal_mode_max_per_hour=2,
                    execution_lease_seconds=300,
                ),
                executor=FakeExecutor(),
                probe=FakeProbe(),
                clock=shared_clock(epoch, t0, speed),
            ) as survivor:
                survivor.tick()
                positions = {
                    n.id
                    for n in app_of(survivor).recorder.select_notifications(
                        start=None, limit=10_000_000
                    )
                }
                assert saved <= positions, "an event the killed process saved is missing"
                events = _events(survivor)
                open_runs = _open_runs(events)
                assert [] == open_runs, "the survivor left a dead process's run open"
                assert [] == [str(v) for v in check_invariants(survivor)]
                started = [e for e in events if type(e).__qualname__ == "Proposal.RunStarted"]
                assert len(started) == len({e.run_id for e in started})
    assert sum(points.values()) == 8
    # Where the kills landed, for the record: host calls, saves, between saves.
    print("kill points:", dict(points))


def _open_runs(events: list[Any]) -> list[str]:
    """Runs started and neither executed nor closed, whose lease has run out by now."""
    open_runs: dict[str, Any] = {}
    for e in events:
        name = type(e).__qualname__
        if name == "Proposal.RunStarted":
            open_runs[e.run_id] = e
        elif name in ("Proposal.RunExecuted", "Proposal.RunFailed"):
            open_runs.pop(e.run_id, None)
    return sorted(open_runs)
