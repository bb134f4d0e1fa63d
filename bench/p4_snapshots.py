"""P4: loading the guardrail and the policy after 1,000 vs after 100,000 commands.

Two stores are built per backend, one per size, each opened with `open_store` and so with
the production snapshotting intervals (`SelflearnApplication.snapshotting_intervals`:
guardrail every 50 events, policy every 100), taken by eventsourcing inside `save()`.
The histories come from the aggregates' own command methods, saved 100 commands at a time:

- guardrail: one normal-mode admission per hour (the tightest the default quota of one an
  hour allows, checked with the real `admissions_in_window`), and every tenth admitted run
  losing 20 minutes later, which starts a 30-minute cooldown (`cooldown_end`);
- policy: one Thompson selection per 10-minute cycle (`thompson_draws` on its own arms).

Each aggregate is then loaded from the store with the repository's cache off — a snapshot
read plus the events after it, what a fresh process or a cycle does — alternating the two
sizes, and the median is taken. Bar: load(100,000) / load(1,000) ≤ 1.5×.

Beside it: the same loads with snapshots ignored (eventsourcing's `Repository` over the
event store alone, replaying every event); the load of the version just before the next
snapshot (the most events a load ever replays); and the state that snapshots hold (its
stored size, the admissions kept), which must not grow with the history.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Final
from uuid import UUID

from eventsourcing.application import Repository

from bench._common import arguments, fresh_store, median, publish, seconds
from selflearn.config import Flags
from selflearn.events.guardrail import GUARDRAIL_ID, Guardrail
from selflearn.events.policy import DEFAULT_FAMILIES, POLICY_ID, Policy
from selflearn.events.rules import admissions_in_window, cooldown_end, thompson_draws
from selflearn.store import SelflearnApplication, open_store

AT: Final = datetime(2026, 1, 1, tzinfo=UTC)
COMMANDS_PER_SAVE: Final = 100
LOSS_EVERY: Final = 10
FLAGS: Final = Flags()
BAR: Final = 1.5
AGGREGATES: Final = {"guardrail": GUARDRAIL_ID, "policy": POLICY_ID}


def build(app: SelflearnApplication, n: int, seed: int = 1) -> None:
    """`n` admissions on the guardrail and `n` selections on the policy, saved in batches."""
    rng = random.Random(seed)
    guard = Guardrail(id=GUARDRAIL_ID, at=AT)
    policy = Policy(id=POLICY_ID, at=AT, families={f: list(a) for f, a in DEFAULT_FAMILIES.items()})
    for i in range(1, n + 1):
        admitted = AT + timedelta(hours=i)
        assert admissions_in_window(guard.admissions, admitted) < FLAGS.normal_mode_max_per_hour
        assert guard.cooldown_until is None or guard.cooldown_until <= admitted
        guard.admit(at=admitted, proposal_id=f"p-{i}", run_id=f"r-{i}")
        if i % LOSS_EVERY == 0:
            lost = admitted + timedelta(minutes=20)
            until = cooldown_end(guard.cooldown_until, lost, FLAGS.normal_mode_cooldown_seconds)
            guard.start_cooldown(at=lost, proposal_id=f"p-{i}", run_id=f"r-{i}", until=until)
        seed_i = rng.getrandbits(63)
        draws, selection = thompson_draws(policy.arms, seed_i)
        policy.select(
            at=AT + timedelta(minutes=10 * i), seed=seed_i, draws=draws, selection=selection
        )
        if i % COMMANDS_PER_SAVE == 0 or i == n:
            app.save(guard, policy)


def medians(loads: dict[int, Callable[[], Any]], rounds: int) -> dict[int, float]:
    """Per size, the median time of one load; the sizes alternate in who goes first."""
    for load in loads.values():  # warm up: connections, page cache, topic resolution
        load()
    times: dict[int, list[float]] = {n: [] for n in loads}
    for i in range(rounds):
        for n in loads if i % 2 == 0 else reversed(loads):
            start = time.perf_counter()
            loads[n]()
            times[n].append(time.perf_counter() - start)
    return {n: median(t) for n, t in times.items()}


def state_facts(app: SelflearnApplication, aggregate_id: UUID, interval: int) -> dict[str, Any]:
    """The aggregate as loaded, its last snapshot, and whether replaying gives the same state."""
    loaded: Any = app.repository.get(aggregate_id)
    replayed: Any = Repository(app.events).get(aggregate_id)
    assert vars(loaded) == vars(replayed), "the snapshot-based load differs from a full replay"
    assert app.snapshots is not None
    last = app.snapshots.recorder.select_events(aggregate_id, desc=True, limit=1)
    facts: dict[str, Any] = {
        "version": loaded.version,
        "snapshot_interval": interval,
        "snapshots": len(app.snapshots.recorder.select_events(aggregate_id)),
        "last_snapshot_version": last[0].originator_version,
        "events_after_snapshot": loaded.version - last[0].originator_version,
        "snapshot_state_bytes": len(last[0].state),
    }
    if isinstance(loaded, Guardrail):
        facts["admissions_held"] = len(loaded.admissions)
    elif isinstance(loaded, Policy):
        facts["arms"] = sum(len(arms) for arms in loaded.arms.values())
    return facts


def ms(value: float) -> float:
    return round(value * 1e3, 4)


def measure_aggregate(
    stores: dict[int, SelflearnApplication], aggregate_id: UUID, rounds: int, replays: int
) -> dict[str, Any]:
    small, large = sorted(stores)
    cls: type[Any] = type(stores[small].repository.get(aggregate_id))
    interval = SelflearnApplication.snapshotting_intervals[cls]
    loaded = medians(
        {n: partial(app.repository.get, aggregate_id) for n, app in stores.items()}, rounds
    )
    replayed = medians(
        {n: partial(Repository(app.events).get, aggregate_id) for n, app in stores.items()},
        replays,
    )
    # The version just before the last snapshot: the most events any load replays.
    before = {}
    for n, app in stores.items():
        version: int = app.repository.get(aggregate_id).version
        before[n] = version - version % interval - 1
    worst = medians(
        {
            n: partial(app.repository.get, aggregate_id, version=before[n])
            for n, app in stores.items()
        },
        rounds,
    )
    ratio = loaded[large] / loaded[small]
    return {
        "load_ms": {str(n): ms(t) for n, t in loaded.items()},
        "ratio_large_vs_small": round(ratio, 3),
        "bar": BAR,
        "meets_bar": ratio <= BAR,
        "no_snapshot_load_ms": {str(n): ms(t) for n, t in replayed.items()},
        "snapshot_speedup_at_large": round(replayed[large] / loaded[large], 1),
        "worst_phase": {
            "events_after_snapshot": interval - 1,
            "version": {str(n): v for n, v in before.items()},
            "load_ms": {str(n): ms(t) for n, t in worst.items()},
            "ratio_large_vs_small": round(worst[large] / worst[small], 3),
        },
        "state": {str(n): state_facts(app, aggregate_id, interval) for n, app in stores.items()},
    }


def measure(
    kind: str, sizes: tuple[int, int], rounds: int, replays: int, pg: str | None
) -> dict[str, Any]:
    result: dict[str, Any] = {"sizes": list(sizes), "loads": rounds, "full_replays": replays}
    with contextlib.ExitStack() as stack:
        stores, build_seconds = {}, {}
        for n in sizes:
            app, _ = open_store(stack.enter_context(fresh_store(kind, pg)))
            stores[n] = stack.enter_context(app)
            build_seconds[str(n)] = round(seconds(partial(build, app, n)), 2)
            app.repository.cache = None  # every get reads the store
        result["build_seconds"] = build_seconds
        for name, aggregate_id in AGGREGATES.items():
            result[name] = measure_aggregate(stores, aggregate_id, rounds, replays)
    return result


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    sizes, rounds, replays = ((100, 1_000), 21, 3) if args.quick else ((1_000, 100_000), 301, 5)
    result = {"sqlite": measure("sqlite", sizes, rounds, replays, None)}
    if args.postgres:
        result["postgres"] = measure("postgres", sizes, rounds, replays, args.postgres)
    publish("p4_snapshots", result, quick=args.quick, directory=args.results_dir)


if __name__ == "__main__":
    main()
