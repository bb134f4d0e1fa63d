"""Processes sharing one store: the guardrails hold, nothing runs twice, nothing is lost."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import selflearn as sl
from selflearn.testing import FakeClock, check_history
from tests.conftest import app_of, store_url_for
from tests.workers import cycling_worker, race_status, race_tick

BACKENDS = ["sqlite", "postgres"]


def spawn(target: Any, argsets: list[tuple[Any, ...]], barrier_parties: int = 0) -> list[Any]:
    """Run `target` in one spawned process per argument tuple; return what each reported."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    extra: tuple[Any, ...] = (ctx.Barrier(barrier_parties),) if barrier_parties else ()
    procs = [ctx.Process(target=target, args=(*args, *extra, out)) for args in argsets]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [] == [r for r in results if r[0] != "ok"]
    return [r[1] for r in results]


def history(url: str) -> list[tuple[int, Any]]:
    with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock()) as loop:
        app = app_of(loop)
        return [
            (n.id, app.mapper.to_domain_event(n))
            for n in app.recorder.select_notifications(start=None, limit=10_000_000)
        ]


def of_kind(events: list[tuple[int, Any]], name: str) -> list[Any]:
    return [e for _, e in events if type(e).__qualname__ == name]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_race_for_one_normal_slot(backend: str, tmp_path: Path) -> None:
    """Two processes, cycles lined up: one normal admission, one quota refusal, no double run."""
    flags = {"execution_mode_default": "normal", "enable_policy_bandit": False}
    for round_ in range(4):
        with store_url_for(backend, tmp_path / f"r{round_}") as url:
            clock = FakeClock()
            with sl.LearningLoop(url, flags=sl.Flags(**flags), clock=clock) as setup:
                for title in ("first", "second"):
                    draft = sl.ProposalDraft(title=title, priority=0.95, risk_level="low")
                    setup.approve(setup.propose(draft), reason="race")
            at = clock().isoformat()
            spawn(race_tick, [(url, at, flags), (url, at, flags)], barrier_parties=2)
            events = history(url)
            started = of_kind(events, "Proposal.RunStarted")
            per_proposal = Counter(str(e.originator_id) for e in started)
            assert [1, 1] == sorted(per_proposal.values()), f"round {round_}"
            assert ["canary_allowed", "hourly_quota_exceeded"] == sorted(
                e.mode_reason for e in started
            )
            assert 1 == len(of_kind(events, "Guardrail.Admitted"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_opening_a_fresh_store_at_once(backend: str, tmp_path: Path) -> None:
    """Four processes opening a fresh store at the same moment all succeed."""
    for round_ in range(3):
        with store_url_for(backend, tmp_path / f"o{round_}") as url:
            at = FakeClock()().isoformat()
            reports = spawn(race_tick, [(url, at, {})] * 4, barrier_parties=4)
            assert 4 == len(reports)
            assert 1 == len(of_kind(history(url), "Controls.FlagsRecorded"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_reading_the_status_of_a_fresh_store_at_once(
    backend: str, tmp_path: Path
) -> None:
    """Six processes asking a fresh store for its status at once all get it: the view tables
    are made once, whoever comes first."""
    for round_ in range(4):
        with store_url_for(backend, tmp_path / f"s{round_}") as url:
            assert [0] * 6 == spawn(race_status, [(url,)] * 6, barrier_parties=6)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("processes", "cycles"), [(2, 150), (4, 100)])
def test_processes_cycling_on_one_store(
    backend: str, processes: int, cycles: int, tmp_path: Path
) -> None:
    """N processes cycling on one store with a shared accelerated clock: the invariants hold
    over the merged history, no run is started twice or executed twice, no event is lost."""
    with store_url_for(backend, tmp_path / "c") as url:
        with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock()) as setup:
            setup.tick()
            before = app_of(setup).recorder.max_notification_id() or 0
            before_count = len(history(url))
        epoch, t0 = FakeClock()().isoformat(), time.time()
        argsets = [(url, i, cycles, epoch, t0, 1800.0) for i in range(processes)]
        reports = spawn(cycling_worker, argsets)
        events = history(url)
        assert [] == [str(v) for v in check_history(events)]
        started = of_kind(events, "Proposal.RunStarted")
        assert len(started) == len({e.run_id for e in started})
        assert len(started) > processes * 3, "the processes should have run proposals"
        executed = of_kind(events, "Proposal.RunExecuted")
        late = [e for e in of_kind(events, "Proposal.LateResultIgnored") if e.stage == "execution"]
        calls = [call for report in reports for call in report["calls"]]
        failed_in_host = [
            e for e in of_kind(events, "Proposal.RunFailed") if e.reason.startswith("executor")
        ]
        assert len(calls) == len(executed) + len(late) + len(failed_in_host)
        saved = sum(report["saved"] for report in reports)
        assert before_count + saved == len(events)
        assert before < events[-1][0]
