"""A cycle takes cached aggregates as they are: what another loop wrote is still seen.

Each test opens a second loop on the same store (on SQLite and PostgreSQL its own
application and cache, as another process would have) and changes what the first loop
holds in its cache; the first loop's next cycle must act on the change.
"""

from __future__ import annotations

import time

import selflearn as sl
from tests.conftest import BackendCase, Harness, session_of, set_host


class TestCachedCycle(BackendCase):
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

    def test_a_decision_after_slow_host_code_syncs_first(self, h: Harness) -> None:
        """Another loop's cycle during a slow execution: this cycle's next decisions (the
        run's verdict, credit to the policy, the self-check) see it instead of conflicting."""
        other = h.open()

        class Slow:
            def execute(self, proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
                time.sleep(0.02)  # host code: more than RESYNC_AFTER_HOST_SECONDS
                other.tick()  # writes the policy and the self-check meanwhile
                return sl.ExecutionResult()

        h.approved("slow")
        h.loop.tick()  # caches the policy and the self-check
        h.approved("slow again")
        loop = h.loop
        set_host(loop, executor=Slow())
        conflicts = 0
        forget = session_of(loop).forget

        def counting_forget() -> None:
            nonlocal conflicts
            conflicts += 1
            forget()

        session_of(loop).forget = counting_forget  # type: ignore[method-assign]
        h.clock.advance(seconds=600)
        assert 1 == loop.tick().executed
        assert 0 == conflicts
