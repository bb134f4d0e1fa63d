"""A cycle takes cached aggregates as they are: what another loop wrote is still seen.

Each test opens a second loop on the same store (on SQLite and PostgreSQL its own
application and cache, as another process would have) and changes what the first loop
holds in its cache; the first loop's next cycle must act on the change.
"""

from __future__ import annotations

from tests.conftest import BackendCase, Harness


class CachedCycleBehaviour(BackendCase):
    def test_an_override_from_another_loop_is_seen_next_cycle(self, h: Harness) -> None:
        """Controls cached by a cycle do not hide another loop's `disable`."""
        h.approved("first")
        assert 1 == h.loop.tick().executed
        h.approved("second")
        h.open().disable("executor", reason="incident")
        calls = len(h.executor.calls)
        assert 0 == h.loop.tick().executed
        assert calls == len(h.executor.calls)

    def test_a_rejection_from_another_loop_is_seen(self, h: Harness) -> None:
        """A proposal cached as approved but rejected elsewhere is not run."""
        pid = h.approved("rejected elsewhere")
        assert "approved" == h.loop.proposal(pid).status
        h.open().reject(pid, reason="not now")
        assert 0 == h.loop.tick().executed
        assert "rejected" == h.loop.proposal(pid).status
        assert [] == h.executor.calls

    def test_a_run_started_by_another_loop_is_not_run_again(self, h: Harness) -> None:
        """Another loop's run of a proposal this loop cached as approved is not repeated."""
        pid = h.approved("raced")  # saved by this loop: in its cache, approved
        assert 1 == h.open().tick().executed
        assert 0 == h.loop.tick().executed
        assert 1 == len(h.executor.calls)
        assert 1 == len(h.loop.proposal(pid).runs)


class TestCachedCycleMemory(CachedCycleBehaviour):
    backend = "memory"


class TestCachedCycleSQLite(CachedCycleBehaviour):
    backend = "sqlite"


class TestCachedCyclePostgres(CachedCycleBehaviour):
    backend = "postgres"
