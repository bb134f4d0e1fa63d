"""Processes sharing one store: the hourly limit holds and no proposal runs twice (SPEC §5)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import selflearn as sl
from selflearn.testing import FakeClock
from tests.conftest import store_url_for
from tests.workers import race_tick

BACKENDS = ["sqlite", "postgres"]


def run_processes(url: str, n: int, flags: dict[str, Any], at: str) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    out = ctx.Queue()
    procs = [ctx.Process(target=race_tick, args=(url, at, flags, barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r for r in results if r[0] != "ok"]
    assert [] == errors
    return [r[1] for r in results]


def events(url: str, suffix: str) -> list[Any]:
    with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock()) as loop:
        app = loop.app
        return [
            app.mapper.to_domain_event(n)
            for n in app.recorder.select_notifications(start=None, limit=1_000_000)
            if n.topic.endswith(suffix)
        ]


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
                    pid = setup.propose(
                        sl.ProposalDraft(title=title, priority=0.95, risk_level="low")
                    )
                    setup.approve(pid, reason="race")
            run_processes(url, 2, flags, clock().isoformat())
            started = events(url, "Proposal.RunStarted")
            per_proposal = Counter(str(e.originator_id) for e in started)
            assert [1, 1] == sorted(per_proposal.values()), f"round {round_}"
            assert ["canary_allowed", "hourly_quota_exceeded"] == sorted(
                e.mode_reason for e in started
            )
            assert 1 == len(events(url, "Guardrail.Admitted"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_opening_a_fresh_store_at_once(backend: str, tmp_path: Path) -> None:
    """Four processes opening a fresh store at the same moment all succeed."""
    for round_ in range(3):
        with store_url_for(backend, tmp_path / f"o{round_}") as url:
            reports = run_processes(url, 4, {}, FakeClock()().isoformat())
            assert 4 == len(reports)
            assert 1 == len(events(url, "Controls.FlagsRecorded"))
