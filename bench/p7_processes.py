"""P7: two processes cycling on one store vs one process, host executions taking 50 ms each.

    python -m bench.p7_processes [--quick] [--postgres URL] [--proposals N] [--repeats R]

The work is fixed, not the duration. Before each measurement a fresh store gets one cycle
(flags recorded, arms drawn) and a supply of N approved proposals (600; 24 with --quick),
each `propose()`d then `approve()`d by an operator, priority 0.95, low risk, created one
domain second apart so they are taken oldest first. Then one or two spawned processes,
each with its own `LearningLoop` already open and caught up with the log, wait at a
barrier and call `tick()` until the supply is drained (a cycle that executes nothing and
finds no approved proposal left). A cycle executes at most 3 proposals; the executor
sleeps 50 ms of real time, the probe costs nothing, the default verifier judges (every
8th proposal regresses, a loss; the others win; none needs a recheck). Throughput is
N runs / wall time from the barrier to the last process's end; cycles/s is reported too.
A fixed amount of work is fairer than a fixed duration here: both configurations record
the same proposals through the same runs into stores of the same final size, so neither
is measured on a smaller store or a cheaper mix of work; the cost of the fixed end is the
last cycle or two, which one process may finish alone (≈ 0.1–0.2 s of tens of seconds).

Domain time comes from a clock every process shares, `SPEED` times faster than wall time
(10 domain minutes a second), so the hourly limit does not stall the work: with
`EXECUTION_MODE_DEFAULT=normal` and `NORMAL_MODE_MAX_PER_HOUR=1`, every run goes through
the canary gates; the first run of each domain hour is admitted to normal mode (an
admission on the guardrail aggregate, saved with the run's start), the others run safe
(`hourly_quota_exceeded`, or `cooldown_active` after a normal-mode loss). The lease is
3,600 domain seconds (6 s of wall time), far longer than a run, so no live run is taken
for a crashed one.

After each measurement the merged history is checked: `selflearn.testing.check_invariants`
(zero violations); every proposal started, executed and given to the executor exactly
once (`run_twice`, `never_run`); every event each process's `save()` returned is in the
log, no two processes returned the same event, nothing is in the log that no process
recorded (`events_lost`, `events_unaccounted`). Whenever the executor is called, it looks
at its own process's store connections: none may be inside a transaction (SQLite) or
checked out of the pool (PostgreSQL) — `host_calls_with_a_transaction_open`. To tell a
store that serializes the processes from a machine short of CPU, each configuration also
reports the wall time per run spent outside the executor, the processes' CPU time per
run, the machine's CPU busy share during the run (/proc/stat), and the save conflicts
(optimistic concurrency, retried by the loop). Bar: throughput(2) / throughput(1) ≥ 1.6,
the median of the per-repeat ratios (the configurations alternate in order, each on a
fresh store), and zero in every check above.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
import traceback
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
from eventsourcing.persistence import IntegrityError

import selflearn as sl
from bench._common import arguments, fresh_store, median, publish
from selflearn.testing import FakeClock, check_invariants

EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)  # the supply is made from here, 1 s apart
CYCLING: Final = EPOCH + timedelta(days=1)  # the processes' shared clock starts here
HOST_SECONDS: Final = 0.05  # each host execution
SPEED: Final = 600.0  # domain seconds per wall second: 10 domain minutes a second
BAR: Final = 1.6
MAX_CYCLES: Final = 10_000  # a safeguard: a process stops once the supply is drained
FLAGS: Final[dict[str, Any]] = {
    "execution_mode_default": "normal",
    "normal_mode_max_per_hour": 1,
    "execution_lease_seconds": 3600,
}
#: What must be zero after every measurement: guardrail violations, double runs, lost events.
CHECKS: Final = (
    "violations",
    "run_twice",
    "never_run",
    "events_lost",
    "events_unaccounted",
    "host_calls_with_a_transaction_open",
)
WIN, LOSS = 2.0, -3.0  # Δ health_score of an execution: a win, a critical loss


class Probe:
    """Costs nothing: 80, or after an execution 80 plus that execution's effect."""

    def __init__(self) -> None:
        self.effects: dict[str, float] = {}

    def measure(self, proposal: sl.ProposalView) -> dict[str, float]:
        return {"health_score": 80.0 + self.effects.pop(proposal.id, 0.0)}


def store_busy(loop: sl.LearningLoop) -> int:
    """How many of this process's store connections are in a transaction (SQLite) or
    checked out of the pool (PostgreSQL) right now: while the host works, it should be 0."""
    pool: Any = loop._session.app.recorder.datastore.pool  # type: ignore[attr-defined]
    if loop._session.url.kind == "sqlite":
        connections = [*pool._pool, *pool._in_use.values()]
        return sum(bool(c._sqlite_conn.in_transaction) for c in connections)
    stats = pool.get_stats()
    return int(stats["pool_size"] - stats["pool_available"])


class Executor:
    """Takes `HOST_SECONDS` of real time; records which proposals it was given, and how
    often the store was busy (a transaction open) in this process when it was called."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.loop: sl.LearningLoop | None = None
        self.calls: list[str] = []
        self.store_busy = 0
        self.seconds = 0.0

    def execute(self, proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
        start = time.perf_counter()
        self.calls.append(proposal.id)
        if self.loop is not None and store_busy(self.loop):
            self.store_busy += 1
        time.sleep(HOST_SECONDS)
        self.probe.effects[proposal.id] = float(proposal.metadata["effect"])
        self.seconds += time.perf_counter() - start
        return sl.ExecutionResult()


def shared_clock(t0: float) -> Any:
    """Domain time every process agrees on: `CYCLING` at wall time `t0`, `SPEED` times faster."""

    def now() -> datetime:
        return CYCLING + timedelta(seconds=(time.time() - t0) * SPEED)

    return now


class Recorder:
    """Wraps a loop's `save()`: the notification ids it recorded, the conflicts it met, and
    the time spent in it."""

    def __init__(self, loop: sl.LearningLoop) -> None:
        self.ids: list[int] = []
        self.conflicts = 0
        self.seconds = 0.0
        real = loop._session.save

        def save(*objs: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                recordings = real(*objs, **kwargs)
            except IntegrityError:
                self.conflicts += 1
                raise
            finally:
                self.seconds += time.perf_counter() - start
            self.ids.extend(r.notification.id for r in recordings)
            return recordings

        loop._session.save = save  # type: ignore[method-assign]


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def worker(url: str, index: int, t0: float, barrier: Any, out: Any) -> None:
    """Cycle until no approved proposal is left; report what this process did."""
    structlog.configure(  # as in the parent (`arguments`): warnings only, on stderr
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    try:
        probe = Probe()
        executor = Executor(probe)
        loop = sl.LearningLoop(
            url,
            flags=sl.Flags(**FLAGS),
            executor=executor,
            probe=probe,
            clock=shared_clock(t0),
            seed=index,
        )
        executor.loop = loop
        recorder = Recorder(loop)
        with loop:
            loop._session.sync()
            barrier.wait(timeout=300)
            start, cpu, ticks = time.time(), time.process_time(), cpu_ticks()
            cycles = 0
            while cycles < MAX_CYCLES:
                report = loop.tick()
                cycles += 1
                if report.executed == 0:
                    loop._session.sync()
                    if not loop._session.agenda.executable():
                        break
            end, cpu, ticks_end = time.time(), time.process_time() - cpu, cpu_ticks()
        out.put(
            (
                "ok",
                {
                    "start": start,
                    "end": end,
                    "cycles": cycles,
                    "calls": executor.calls,
                    "host_seconds": executor.seconds,
                    "cpu_seconds": cpu,
                    "store_busy": executor.store_busy,
                    "machine_ticks": (ticks, ticks_end),
                    "ids": recorder.ids,
                    "conflicts": recorder.conflicts,
                    "save_seconds": recorder.seconds,
                },
            )
        )
    except BaseException:
        out.put(("error", f"process {index}: {traceback.format_exc()}"))


def supply(url: str, n: int) -> list[str]:
    """One cycle, then `n` approved proposals, taken oldest first; every 8th regresses."""
    clock = FakeClock(EPOCH)
    with sl.LearningLoop(url, flags=sl.Flags(**FLAGS), clock=clock, seed=0) as loop:
        loop.tick()
        ids = []
        for i in range(n):
            clock.advance(seconds=1)
            draft = sl.ProposalDraft(
                title=f"bench proposal {i}",
                priority=0.95,
                risk_level="low",
                metadata={"effect": LOSS if i % 8 == 7 else WIN},
            )
            ids.append(loop.propose(draft))
            loop.approve(ids[-1], reason="benchmark supply")
    return ids


def spawn(url: str, processes: int, t0: float) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(processes)
    procs = [ctx.Process(target=worker, args=(url, i, t0, barrier, out)) for i in range(processes)]
    for p in procs:
        p.start()
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    errors = [r[1] for r in results if r[0] != "ok"]
    if errors:
        raise RuntimeError("\n".join(errors))
    return [r[1] for r in results]


def log_of(url: str) -> tuple[list[tuple[int, Any]], int]:
    """The whole log as (notification id, domain event), and the invariants' violations."""
    with sl.LearningLoop(url, flags=sl.Flags(**FLAGS), clock=FakeClock(EPOCH)) as loop:
        app = loop._session.app
        log = [
            (n.id, app.mapper.to_domain_event(n))
            for n in app.recorder.select_notifications(start=None, limit=10_000_000)
        ]
        return log, len(check_invariants(loop))


def named(log: list[tuple[int, Any]], name: str) -> list[Any]:
    return [e for _, e in log if type(e).__qualname__ == name]


def measure_once(kind: str, pg: str | None, processes: int, n: int) -> dict[str, Any]:
    """Drain a supply of `n` approved proposals with `processes` processes; check the log."""
    with fresh_store(kind, pg) as url:
        proposals = set(supply(url, n))
        before = {position for position, _ in log_of(url)[0]}
        reports = spawn(url, processes, time.time())
        log, violations = log_of(url)
    first = min(reports, key=lambda r: r["start"])
    last = max(reports, key=lambda r: r["end"])
    wall = last["end"] - first["start"]
    (ticks, _), (_, ticks_end) = first["machine_ticks"], last["machine_ticks"]
    busy = None
    if ticks and ticks_end and ticks_end[1] > ticks[1]:
        busy = (ticks_end[0] - ticks[0]) / (ticks_end[1] - ticks[1])
    recorded = [set(r["ids"]) for r in reports]
    union = set().union(*recorded)
    after = {position for position, _ in log} - before
    calls = Counter(pid for r in reports for pid in r["calls"])
    started = Counter(str(e.originator_id) for e in named(log, "Proposal.RunStarted"))
    executed = Counter(str(e.originator_id) for e in named(log, "Proposal.RunExecuted"))
    runs = sum(calls.values())
    twice = {pid for c in (calls, started, executed) for pid, k in c.items() if k > 1}
    return {
        "seconds": wall,
        "runs": runs,
        "runs_per_second": runs / wall,
        "cycles": sum(r["cycles"] for r in reports),
        "cycles_per_second": sum(r["cycles"] for r in reports) / wall,
        "outside_host_ms_per_run": 1000
        * median(
            [(r["end"] - r["start"] - r["host_seconds"]) / max(1, len(r["calls"])) for r in reports]
        ),
        "in_save_ms_per_run": 1000 * sum(r["save_seconds"] for r in reports) / max(1, runs),
        "process_cpu_ms_per_run": 1000 * sum(r["cpu_seconds"] for r in reports) / max(1, runs),
        "machine_cpu_busy": busy,
        "save_conflicts": sum(r["conflicts"] for r in reports),
        "violations": violations,
        "host_calls_with_a_transaction_open": sum(r["store_busy"] for r in reports),
        "run_twice": len(twice),
        "never_run": len(proposals - set(executed)),
        "events_recorded": sum(len(ids) for ids in recorded),
        "events_in_log": len(after),
        "events_lost": len(union - after),
        "events_unaccounted": len(after - union),
        "events_in_two_processes": sum(len(ids) for ids in recorded) - len(union),
        "mode_reasons": dict(Counter(e.mode_reason for e in named(log, "Proposal.RunStarted"))),
        "admissions": len(named(log, "Guardrail.Admitted")),
        "cooldowns": len(named(log, "Guardrail.CooldownStarted")),
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the timings, totals of the checks, over a configuration's repeats."""
    timing = (
        "seconds",
        "runs_per_second",
        "cycles_per_second",
        "outside_host_ms_per_run",
        "in_save_ms_per_run",
        "process_cpu_ms_per_run",
    )
    modes: Counter[str] = Counter()
    for run in runs:
        modes.update(run["mode_reasons"])
    return {
        **{k: round(median([r[k] for r in runs]), 3) for k in timing},
        "runs_per_second_each_repeat": [round(r["runs_per_second"], 2) for r in runs],
        "machine_cpu_busy_each_repeat": [
            None if r["machine_cpu_busy"] is None else round(r["machine_cpu_busy"], 2) for r in runs
        ],
        "runs": sum(r["runs"] for r in runs),
        "cycles": sum(r["cycles"] for r in runs),
        "save_conflicts": sum(r["save_conflicts"] for r in runs),
        **{k: sum(r[k] for r in runs) for k in CHECKS},
        "events_recorded": sum(r["events_recorded"] for r in runs),
        "events_in_log": sum(r["events_in_log"] for r in runs),
        "events_in_two_processes": sum(r["events_in_two_processes"] for r in runs),
        "mode_reasons": dict(sorted(modes.items())),
        "admissions": sum(r["admissions"] for r in runs),
        "cooldowns": sum(r["cooldowns"] for r in runs),
    }


def measure(kind: str, n: int, repeats: int, pg: str | None) -> dict[str, Any]:
    one: list[dict[str, Any]] = []
    two: list[dict[str, Any]] = []
    for i in range(repeats):  # alternate which configuration goes first
        order = [(1, one), (2, two)] if i % 2 == 0 else [(2, two), (1, one)]
        for processes, into in order:
            into.append(measure_once(kind, pg, processes, n))
    ratios = [b["runs_per_second"] / a["runs_per_second"] for a, b in zip(one, two, strict=True)]
    ratio = median(ratios)
    summaries = {"one_process": summary(one), "two_processes": summary(two)}
    clean = all(s[k] == 0 for s in summaries.values() for k in CHECKS)
    return {
        "proposals": n,
        "repeats": repeats,
        "host_seconds_per_execution": HOST_SECONDS,
        **summaries,
        "ratio_each_repeat": [round(r, 3) for r in ratios],
        "ratio": round(ratio, 3),
        "bar": BAR,
        "meets_bar": ratio >= BAR and clean,
    }


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--proposals", type=int, default=None, help="the supply (600; 24 quick)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats (3; 1 quick)")
    args = parser.parse_args()
    n = args.proposals or (24 if args.quick else 600)
    repeats = args.repeats or (1 if args.quick else 3)
    result: dict[str, Any] = {"flags": FLAGS, "domain_speed": SPEED}
    result["sqlite"] = measure("sqlite", n, repeats, None)
    if args.postgres:
        result["postgres"] = measure("postgres", n, repeats, args.postgres)
    publish("p7_processes", result, quick=args.quick, directory=args.results_dir)


if __name__ == "__main__":
    main()
