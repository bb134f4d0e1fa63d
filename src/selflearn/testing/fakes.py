"""Fakes of every host port: a clock that moves when told, a scripted probe and executor."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from selflearn.ports import ExecutionResult, Metrics, ProposalView

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to: `clock()` is now, `advance()` moves it."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time")
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **units: float) -> datetime:
        """Move the clock forward by `delta` or by `timedelta(**units)`; return the new time."""
        self.now += delta if delta is not None else timedelta(**units)
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


Reading = Mapping[str, float | Sequence[float]] | BaseException


class FakeProbe:
    """A probe over a mutable dict of metrics, with optional noise and scripted readings.

    `metrics` is what a measurement returns (plus Gaussian `noise` on scalars, or a list of
    `samples` noisy values per metric when `samples > 1`). Readings pushed with `push()` are
    returned first, in order; an exception pushed is raised instead.
    """

    def __init__(
        self,
        metrics: Mapping[str, float] | None = None,
        *,
        noise: float = 0.0,
        samples: int = 0,
        seed: int = 0,
    ) -> None:
        self.metrics: dict[str, float] = dict(
            metrics if metrics is not None else {"health_score": 80.0}
        )
        self.noise = noise
        self.samples = samples
        self.rng = random.Random(seed)
        self.queue: list[Reading] = []
        self.calls: list[str] = []

    def push(self, *readings: Reading) -> None:
        self.queue.extend(readings)

    def measure(self, proposal: ProposalView) -> Metrics:
        self.calls.append(proposal.id)
        if self.queue:
            reading = self.queue.pop(0)
            if isinstance(reading, BaseException):
                raise reading
            return dict(reading)
        if self.samples > 1:
            return {
                name: [value + self.rng.gauss(0.0, self.noise) for _ in range(self.samples)]
                for name, value in self.metrics.items()
            }
        if self.noise:
            return {
                name: value + self.rng.gauss(0.0, self.noise)
                for name, value in self.metrics.items()
            }
        return dict(self.metrics)


Outcome = ExecutionResult | BaseException | Callable[[ProposalView, str], Any]


class FakeExecutor:
    """An executor with scripted outcomes and hidden effects on a `FakeProbe`'s metrics.

    `outcomes` maps a proposal id or title to an `ExecutionResult` to return, an exception
    to raise, or a callable `(proposal, mode) -> result`; `default` is used otherwise.
    `effects` maps an id or title to metric changes applied to `probe.metrics` when it runs.
    `success_probability` maps an id or title to the chance that a run completes (else it
    returns `failed`), drawn from `seed`. Every call is kept in `calls` as `(id, mode)`.
    """

    def __init__(
        self,
        *,
        probe: FakeProbe | None = None,
        outcomes: Mapping[str, Outcome] | None = None,
        effects: Mapping[str, Mapping[str, float]] | None = None,
        success_probability: Mapping[str, float] | None = None,
        default: Outcome | None = None,
        seed: int = 0,
    ) -> None:
        self.probe = probe
        self.outcomes = dict(outcomes or {})
        self.effects = dict(effects or {})
        self.success_probability = dict(success_probability or {})
        self.default: Outcome = default if default is not None else ExecutionResult()
        self.rng = random.Random(seed)
        self.calls: list[tuple[str, str]] = []

    @staticmethod
    def _lookup(table: Mapping[str, Any], proposal: ProposalView) -> Any:
        if proposal.id in table:
            return table[proposal.id]
        return table.get(proposal.title)

    def execute(self, proposal: ProposalView, mode: str) -> Any:
        self.calls.append((proposal.id, mode))
        outcome = self._lookup(self.outcomes, proposal)
        if outcome is None:
            outcome = self.default
        if isinstance(outcome, BaseException):
            raise outcome
        chance = self._lookup(self.success_probability, proposal)
        if chance is not None and self.rng.random() >= chance:
            return ExecutionResult(status="failed", error="scripted failure")
        effect = self._lookup(self.effects, proposal)
        if effect and self.probe is not None:
            for metric, change in effect.items():
                self.probe.metrics[metric] = self.probe.metrics.get(metric, 0.0) + change
        if callable(outcome) and not isinstance(outcome, ExecutionResult):
            return outcome(proposal, mode)
        return outcome
