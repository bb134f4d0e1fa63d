"""A simulated host agent, to watch the loop work: `selflearn demo` / `make demo`.

The host has hidden true effects per kind of change: some improve its metrics, some hurt
them, most do nothing measurable. It reports recurring learning events, executes
proposals, and measures noisy metrics scoped to the proposal being verified. The whole
run is driven by a simulated clock, so a day takes a second or two.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Final

import attrs

from selflearn.config import Flags
from selflearn.loop import LearningLoop
from selflearn.ports import ExecutionResult, Metrics, ProposalView
from selflearn.reports import CycleReport, RunReport
from selflearn.testing import FakeClock

START: Final = datetime(2026, 1, 5, tzinfo=UTC)
CYCLE: Final = timedelta(minutes=30)

# event type → (source, hidden effect on the metrics when the change is applied)
KINDS: Final = {
    "tool_timeout": ("tool_monitor", {"avg_duration_ms": -180.0, "health_score": 1.3}),
    "retry_storm": ("tool_monitor", {"total_errors": -1.0, "health_score": 1.1}),
    "prompt_drift": ("eval_harness", {"health_score": -2.6, "success_rate": -0.03}),
    "cache_miss": ("cache_stats", {}),
    "slow_parse": ("profiler", {}),
    "noisy_alert": ("pager", {}),
}
BASE_METRICS: Final = {
    "health_score": 80.0,
    "avg_duration_ms": 900.0,
    "total_errors": 4.0,
    "success_rate": 0.9,
}


@attrs.define
class SimulatedHost:
    """The host: its true metrics, the changes it applied, and its noisy probe."""

    rng: random.Random
    applied: dict[str, dict[str, float]] = attrs.Factory(dict)

    def effect_of(self, proposal: ProposalView) -> dict[str, float]:
        kind = str(proposal.metadata.get("event_type", ""))
        return dict(KINDS.get(kind, ("", {}))[1])

    def execute(self, proposal: ProposalView, mode: str) -> ExecutionResult:
        effect = self.effect_of(proposal)
        self.applied[proposal.id] = effect
        cost = 0.002 if mode == "safe" else 0.01
        return ExecutionResult(
            status="completed" if effect else "no_changes",
            cost_usd=cost,
            duration_ms=self.rng.uniform(200, 900),
        )

    def measure(self, proposal: ProposalView) -> Metrics:
        """Metrics scoped to `proposal`: the base plus its effect if it ran, with noise."""
        effect = self.applied.get(proposal.id, {})
        noise = {
            "health_score": 0.15,
            "avg_duration_ms": 15.0,
            "total_errors": 0.0,
            "success_rate": 0.002,
        }
        return {
            name: round(value + effect.get(name, 0.0) + self.rng.gauss(0.0, noise[name]), 4)
            for name, value in BASE_METRICS.items()
        }


def observations(
    rng: random.Random, day: int, hour: int
) -> Iterator[tuple[str, str, str, dict[str, float]]]:
    """The learning events the host reports in one hour (recurring kinds, varied content)."""
    for kind, (source, effect) in KINDS.items():
        if rng.random() < 0.12:
            strong = bool(effect) and rng.random() < 0.8
            scores = {
                "novelty": rng.uniform(0.85, 0.95) if strong else rng.uniform(0.3, 0.8),
                "value": rng.uniform(0.88, 0.98) if strong else rng.uniform(0.3, 0.8),
                "risk": rng.uniform(0.02, 0.12) if strong else rng.uniform(0.1, 0.6),
                "confidence": rng.uniform(0.85, 0.95) if strong else rng.uniform(0.4, 0.8),
            }
            yield source, kind, f"{kind.replace('_', ' ')} seen on day {day} at {hour:02d}h", scores


def describe(run: RunReport) -> str:
    verdict = ""
    if run.verdict:
        verdict = f" → {run.verdict} {run.confidence:.2f}" if run.confidence is not None else ""
        if run.pending_recheck:
            verdict += " (pending recheck)"
        elif run.exhausted:
            verdict += " (retries exhausted)"
    if run.error:
        verdict = f" → failed: {run.error}"
    if run.mode == "normal" and run.verdict == "loss" and run.converged:
        verdict += "; the guardrail starts a cooldown"
    return f"{run.kind} {run.run_id[:8]} {run.mode} ({run.mode_reason}){verdict}"


def summary(report: CycleReport) -> str:
    counts = [
        f"{name} {getattr(report, name)}"
        for name in ("created", "approved", "executed", "verified", "retry_attempted")
        if getattr(report, name)
    ]
    if report.synthetic_opened:
        counts.append("synthetic opportunity opened")
    return " · ".join(counts) if counts else "idle"


def run_demo(
    *, store: str, days: int = 1, seed: int = 7, echo: Callable[[str], None] = print
) -> LearningLoop:
    """Run the simulated host for `days` simulated days on `store`; return the (closed) loop."""
    rng = random.Random(seed)
    host = SimulatedHost(rng=random.Random(seed + 1))
    clock = FakeClock(START)
    flags = Flags(
        execution_mode_default="normal",
        normal_mode_allowed_risk=frozenset({"low"}),
        normal_mode_max_per_hour=1,
    )
    loop = LearningLoop(store, flags=flags, executor=host, probe=host, clock=clock, seed=seed)
    with loop:
        echo(f"selflearn demo: {days} simulated day(s), seed {seed}, store {loop.url.redacted}")
        echo(f"rollout stage: {flags.stage}; a cycle every {int(CYCLE.total_seconds() // 60)} min")
        cycles = int(timedelta(days=days) / CYCLE)
        for n in range(cycles):
            now = clock()
            day = (now - START).days + 1
            if now.minute == 0:
                for source, kind, content, scores in observations(rng, day, now.hour):
                    loop.record_event(
                        source,
                        kind,
                        content,
                        novelty=scores["novelty"],
                        value=scores["value"],
                        risk=scores["risk"],
                        confidence=scores["confidence"],
                    )
            report = loop.tick()
            echo(f"day {day} {now:%H:%M}  {summary(report)}")
            for run in report.runs:
                echo(f"            {describe(run)}")
            if n < cycles - 1:
                clock.advance(CYCLE)
        verdicts = [p.verdict for p in loop.proposals() if p.verdict]
        echo(
            f"done: {len(loop.proposals())} proposals, "
            f"{verdicts.count('win')} wins, {verdicts.count('loss')} losses, "
            f"{verdicts.count('inconclusive')} inconclusive"
        )
    return loop
