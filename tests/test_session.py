"""The session: the clock, store errors, the save-with-retry policy, and its books."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

import selflearn as sl
from selflearn.cycle.proposals import create_proposal
from selflearn.events.controls import CONTROLS_ID, Controls
from selflearn.session import SAVE_ATTEMPTS, Session
from selflearn.store import StoreURL
from selflearn.testing import FakeClock


@pytest.fixture
def session() -> Any:
    with Session.open("memory://", clock=FakeClock()) as opened:
        yield opened


def test_now_is_aware_utc() -> None:
    """The injected clock's time, in UTC whatever its zone."""
    local = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    with Session.open("memory://", clock=lambda: local) as session:
        assert datetime(2026, 1, 1, 10, tzinfo=UTC) == session.now()
        assert UTC == session.now().tzinfo


@pytest.mark.parametrize("bad", [datetime(2026, 1, 1), "2026-01-01", None])
def test_a_bad_clock_is_a_config_error(bad: object) -> None:
    """A clock that returns a naive time or no time at all is named in a ConfigError."""
    with (
        Session.open("memory://", clock=lambda: bad) as session,  # type: ignore[arg-type,return-value]
        pytest.raises(sl.ConfigError, match="the clock returned"),
    ):
        session.now()


def test_store_errors_name_the_redacted_store(session: Session) -> None:
    """A store's own error becomes a StoreError naming the store without its password."""
    url = StoreURL.parse("postgresql://me:secret@db.example:5432/prod")
    named = Session(session.app, url, session.clock)
    with pytest.raises(sl.StoreError) as caught, named.store_errors():
        raise OperationalError("connection refused")
    assert "store postgresql://me:***@db.example:5432/prod: connection refused" == str(caught.value)
    assert isinstance(caught.value.__cause__, OperationalError)


def test_a_conflict_is_decided_again_on_fresh_state(session: Session) -> None:
    """After an optimistic-concurrency conflict the cache is dropped and the attempt runs
    again; what the failed attempt changed unsaved is not seen by the next one."""
    at = session.now()
    session.save(Controls(id=CONTROLS_ID, at=at))
    seen: list[int] = []

    def attempt() -> None:
        controls = session.controls(at)
        seen.append(len(controls.disabled))
        controls.disable(at=at, capability="executor", reason="attempt")
        if len(seen) == 1:
            raise IntegrityError("another writer saved first")
        session.save(controls)

    session.retry(attempt, what="disable the executor")
    assert [0, 0] == seen
    assert {"executor"} == set(session.controls(at).disabled)


def test_conflicts_without_end_are_a_store_error(session: Session) -> None:
    """A decision that conflicts every time gives up after SAVE_ATTEMPTS, naming itself."""
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise IntegrityError("conflict")

    with pytest.raises(sl.StoreError, match="could not decide the test after 30 attempts"):
        session.retry(attempt, what="decide the test")
    assert SAVE_ATTEMPTS == len(calls)


def test_a_locked_database_is_waited_out_a_bounded_number_of_times(session: Session) -> None:
    """SQLite's "database is locked" is retried twice, then a StoreError says so."""
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise OperationalError("database is locked")

    with pytest.raises(sl.StoreError, match="stayed locked through 3 waits"):
        session.retry(attempt, what="decide the test")
    assert 3 == len(calls)


def test_other_errors_propagate_at_once(session: Session) -> None:
    """An error that is neither a conflict nor a lock is not retried."""
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise OperationalError("disk I/O error")

    with pytest.raises(OperationalError):
        session.retry(attempt, what="decide the test")
    assert 1 == len(calls)


def test_a_save_keeps_the_saved_aggregate_in_the_cache(session: Session) -> None:
    """The aggregate just saved is what a trusted load returns, without reading the store."""
    controls = Controls(id=CONTROLS_ID, at=session.now())
    session.save(controls)
    with session.trusting_cache():
        assert controls is session.load(CONTROLS_ID, Controls)


def test_catch_up_folds_the_sessions_own_saves(session: Session) -> None:
    """Saves of this session that follow the agenda are folded without reading the log;
    a save by another session in between makes `catch_up` read the log instead."""
    session.sync()
    draft = sl.ProposalDraft(title="t", priority=0.5, risk_level="low")

    reads: list[int] = []
    select = session.app.recorder.select_notifications

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return select(*args, **kwargs)

    session.app.recorder.select_notifications = counting  # type: ignore[method-assign]
    first = "00000000-0000-4000-8000-000000000001"
    assert create_proposal(session, first, draft, origin_event_ids=[], at=session.now())
    session.catch_up()
    assert ([], [first]) == (reads, list(session.agenda.proposal_ids()))
    other = Session(session.app, session.url, session.clock)
    second = "00000000-0000-4000-8000-000000000002"
    assert create_proposal(other, second, draft, origin_event_ids=[], at=session.now())
    third = "00000000-0000-4000-8000-000000000003"
    assert create_proposal(session, third, draft, origin_event_ids=[], at=session.now())
    session.catch_up()
    assert reads
    assert [first, second, third] == list(session.agenda.proposal_ids())
