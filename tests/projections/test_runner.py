"""Views built a page at a time, with interruptions, equal views rebuilt and the replay to now."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import selflearn as sl
from selflearn.exceptions import IllegalTransition
from selflearn.projections import VIEW_NAMES, VIEWS
from selflearn.projections.runner import catch_up, rebuild, replay
from selflearn.projections.viewstore import MemoryViewStore
from selflearn.values import to_plain
from tests import strategies
from tests.conftest import Harness, app_of, session_of, store_url_for

FLAGS = sl.Flags(execution_mode_default="normal", normal_mode_max_per_hour=2)


def drive(h: Harness, history: Sequence[tuple[Any, ...]]) -> None:
    """Play `history` on the harness's loop; operator mistakes are simply refused."""
    loop, proposals = h.loop, []
    for step in history:
        kind, args = step[0], step[1:]
        if kind == "record":
            source, n, novelty, value, risk, confidence = args
            loop.record_event(
                source,
                "timeout",
                f"signal {n}",
                novelty=novelty,
                value=value,
                risk=risk,
                confidence=confidence,
            )
        elif kind == "propose":
            priority, risk, title = args
            draft = sl.ProposalDraft(title=title, priority=priority, risk_level=risk)
            proposals.append(loop.propose(draft))
        elif kind in ("approve", "reject") and proposals:
            pid = proposals[args[0] % len(proposals)]
            try:
                if kind == "approve":
                    loop.approve(pid)
                else:
                    loop.reject(pid, reason="operator says no")
            except IllegalTransition:
                pass
        elif kind == "tick":
            loop.tick()
        elif kind == "advance":
            h.clock.advance(seconds=args[0])
        elif kind == "metrics":
            h.probe.metrics["health_score"] += args[0]
        elif kind == "override":
            capability, off = args
            (loop.disable if off else loop.enable)(capability, reason="property test")
        elif kind == "catch_up":
            page_size, max_pages = args
            catch_up(
                app_of(loop),
                session_of(loop).views(),
                VIEWS,
                page_size=page_size,
                max_pages=max_pages,
            )


def check_views_agree(h: Harness, page_size: int) -> None:
    app = app_of(h.loop)
    incremental = catch_up(app, session_of(h.loop).views(), VIEWS, page_size=page_size)
    scratch = rebuild(app, MemoryViewStore(), VIEWS)
    replayed = replay(app, VIEWS, until=h.clock())
    last = app.recorder.max_notification_id() or 0
    for folded in (incremental, scratch, replayed):
        assert {last} == set(folded.positions.values()) or (last == 0 and not folded.processed)
    for name in VIEW_NAMES:
        assert to_plain(scratch.states[name]) == to_plain(incremental.states[name]), name
        assert to_plain(scratch.states[name]) == to_plain(replayed.states[name]), name
    live, as_of = h.loop.status().to_dict(), h.loop.status(as_of=h.clock()).to_dict()
    assert {k: live[k] for k in VIEW_NAMES} == {k: as_of[k] for k in VIEW_NAMES}
    assert live["store"]["events_recorded"] == as_of["store"]["events_recorded"]


def new_harness(backend: str, directory: Path) -> Callable[[], Harness]:
    def make() -> Harness:
        h = Harness(url, flags=FLAGS)
        h.executor.success_probability["flaky"] = 0.5
        return h

    url = f"sqlite:///{directory / 'store.db'}" if backend == "sqlite" else "memory://"
    return make


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=strategies.histories, page_size=strategies.page_sizes)
def test_incremental_views_equal_rebuilt_and_replayed_memory(
    history: list[tuple[Any, ...]], page_size: int
) -> None:
    """Memory store: for any history, incremental = rebuilt from scratch = replay to now."""
    h = Harness("memory://", flags=FLAGS)
    h.executor.success_probability["flaky"] = 0.5
    try:
        drive(h, history)
        check_views_agree(h, page_size)
    finally:
        h.close()


@pytest.mark.slow
@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=strategies.histories, page_size=strategies.page_sizes, data=st.data())
def test_incremental_views_equal_rebuilt_and_replayed_sqlite(
    tmp_path_factory: pytest.TempPathFactory,
    history: list[tuple[Any, ...]],
    page_size: int,
    data: st.DataObject,
) -> None:
    """SQLite store: the same property, with the views stored in the store's file."""
    with store_url_for("sqlite", tmp_path_factory.mktemp("prop")) as url:
        h = Harness(url, flags=FLAGS)
        h.executor.success_probability["flaky"] = 0.5
        try:
            drive(h, history)
            check_views_agree(h, page_size)
        finally:
            h.close()
