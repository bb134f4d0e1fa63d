"""The demo's simulated host agent: its settings file, its hidden truth, its ports.

The host is an agent whose behaviour is set by `agent.toml` in its workspace. Each kind of
learning event it reports suggests one change to one setting; the change's true effect on
the agent's metrics is hidden from the loop. Two changes help, two hurt, five do nothing
measurable. The probe returns noisy samples (so the verifier uses its Welch test) of the
metrics the agent would show with the settings on disk plus, for the proposal being
measured, the change its execution tried (in a sandbox in safe mode, in memory in normal
mode; with real apply the change is on disk as well).
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Final

import attrs

from selflearn.ports import (
    ExecutionResult,
    Metrics,
    Opportunity,
    ProposalDraft,
    ProposalView,
)
from selflearn.proposer import DefaultProposer

CONFIG_FILE: Final = "agent.toml"
SAMPLES: Final = 10  # samples per metric and measurement
BASE_METRICS: Final = {
    "health_score": 80.0,
    "avg_duration_ms": 900.0,
    "total_errors": 4.0,
    "success_rate": 0.9,
}
# The standard deviation of one sample of each metric.
NOISE: Final = {
    "health_score": 1.2,
    "avg_duration_ms": 120.0,
    "total_errors": 0.8,
    "success_rate": 0.02,
}
# The agent's settings as it starts: key → TOML literal, in file order.
SETTINGS: Final = {
    "tool_timeout_s": "30",
    "retry_backoff": '"fixed"',
    "prompt_style": '"concise"',
    "max_parallel_tools": "4",
    "cache_ttl_s": "300",
    "parse_mode": '"strict"',
    "alert_threshold": "3",
    "log_level": '"info"',
    "memory_window": "20",
}


@attrs.frozen
class Change:
    """One kind of change: the learning event that suggests it, the setting it sets, its
    hidden true effect on the metrics, and how the host reports the event.

    `per_hour` is how often the event is reported; of those, `strong` look strong and
    safe (priority around 0.9, low risk), `weak` look weak (below the create threshold),
    the rest are middling (priority around 0.8, some of medium risk).
    """

    kind: str
    source: str
    symptom: str
    key: str
    value: str
    effect: Mapping[str, float]
    per_hour: float
    strong: float
    weak: float

    @property
    def truth(self) -> str:
        if not self.effect:
            return "no effect"
        gains = sum(
            1 if (delta > 0) == (name in ("health_score", "success_rate")) else -1
            for name, delta in self.effect.items()
        )
        return "helps" if gains > 0 else "hurts"


CHANGES: Final = (
    Change(
        "tool_timeout",
        "tool_monitor",
        "web_search timed out",
        "tool_timeout_s",
        "12",
        {"avg_duration_ms": -220.0, "health_score": 1.4},
        per_hour=0.25,
        strong=0.6,
        weak=0.1,
    ),
    Change(
        "retry_storm",
        "tool_monitor",
        "a burst of retries hit the same API",
        "retry_backoff",
        '"exponential"',
        {"total_errors": -1.6, "success_rate": 0.03},
        per_hour=0.25,
        strong=0.5,
        weak=0.15,
    ),
    Change(
        "prompt_drift",
        "eval_harness",
        "answers drifted from the rubric",
        "prompt_style",
        '"verbose"',
        {"health_score": -2.8, "success_rate": -0.03, "avg_duration_ms": 140.0},
        per_hour=0.25,
        strong=0.55,
        weak=0.1,
    ),
    Change(
        "tool_backlog",
        "scheduler",
        "tool calls queued behind each other",
        "max_parallel_tools",
        "16",
        {"avg_duration_ms": 260.0, "total_errors": 1.4},
        per_hour=0.2,
        strong=0.25,
        weak=0.2,
    ),
    Change(
        "cache_miss",
        "cache_stats",
        "cache hit rate fell",
        "cache_ttl_s",
        "900",
        {},
        per_hour=0.15,
        strong=0.2,
        weak=0.4,
    ),
    Change(
        "slow_parse",
        "profiler",
        "parsing tool output was slow",
        "parse_mode",
        '"lenient"',
        {},
        per_hour=0.15,
        strong=0.2,
        weak=0.4,
    ),
    Change(
        "noisy_alert",
        "pager",
        "an alert fired without an incident",
        "alert_threshold",
        "5",
        {},
        per_hour=0.15,
        strong=0.2,
        weak=0.4,
    ),
    Change(
        "log_volume",
        "log_monitor",
        "log volume doubled",
        "log_level",
        '"warning"',
        {},
        per_hour=0.15,
        strong=0.2,
        weak=0.4,
    ),
    Change(
        "stale_memory",
        "memory_store",
        "the agent forgot an earlier turn",
        "memory_window",
        "50",
        {},
        per_hour=0.15,
        strong=0.2,
        weak=0.4,
    ),
)
BY_KIND: Final = {change.kind: change for change in CHANGES}


def config_text(settings: Mapping[str, str]) -> str:
    """The settings file's content."""
    lines = ["# The simulated agent's settings (selflearn demo)."]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def parse_config(text: str) -> dict[str, str]:
    """`key = value` lines of the settings file (comments and blank lines skipped)."""
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def change_diff(current: Mapping[str, str], change: Change) -> str:
    """A unified diff (no context lines) setting `change.key` in the settings file."""
    before = config_text(current)
    after = config_text({**current, change.key: change.value})
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{CONFIG_FILE}",
            f"b/{CONFIG_FILE}",
            n=0,
        )
    )


@attrs.frozen
class LearningEvent:
    """A learning event as the host reports it."""

    source: str
    event_type: str
    content: str
    novelty: float
    value: float
    risk: float
    confidence: float


def learning_events(rng: random.Random, label: str, cycle_hours: float) -> Iterator[LearningEvent]:
    """The learning events the host reports in one cycle of `cycle_hours` (each kind recurs
    at its rate); `label` says when, so that each one is a new learning event."""
    for change in CHANGES:
        if rng.random() >= change.per_hour * cycle_hours:
            continue
        band = rng.random()
        if band < change.strong:
            scores = (
                rng.uniform(0.85, 0.95),
                rng.uniform(0.88, 0.98),
                rng.uniform(0.02, 0.12),
                rng.uniform(0.85, 0.95),
            )
        elif band < change.strong + change.weak:
            scores = (
                rng.uniform(0.2, 0.6),
                rng.uniform(0.2, 0.6),
                rng.uniform(0.1, 0.5),
                rng.uniform(0.3, 0.6),
            )
        else:
            scores = (
                rng.uniform(0.6, 0.9),
                rng.uniform(0.75, 0.92),
                rng.uniform(0.15, 0.55),
                rng.uniform(0.65, 0.9),
            )
        novelty, value, risk, confidence = (round(s, 3) for s in scores)
        yield LearningEvent(
            source=change.source,
            event_type=change.kind,
            content=f"{change.symptom} ({label})",
            novelty=novelty,
            value=value,
            risk=risk,
            confidence=confidence,
        )


@attrs.define
class SimulatedHost:
    """The host's executor, probe and proposer over its workspace `root`."""

    root: Path
    rng: random.Random
    create_threshold: float = 0.62
    #: Proposal id → the change its execution tried (sandboxed or in memory).
    tried: dict[str, Change] = attrs.Factory(dict)

    @classmethod
    def start(cls, root: Path, seed: int, create_threshold: float) -> SimulatedHost:
        """A host over `root`, its settings file written as the agent starts."""
        (root / CONFIG_FILE).write_text(config_text(SETTINGS), encoding="utf-8")
        return cls(root=root, rng=random.Random(seed), create_threshold=create_threshold)

    def settings(self) -> dict[str, str]:
        return parse_config((self.root / CONFIG_FILE).read_text(encoding="utf-8"))

    def changed_settings(self) -> list[tuple[str, str, str]]:
        """(key, initial value, value now) of each setting that differs from the start."""
        now = self.settings()
        return [(k, v, now.get(k, "")) for k, v in SETTINGS.items() if now.get(k) != v]

    # -- Proposer ----------------------------------------------------------------------

    def propose(self, opportunity: Opportunity) -> Sequence[ProposalDraft]:
        """The default engine's drafts, each made concrete as a patch of the settings file.

        An event whose change is in the settings file already makes no proposal.
        """
        engine = DefaultProposer(create_threshold=self.create_threshold)
        current = self.settings()
        drafts = []
        for draft in engine.propose(opportunity):
            change = BY_KIND.get(str(draft.metadata.get("event_type")))
            if change is None or current.get(change.key) == change.value:
                continue
            drafts.append(
                attrs.evolve(
                    draft,
                    title=f"Set {change.key} = {change.value}",
                    hypothesis=(
                        f"{change.symptom[0].upper()}{change.symptom[1:]}: setting "
                        f"{change.key} to {change.value} should fix it"
                    ),
                    patches=(change_diff(current, change),),
                    metadata={**draft.metadata, "setting": change.key},
                )
            )
        return drafts

    # -- Executor ----------------------------------------------------------------------

    def execute(self, proposal: ProposalView, mode: str) -> ExecutionResult:
        """Try the proposal's change: in a sandbox (safe) or in the live agent (normal)."""
        change = BY_KIND[str(proposal.metadata["event_type"])]
        self.tried[proposal.id] = change
        return ExecutionResult(
            status="completed",
            cost_usd=0.002 if mode == "safe" else 0.01,
            duration_ms=round(self.rng.uniform(200.0, 900.0), 1),
            artifacts={"setting": change.key, "value": change.value, "mode": mode},
        )

    # -- Probe -------------------------------------------------------------------------

    def true_metrics(self, proposal_id: str) -> dict[str, float]:
        """The metrics' true means: the settings on disk, plus the proposal's tried change."""
        on_disk = self.settings()
        active = {c.key: c for c in CHANGES if on_disk.get(c.key) == c.value}
        tried = self.tried.get(proposal_id)
        if tried is not None:
            active[tried.key] = tried
        means = dict(BASE_METRICS)
        for change in active.values():
            for name, delta in change.effect.items():
                means[name] += delta
        return means

    def measure(self, proposal: ProposalView) -> Metrics:
        """Noisy samples of each metric, scoped to `proposal`."""
        return {
            name: [round(mean + self.rng.gauss(0.0, NOISE[name]), 4) for _ in range(SAMPLES)]
            for name, mean in self.true_metrics(proposal.id).items()
        }


__all__ = [
    "BY_KIND",
    "CHANGES",
    "CONFIG_FILE",
    "SETTINGS",
    "Change",
    "LearningEvent",
    "SimulatedHost",
    "change_diff",
    "config_text",
    "learning_events",
    "parse_config",
]
