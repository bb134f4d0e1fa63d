"""The history behind the docs' console excerpts: an operator walks every rollout stage.

`tests/test_docs.py` builds this store and runs every `$ selflearn …` line of a
```console block of the docs against it, so the output shown in the docs is what the
program prints. The history is scripted (no noise, no randomness but the bandit's seed)
and ends at `end` (the CLI's "now" is the wall clock, so tests end it a minute ago):

- shadow: proposals are created and approved, nothing runs;
- safe canary (`EXECUTOR_CANARY_PERCENT=50`), then expanded safe: safe-mode runs, a win
  and a weak result that is rechecked until its retries are exhausted;
- normal canary: a normal-mode win, then a loss that starts a cooldown;
- real apply: a patch applied by a normal-mode win, then rolled back by the operator.

Run it to look at the store: `python -m tests.docs_scenario sqlite:////tmp/docs.db`.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import attrs

import selflearn as sl
from selflearn.testing import FakeClock

BASE: Final = {"health_score": 80.0, "avg_duration_ms": 900.0, "total_errors": 4.0}
#: event type → its true effect on the host's metrics once the change is executed.
EFFECTS: Final = {
    "tool_timeout": {"avg_duration_ms": -180.0, "health_score": 1.2},
    "retry_storm": {"total_errors": -1.0, "health_score": 1.1},
    "cache_miss": {},
    "prompt_drift": {"health_score": -2.6},
    "slow_parse": {"avg_duration_ms": -120.0, "health_score": 1.0},
    "more_workers": {"avg_duration_ms": -150.0},
}
STRONG: Final = {"novelty": 0.95, "value": 0.95, "risk": 0.05, "confidence": 0.95}
FAIR: Final = {"novelty": 0.8, "value": 0.9, "risk": 0.2, "confidence": 0.9}
CYCLE: Final = timedelta(minutes=30)
SPAN: Final = timedelta(hours=30)


@attrs.define
class Host:
    """A host whose changes have fixed effects, measured per proposal, without noise."""

    applied: dict[str, dict[str, float]] = attrs.Factory(dict)

    def execute(self, proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
        effect = EFFECTS.get(str(proposal.metadata.get("event_type")), {})
        self.applied[proposal.id] = effect
        return sl.ExecutionResult(
            status="completed" if effect else "no_changes",
            cost_usd=0.01 if mode == "normal" else 0.002,
            duration_ms=400.0,
        )

    def measure(self, proposal: sl.ProposalView) -> dict[str, float]:
        effect = self.applied.get(proposal.id, {})
        return {name: value + effect.get(name, 0.0) for name, value in BASE.items()}


@attrs.frozen
class Scenario:
    """The ids the docs' commands refer to (`$PROPOSAL_ID`, `$RUN_ID`) and the workspace."""

    store: str
    proposal_id: str  # the proposal whose normal-mode run lost and started a cooldown
    run_id: str  # the real-apply run the operator rolls back
    workspace: Path


def build(store: str, *, end: datetime, workspace: Path) -> Scenario:
    """Record the scenario's history in `store`, its last cycle at `end`."""
    clock = FakeClock(end - SPAN)
    host = Host()

    def loop(flags: sl.Flags, **kwargs: object) -> sl.LearningLoop:
        return sl.LearningLoop(
            store, flags=flags, executor=host, probe=host, clock=clock, seed=11, **kwargs
        )

    def cycles(lp: sl.LearningLoop, n: int) -> None:
        for _ in range(n):
            lp.tick()
            clock.advance(CYCLE)

    def observe(lp: sl.LearningLoop, kind: str, scores: dict[str, float]) -> None:
        lp.record_event(
            "tool_monitor", kind, f"{kind.replace('_', ' ')} at {clock():%H:%M}", **scores
        )

    no_v1 = {"selflearn_v1_store": ""}
    # Shadow: the executor is off; proposals are created and approved, nothing runs.
    with loop(sl.Flags(enable_experiment_executor=False, **no_v1)) as lp:
        observe(lp, "tool_timeout", STRONG)
        observe(lp, "cache_miss", FAIR)
        cycles(lp, 4)
    # Safe canary: half of the approved proposals run, in safe mode.
    with loop(sl.Flags(executor_canary_percent=50, **no_v1)) as lp:
        cycles(lp, 4)
    # Expanded safe: every approved proposal runs in safe mode; weak results are rechecked.
    with loop(sl.Flags(**no_v1)) as lp:
        observe(lp, "retry_storm", FAIR)
        cycles(lp, 8)
    # Normal canary: a strong, low-risk proposal may run in normal mode, one an hour.
    with loop(sl.Flags(execution_mode_default="normal", **no_v1)) as lp:
        observe(lp, "slow_parse", STRONG)
        cycles(lp, 4)
        observe(lp, "prompt_drift", STRONG)
        cycles(lp, 4)
        (lost,) = (p for p in lp.proposals() if p.metadata.get("event_type") == "prompt_drift")
    # Real apply: a normal-mode run writes its patch to the workspace before executing.
    (workspace / "app.ini").write_text("workers=2\n")
    flags = sl.Flags(execution_mode_default="normal", enable_executor_real_apply=True, **no_v1)
    with loop(flags, workspace=workspace) as lp:
        edit = sl.FileEdit("app.ini", hashlib.sha256(b"workers=2\n").hexdigest(), "workers=4\n")
        draft = sl.ProposalDraft(
            title="Run four workers",
            hypothesis="More workers shorten the queue",
            priority=0.95,
            risk_level="low",
            confidence=0.9,
            patches=(edit,),
            metadata={"event_type": "more_workers"},
        )
        applied = lp.propose(draft)
        lp.approve(applied, reason="reviewed the patch")
        cycles(lp, int((SPAN - (clock() - (end - SPAN))) / CYCLE))
        clock.set(end)
        lp.tick()
        (run,) = lp.proposal(applied).runs
    return Scenario(store=store, proposal_id=lost.id, run_id=run.id, workspace=workspace)


def recent_end() -> datetime:
    """A minute ago, to the second: the CLI's wall clock then sees the history just ended."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)


if __name__ == "__main__":
    where = Path(tempfile.mkdtemp(prefix="selflearn-workspace-"))
    scenario = build(sys.argv[1], end=recent_end(), workspace=where)
    print(f"export PROPOSAL_ID={scenario.proposal_id} RUN_ID={scenario.run_id}  # {where}")
