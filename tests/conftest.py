"""Shared fixtures: hypothesis profiles, the three store backends, fakes of the host ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import attrs
import pytest
from hypothesis import HealthCheck, settings

import selflearn as sl
from selflearn.cycle.state import Cycle
from selflearn.demo import DemoResult, run_demo
from selflearn.events.proposal import Proposal
from selflearn.session import Session
from selflearn.store import SelflearnApplication
from selflearn.testing import FakeClock, FakeExecutor, FakeProbe

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

POSTGRES_URL = os.environ.get(
    "SELFLEARN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> str | None:
    """None when the test PostgreSQL answers, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (the 'postgres' extra)"
    from selflearn.store import StoreURL, postgres_conninfo

    try:
        with psycopg.connect(
            **{**postgres_conninfo(StoreURL.parse(POSTGRES_URL)), "connect_timeout": 3}
        ):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}"


_PG_PROBLEM: list[str | None] = []


def require_postgres() -> None:
    """Skip when PostgreSQL is truly absent on a developer machine; in CI, fail instead."""
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_postgres_reachable())
    problem = _PG_PROBLEM[0]
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI requires PostgreSQL: {problem}")
    pytest.skip(problem)


def chromium_binary() -> str:
    """The headless browser for the HTML status page's tests: skipped when Chromium is truly
    absent on a developer machine; in CI (which installs it), a failure instead."""
    found = os.environ.get("SELFLEARN_TEST_CHROMIUM") or next(
        filter(None, (shutil.which(name) for name in ("chromium", "chromium-browser"))), None
    )
    if found:
        return found
    problem = "Chromium is not installed (Debian: apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"CI requires Chromium: {problem}")
    pytest.skip(problem)


def postgres_schema_url(schema: str) -> str:
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}schema={schema}"


def drop_postgres_schema(schema: str) -> None:
    import psycopg

    from selflearn.store import StoreURL, postgres_conninfo

    with psycopg.connect(autocommit=True, **postgres_conninfo(StoreURL.parse(POSTGRES_URL))) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def store_url_for(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of `backend`: memory, sqlite or postgres (its own schema)."""
    if backend == "memory":
        yield "memory://"
    elif backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    elif backend == "postgres":
        require_postgres()
        schema = f"t_{uuid.uuid4().hex[:16]}"
        try:
            yield postgres_schema_url(schema)
        finally:
            drop_postgres_schema(schema)
    else:  # pragma: no cover
        raise ValueError(backend)


def session_of(loop: sl.LearningLoop) -> Session:
    """The loop's session: its store, cache, agenda and clock (for tests that look inside)."""
    return loop._session


def app_of(loop: sl.LearningLoop) -> SelflearnApplication:
    """The eventsourcing application of the loop's store."""
    return loop._session.app


def cycle_of(loop: sl.LearningLoop) -> Cycle:
    """A cycle of the loop, started now, for tests that run its steps one by one."""
    session = loop._session
    return Cycle(session=session, host=loop._host, at=session.now(), flags=loop._host.flags)


def set_host(loop: sl.LearningLoop, **changes: Any) -> None:
    """Give the loop other host settings (ports, real-apply hooks) from now on."""
    loop._host = attrs.evolve(loop._host, **changes)


def new_proposal(at: datetime, **fields: Any) -> Proposal:
    """A pending proposal aggregate, not saved (its `Proposed` event still to collect)."""
    values: dict[str, Any] = {
        "title": "t",
        "hypothesis": "",
        "plan_steps": [],
        "expected_impact": "",
        "risk_level": "low",
        "confidence": 0.5,
        "priority": 0.5,
        "signature": "sig",
        "metadata": {},
        "patches": [],
        "origin_event_ids": [],
        "status": "pending_approval",
        **fields,
    }
    return Proposal(id=uuid.uuid4(), at=at, **values)


class Harness:
    """A loop on a fresh store with fake ports and a fake clock; `reopen()` simulates a restart."""

    def __init__(self, url: str, **loop_kwargs: Any) -> None:
        self.url = url
        self.clock = FakeClock()
        self.probe = FakeProbe({"health_score": 80.0})
        self.executor = FakeExecutor(probe=self.probe)
        self.loops: list[sl.LearningLoop] = []
        self.loop_kwargs = loop_kwargs
        self.loop = self.open()

    def open(self, **overrides: Any) -> sl.LearningLoop:
        kwargs: dict[str, Any] = {
            "flags": sl.Flags(),
            "executor": self.executor,
            "probe": self.probe,
            "clock": self.clock,
            "seed": 7,
            **self.loop_kwargs,
            **overrides,
        }
        loop = sl.LearningLoop(self.url, **kwargs)
        if self.loops and self.url.startswith("memory"):
            # A memory store lives in its loop's application: share the first one.
            session_of(loop).share_store(session_of(self.loops[0]))
        self.loops.append(loop)
        return loop

    def reopen(self, **overrides: Any) -> sl.LearningLoop:
        """A new loop on the same store, as after a restart; it becomes `self.loop`."""
        self.loop = self.open(**overrides)
        return self.loop

    def close(self) -> None:
        for loop in self.loops:
            loop.close()

    # -- conveniences -------------------------------------------------------------------

    def propose(self, title: str = "Cache search results", **fields: Any) -> str:
        draft = {"priority": 0.95, "risk_level": "low", "confidence": 0.9, **fields}
        return self.loop.propose(sl.ProposalDraft(title=title, **draft))

    def approved(self, title: str = "Cache search results", **fields: Any) -> str:
        pid = self.propose(title, **fields)
        self.loop.approve(pid, reason="approved in a test")
        return pid

    def events(self, topic_suffix: str = "") -> list[Any]:
        """Every domain event in the log (optionally only those whose class name ends so)."""
        app = app_of(self.loop)
        out = []
        for n in app.recorder.select_notifications(start=None, limit=1_000_000):
            if n.topic.endswith(topic_suffix):
                out.append(app.mapper.to_domain_event(n))
        return out


@pytest.fixture
def harness_factory(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    stack = contextlib.ExitStack()
    made: list[Harness] = []

    def make(backend: str, **loop_kwargs: Any) -> Harness:
        url = stack.enter_context(store_url_for(backend, tmp_path / f"h{len(made)}"))
        harness = Harness(url, **loop_kwargs)
        made.append(harness)
        return harness

    with stack:
        yield make
        for harness in made:
            harness.close()


@attrs.frozen
class DemoRun:
    """The default demo run once: its narrative, its result, its store and report."""

    lines: list[str]
    result: DemoResult
    store: str
    html: Path


@pytest.fixture(scope="session")
def default_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """`selflearn demo` as `make demo` runs it (its default days and seed), on SQLite."""
    directory = tmp_path_factory.mktemp("demo")
    store = f"sqlite:///{directory / 'demo.db'}"
    html = directory / "demo.html"
    lines: list[str] = []
    result = run_demo(store=store, echo=lines.append, html=html)
    return DemoRun(lines=lines, result=result, store=store, html=html)


BACKENDS: Final = ("memory", "sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The store behind a behaviour's tests: each runs on memory, SQLite and PostgreSQL.

    A class that needs fewer narrows it with
    `@pytest.mark.parametrize("backend", [...], indirect=True)`.
    """
    return str(request.param)


class BackendCase:
    """Base of the per-behaviour test classes: `make()` and `h` on the `backend` fixture's store."""

    @pytest.fixture
    def make(self, harness_factory: Callable[..., Harness], backend: str) -> Callable[..., Harness]:
        def make(**loop_kwargs: Any) -> Harness:
            return harness_factory(backend, **loop_kwargs)

        return make

    @pytest.fixture
    def h(self, make: Callable[..., Harness]) -> Harness:
        return make()
