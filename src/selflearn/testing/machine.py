"""A hypothesis state machine that drives a `LearningLoop` and checks its guardrails.

Hosts subclass `LearningLoopMachine` to run it with their own ports:

    class MyMachine(LearningLoopMachine):
        def make_ports(self):
            return {"executor": MyExecutor(), "probe": MyProbe()}

    TestMyLoop = MyMachine.TestCase

After every step, every invariant is checked over the whole recorded history.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from selflearn.audit.invariants import aggregate_ids, check_history, replay_mismatches
from selflearn.config import CAPABILITIES, Flags, RiskLevel
from selflearn.exceptions import IllegalTransition, NotFound
from selflearn.loop import LearningLoop
from selflearn.ports import ExecutionResult, FileEdit, ProposalDraft
from selflearn.projections import VIEWS
from selflearn.projections.runner import catch_up, replay
from selflearn.testing.fakes import FakeClock, FakeExecutor, FakeProbe
from selflearn.values import to_plain


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


class SimulatedCrash(BaseException):
    """Raised inside a host call to simulate the process dying in the middle of a cycle."""


EFFECTS = {
    "helps": {"health_score": 2.0},
    "hurts": {"health_score": -2.5},
    "nothing": {},
    "slowly_helps": {"health_score": 0.4},
}

# Normal mode needs priority ≥ the minimum (0.9 by default): draw near the thresholds often.
PRIORITIES = st.one_of(
    st.sampled_from([0.5, 0.62, 0.82, 0.86, 0.9, 0.95, 1.0]), st.floats(0.0, 1.0)
)

FLAG_CHOICES: dict[str, st.SearchStrategy[Any]] = {
    "enable_experiment_executor": st.booleans(),
    "execution_mode_default": st.sampled_from(["safe", "normal"]),
    "executor_canary_percent": st.sampled_from([0, 50, 100]),
    "enable_policy_bandit": st.booleans(),
    "enable_windowed_self_check": st.booleans(),
    "enable_synthetic_opportunities": st.booleans(),
    "verification_retry_interval_seconds": st.sampled_from([60, 300]),
    "verification_retry_max_attempts": st.integers(1, 4),
    "enable_normal_mode_canary": st.booleans(),
    "normal_mode_max_per_hour": st.integers(0, 3),
    "normal_mode_min_priority": st.sampled_from([0.5, 0.9]),
    "normal_mode_allowed_risk": st.sampled_from(
        [frozenset({"low"}), frozenset({"low", "medium"}), frozenset({"low", "medium", "high"})]
    ),
    "normal_mode_cooldown_seconds": st.sampled_from([0, 600, 1800]),
    "execution_lease_seconds": st.sampled_from([60, 900]),
    "enable_executor_real_apply": st.booleans(),
    "executor_real_apply_max_patches": st.integers(0, 2),
}

CONFIG = "conf/app.ini"
NOTES = "NOTES.md"


class LearningLoopMachine(RuleBasedStateMachine):
    """Random operators, hosts and clocks against one store; the invariants after each step.

    Override `store_url`, `make_ports` or `base_flags` to run it against your own store,
    executor and probe. `store_url` is called once per run; a temporary directory is in
    `self.workdir`.
    """

    proposals = Bundle("proposals")

    def __init__(self) -> None:
        super().__init__()
        self.workdir = tempfile.mkdtemp(prefix="selflearn-machine-")
        self.workspace = Path(self.workdir) / "workspace"
        (self.workspace / "conf").mkdir(parents=True)
        (self.workspace / CONFIG).write_text("workers=2\n")
        (self.workspace / NOTES).write_text("notes\n")
        self.clock = FakeClock()
        self.flags = self.base_flags()
        self.url = self.store_url()
        self.ports = self.make_ports()
        self.loops: list[LearningLoop] = []
        self.loop = self.open_loop()
        self.recorded: list[tuple[int, Any]] = []
        self.replayed_up_to = 0

    # -- hooks for hosts ----------------------------------------------------------------------

    def store_url(self) -> str:
        """The store each run uses (default: a fresh SQLite file in `self.workdir`)."""
        return "memory://"

    def make_ports(self) -> dict[str, Any]:
        """The host ports: `executor` and `probe` (and optionally `verifier`, `proposer`)."""
        probe = FakeProbe({"health_score": 80.0, "total_errors": 3.0})
        return {"probe": probe, "executor": FakeExecutor(probe=probe)}

    def base_flags(self) -> Flags:
        """The flags of the first loop; flag flips change them from there."""
        return Flags(
            execution_mode_default="normal",
            normal_mode_max_per_hour=2,
            enable_executor_real_apply=True,
        )

    # -- plumbing -------------------------------------------------------------------------------

    def open_loop(self) -> LearningLoop:
        loop = LearningLoop(
            self.url,
            flags=self.flags,
            clock=self.clock,
            seed=11,
            workspace=self.workspace,
            **self.ports,
        )
        if self.loops and self.url.startswith("memory"):
            loop._session.share_store(self.loops[0]._session)
        self.loops.append(loop)
        return loop

    def teardown(self) -> None:
        for loop in self.loops:
            loop.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def history(self) -> list[tuple[int, Any]]:
        """The whole log so far (read incrementally: only new events are decoded)."""
        app = self.loop._session.app
        start = self.recorded[-1][0] if self.recorded else 0
        for n in app.recorder.select_notifications(
            start=start, limit=10_000_000, inclusive_of_start=False
        ):
            self.recorded.append((n.id, app.mapper.to_domain_event(n)))
        return self.recorded

    # -- rules ----------------------------------------------------------------------------------

    @initialize(
        target=proposals,
        priority=st.sampled_from([0.62, 0.9, 0.95, 1.0]),
        risk=st.sampled_from(["low", "low", "low", "medium"]),
        effect=st.sampled_from(sorted(EFFECTS)),
        approve=st.just(True),
        patched=st.sampled_from([0, 1, 2]),
    )
    def first_proposal(
        self, priority: float, risk: RiskLevel, effect: str, approve: bool, patched: int
    ) -> str:
        """Every run starts with an approved proposal, so there is work from the first tick."""
        return self.new_proposal(priority, risk, effect, approve, patched)

    @initialize(
        target=proposals,
        priority=st.sampled_from([0.9, 0.95]),
        effect=st.sampled_from(["hurts", "hurts", "helps", "nothing"]),
        patched=st.sampled_from([0, 1]),
    )
    def second_proposal(self, priority: float, effect: str, patched: int) -> str:
        """A second eligible proposal, often a harmful one: losses, cooldowns, rollbacks."""
        return self.new_proposal(priority, "low", effect, True, patched)

    @rule(
        target=proposals,
        priority=PRIORITIES,
        risk=st.sampled_from(["low", "low", "medium", "high"]),
        effect=st.sampled_from(sorted(EFFECTS)),
        approve=st.sampled_from([True, True, False]),
        patched=st.sampled_from([0, 1, 1, 2]),
    )
    def propose(
        self, priority: float, risk: RiskLevel, effect: str, approve: bool, patched: int
    ) -> str:
        return self.new_proposal(priority, risk, effect, approve, patched)

    def new_proposal(
        self, priority: float, risk: RiskLevel, effect: str, approve: bool, patched: int
    ) -> str:
        """A host's proposal, which may patch the workspace's files (as they are now)."""
        n = len(self.ports["executor"].effects)
        title = f"{effect} change {n}"
        patches = [
            FileEdit(path, _sha256(self.workspace / path), f"{path} v{n}\n")
            for path in (CONFIG, NOTES)[:patched]
        ]
        pid = self.loop.propose(
            ProposalDraft(
                title=title,
                priority=priority,
                risk_level=risk,
                confidence=0.8,
                patches=tuple(patches),
            )
        )
        self.ports["executor"].effects[pid] = EFFECTS[effect]
        if approve:
            self.loop.approve(pid, reason="approved on creation in the machine")
        return pid

    @rule(
        kind=st.sampled_from(["tool_timeout", "cache_miss", "retry_storm"]),
        source=st.sampled_from(["tool_monitor", "unit_test", "profiler"]),
        strength=st.floats(0.0, 1.0),
        risk=st.floats(0.0, 1.0),
    )
    def record_event(self, kind: str, source: str, strength: float, risk: float) -> None:
        self.loop.record_event(
            source,
            kind,
            f"{kind} at {self.clock():%H:%M}",
            novelty=strength,
            value=strength,
            risk=risk,
            confidence=strength,
        )

    @rule(pid=proposals)
    def approve(self, pid: str) -> None:
        with contextlib.suppress(IllegalTransition):  # the proposal may have moved on
            self.loop.approve(pid, reason="operator approval in the machine")

    @rule(pid=proposals)
    def reject(self, pid: str) -> None:
        with contextlib.suppress(IllegalTransition):
            self.loop.reject(pid, reason="operator rejection in the machine")

    @rule()
    def tick(self) -> None:
        self.loop.tick()

    @rule(seconds=st.sampled_from([60, 300, 900, 1800]))
    def tick_then_wait(self, seconds: int) -> None:
        """The common rhythm of a host: a cycle, then some time passes."""
        self.loop.tick()
        self.clock.advance(timedelta(seconds=seconds))

    @rule(seconds=st.sampled_from([1, 59, 60, 299, 300, 600, 1799, 1800, 3599, 3600, 7200]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    @rule(
        metric=st.sampled_from(["health_score", "total_errors"]),
        change=st.sampled_from([-3.0, -1.0, 0.5, 2.0]),
    )
    def drift(self, metric: str, change: float) -> None:
        """The host's world changes on its own (a recheck may see it)."""
        self.ports["probe"].metrics[metric] += change

    @rule(data=st.data())
    def flip_flags(self, data: st.DataObject) -> None:
        """An operator restarts the host with other flags."""
        name = data.draw(st.sampled_from(sorted(FLAG_CHOICES)))
        value = data.draw(FLAG_CHOICES[name])
        self.flags = attrs.evolve(self.flags, **{name: value})
        self.loop = self.open_loop()

    @rule(
        name=st.sampled_from(
            ["enable_executor_real_apply", "execution_mode_default", "enable_normal_mode_canary"]
        ),
        on=st.booleans(),
    )
    def switch_stage(self, name: str, on: bool) -> None:
        """An operator moves between rollout stages: real apply, normal mode, the canary."""
        value: Any = ("normal" if on else "safe") if name == "execution_mode_default" else on
        self.flags = attrs.evolve(self.flags, **{name: value})
        self.loop = self.open_loop()

    @rule(capability=st.sampled_from(CAPABILITIES), off=st.booleans())
    def override(self, capability: str, off: bool) -> None:
        if off:
            self.loop.disable(capability, reason="machine override")
        else:
            self.loop.enable(capability, reason="machine override lifted")

    @rule()
    def crash_and_reopen(self) -> None:
        """The process dies between cycles; a new one opens the same store."""
        self.loop = self.open_loop()

    # No precondition on the agenda: host proposals get random ids, so which ones the
    # canary takes varies between runs, and a precondition must not.
    @rule(where=st.sampled_from(["probe", "executor"]))
    def crash_mid_run(self, where: str) -> None:
        """The process dies inside a host call in the middle of a cycle; a new one takes over."""
        executor: FakeExecutor = self.ports["executor"]
        probe: FakeProbe = self.ports["probe"]
        if where == "probe":
            probe.push(SimulatedCrash())
        else:
            saved = executor.default
            executor.default = SimulatedCrash()
        try:
            self.loop.tick()
        except SimulatedCrash:
            pass
        finally:
            probe.queue.clear()
            if where == "executor":
                executor.default = saved
        self.loop = self.open_loop()

    @rule(pid=proposals)
    def operator_rollback(self, pid: str) -> None:
        """An operator undoes a proposal's last run (refused unless it applied patches)."""
        runs = self.loop.proposal(pid).runs
        if runs:
            with contextlib.suppress(IllegalTransition, NotFound):
                self.loop.rollback(runs[-1].id, reason="operator rollback in the machine")

    @rule(path=st.sampled_from([CONFIG, NOTES]))
    def someone_edits_the_workspace(self, path: str) -> None:
        """Someone else changes a file (a later rollback must not overwrite it)."""
        target = self.workspace / path
        target.write_text(target.read_text() + "edited by hand\n")

    @rule()
    def executor_fails(self) -> None:
        """The next execution reports failure."""
        self.ports["executor"].default = ExecutionResult(status="failed", error="machine failure")
        self.loop.tick()
        self.ports["executor"].default = ExecutionResult()

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def guardrails_hold(self) -> None:
        history = self.history()
        violations = check_history(history)
        assert not violations, "\n".join(str(v) for v in violations)

    @invariant()
    def views_equal_replay(self) -> None:
        """The status views, caught up incrementally, equal a fold of the whole log."""
        app = self.loop._session.app
        live = catch_up(app, self.loop._session.views(), VIEWS)
        replayed = replay(app, VIEWS, until=self.clock())
        for view in VIEWS:
            assert to_plain(live.states[view.name]) == to_plain(replayed.states[view.name]), (
                f"view {view.name} differs from its replay"
            )

    @invariant()
    def replay_equals_live(self) -> None:
        """Every aggregate changed since the last step, replayed from its events, is as live."""
        history = self.history()
        changed = [(p, e) for p, e in history if p > self.replayed_up_to]
        mismatches = replay_mismatches(self.loop._session.app, aggregate_ids(changed))
        assert not mismatches, f"replayed state differs from live state for {mismatches}"
        if history:
            self.replayed_up_to = history[-1][0]
