"""P1: the cost of a cycle — `tick()` with 3 executions — against saving its events bare.

A loop on a fresh store, with the default flags (safe mode, bandit and self-check on), a
probe and an executor that cost nothing (the executor raises the probe's metric, so each
run's first verification is a win and converges). Before each timed `tick()`, untimed,
three proposals are proposed and approved, so every cycle selects the bandit's arms,
executes three runs, verifies, converges and credits them.

While the cycles run, every transaction the loop commits is captured as its list of
domain events (`EventStore.put`, which `Application.save` calls once per save). The
baseline replays exactly those lists, in order, into a second fresh store of the same
kind with bare eventsourcing — `Application.save(*batch)`, the application's mapper and
recorder — timing only the transactions of the measured ticks (the proposals' saves
between ticks are replayed untimed, so both stores grow alike). So it saves the same
events in the same number of transactions, with none of the loop's reading, deciding or
checking. Figure: loop seconds / bare seconds; bar ≤ 1.5×. Also reported: the ratio
against the event store's `put(batch)` alone (no collecting of the events, no snapshot
checks), a stricter baseline.
Each repeat uses new stores; loop and baseline alternate, and the medians are reported.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import selflearn as sl
from bench._common import arguments, fresh_store, median, publish
from selflearn.store import open_store
from selflearn.testing import FakeClock, FakeProbe

BAR = 1.5
RUNS_PER_CYCLE = 3


class FreeExecutor:
    """Costs nothing; raises `health_score` by 2, so the first verification is a win."""

    def __init__(self, probe: FakeProbe) -> None:
        self.probe = probe

    def execute(self, proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
        self.probe.metrics["health_score"] += 2.0
        return sl.ExecutionResult()


Batches = list[tuple[bool, list[Any]]]


def run_loop(url: str, cycles: int, warmup: int) -> tuple[float, Batches, int]:
    """Time `cycles` ticks after `warmup` ones; return the time, the batches, the runs.

    Every transaction is captured, marked timed when a measured tick committed it.
    """
    clock = FakeClock()
    probe = FakeProbe({"health_score": 80.0})
    loop = sl.LearningLoop(
        url, flags=sl.Flags(), executor=FreeExecutor(probe), probe=probe, clock=clock, seed=1
    )
    batches: Batches = []
    capturing = False
    put = loop._session.app.events.put

    def capture(events: Sequence[Any], **kwargs: Any) -> Any:
        batches.append((capturing, list(events)))
        return put(events, **kwargs)

    loop._session.app.events.put = capture  # type: ignore[method-assign]
    elapsed = 0.0
    runs = 0
    try:
        for n in range(warmup + cycles):
            for i in range(RUNS_PER_CYCLE):
                draft = sl.ProposalDraft(
                    title=f"change {n}.{i}", priority=0.95, risk_level="low", confidence=0.9
                )
                loop.approve(loop.propose(draft), reason="bench")
            clock.advance(seconds=600)
            capturing = n >= warmup
            if capturing:
                start = time.perf_counter()
                report = loop.tick()
                elapsed += time.perf_counter() - start
                runs += report.executed
            else:
                loop.tick()
            capturing = False
    finally:
        loop.close()
    return elapsed, batches, runs


def run_bare(url: str, batches: Batches, *, put: bool = False) -> float:
    """Save the same batches of events with eventsourcing alone, one transaction each.

    `Application.save(*events)` (the baseline of the bar), or with `put` the event store's
    `put(events)` alone, without the application's collecting and snapshot checks. All
    the loop's transactions are replayed in order, so the store grows as the loop's did;
    only those of the measured ticks are timed.
    """
    app, _ = open_store(url)
    elapsed = 0.0
    with app:
        for timed, batch in batches:
            start = time.perf_counter()
            if put:
                app.events.put(batch)
            else:
                app.save(*batch)
            if timed:
                elapsed += time.perf_counter() - start
    return elapsed


def measure(kind: str, cycles: int, warmup: int, repeats: int, pg: str | None) -> dict[str, Any]:
    loop_times: list[float] = []
    bare_times: list[float] = []
    put_times: list[float] = []
    events = transactions = runs = 0
    for _ in range(repeats):
        with fresh_store(kind, pg) as url:
            elapsed, batches, runs = run_loop(url, cycles, warmup)
        with fresh_store(kind, pg) as url:
            bare = run_bare(url, batches)
        with fresh_store(kind, pg) as url:
            put_times.append(run_bare(url, batches, put=True))
        loop_times.append(elapsed)
        bare_times.append(bare)
        events = sum(len(b) for timed, b in batches if timed)
        transactions = sum(1 for timed, _ in batches if timed)
    loop_s, bare_s, put_s = median(loop_times), median(bare_times), median(put_times)
    ratios = [a / b for a, b in zip(loop_times, bare_times, strict=True)]
    return {
        "cycles": cycles,
        "runs_executed": runs,
        "events_per_cycle": round(events / cycles, 2),
        "transactions_per_cycle": round(transactions / cycles, 2),
        "repeats": repeats,
        "tick_ms": round(1000 * loop_s / cycles, 3),
        "bare_ms_per_cycle": round(1000 * bare_s / cycles, 3),
        "bare_put_ms_per_cycle": round(1000 * put_s / cycles, 3),
        "runs_seconds": {
            "loop": [round(t, 4) for t in loop_times],
            "bare": [round(t, 4) for t in bare_times],
            "bare_put": [round(t, 4) for t in put_times],
        },
        "ratio_loop_vs_bare": round(loop_s / bare_s, 3),
        "ratio_loop_vs_bare_put": round(loop_s / put_s, 3),
        "ratio_per_repeat": [round(r, 3) for r in ratios],
        "bar": BAR,
        "meets_bar": loop_s / bare_s <= BAR,
    }


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    cycles, warmup, repeats = (10, 2, 1) if args.quick else (300, 20, 7)
    result: dict[str, Any] = {"sqlite": measure("sqlite", cycles, warmup, repeats, None)}
    if args.postgres:
        result["postgres"] = measure("postgres", cycles, warmup, repeats, args.postgres)
    publish("p1_cycle", result, quick=args.quick, directory=args.results_dir)


if __name__ == "__main__":
    main()
