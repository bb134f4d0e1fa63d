"""P5: loading a proposal imported as v1 (upcast on load) vs the same proposal recorded as v2.

Pairs of proposals with the same fields go into one store: one imported from a v1 row
(`LearningLoop.migrate_v1`), the other recorded natively with the v2 fields the upcaster
gives that row. Both then get the same run: approval, start, execution, one verification
attempt and convergence. Each is loaded from the store with the repository's cache off,
alternating imported and native, in two shapes — just created (`proposed`, one event,
where the upcast weighs most) and after its run (`with_run`, six events). Bar: ≤ 1.2×.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import selflearn as sl
from bench._common import arguments, fresh_store, median, publish
from bench.p8_migrate import native, v1_rows
from selflearn.events.migration import v1_proposal_id
from selflearn.events.proposal import Proposal
from selflearn.testing import FakeClock

AT = datetime(2026, 1, 1, tzinfo=UTC)


def run_through(loop: sl.LearningLoop, pid: UUID) -> None:
    """Approve, start, execute, verify and converge the proposal: the same for both kinds."""
    run_id = f"run-{pid}"

    def attempt() -> None:
        p = loop._session.load(pid, Proposal)
        assert p is not None
        p.approve(at=AT, actor="bench", reason="bench", policy_arms={"approve_threshold": "0.82"})
        p.start_run(
            at=AT,
            run_id=run_id,
            mode="safe",
            mode_reason="default_safe_mode",
            decision={"priority": p.priority},
            lease_until=AT + timedelta(minutes=15),
        )
        p.record_execution(
            at=AT,
            run_id=run_id,
            baseline={"health_score": 80.0},
            status="completed",
            cost_usd=0.01,
            duration_ms=120.0,
            artifacts={},
            error=None,
        )
        p.record_attempt(
            at=AT,
            run_id=run_id,
            attempt=1,
            before={"health_score": 80.0},
            after={"health_score": 82.0},
            delta={"health_score": 2.0},
            signals={"weak": False},
            verdict="win",
            confidence=0.66,
            pending_recheck=False,
            reasons=["improved"],
            error=None,
        )
        p.converge(
            at=AT,
            run_id=run_id,
            verdict="win",
            confidence=0.66,
            exhausted=False,
            reason="converged at attempt 1: win",
            credited_arms={},
            cooldown_until=None,
        )
        loop._session.app.save(p)

    loop._session.retry(attempt, what="bench run")


def load_seconds(loop: sl.LearningLoop, ids: list[UUID], rounds: int) -> list[float]:
    """Per round, the mean time to load one of `ids` from the store (no cache)."""
    get: Callable[[UUID], Any] = loop._session.app.repository.get
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for pid in ids:
            get(pid)
        means.append((time.perf_counter() - start) / len(ids))
    return means


def measure(kind: str, n: int, rounds: int, pg: str | None) -> dict[str, Any]:
    rows = [{**row, "status": "pending_approval"} for row in v1_rows(n)]
    result: dict[str, Any] = {"proposals_per_kind": n, "rounds": rounds}
    with fresh_store(kind, pg) as url, tempfile.TemporaryDirectory() as directory:
        loop = sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock(AT), _import_v1=False)
        with loop:
            path = Path(directory) / "v1.json"
            path.write_text(json.dumps({"proposals": rows}))
            loop.migrate_v1(path)
            imported = [v1_proposal_id(row["id"]) for row in rows]
            natives = [native(uuid4(), row) for row in rows]
            loop._session.app.save(*natives)
            recorded = [p.id for p in natives]
            loop._session.app.repository.cache = None  # every get reads the store
            same = ("_id", "_created_on", "_modified_on")
            twins = [vars(loop._session.app.repository.get(ids[0])) for ids in (imported, recorded)]
            assert [{k: v for k, v in t.items() if k not in same} for t in twins[:1]] * 2 == [
                {k: v for k, v in t.items() if k not in same} for t in twins
            ], "the imported and the native proposal should have the same state"
            for shape in ("proposed", "with_run"):
                if shape == "with_run":
                    for pid in imported + recorded:
                        run_through(loop, pid)
                times: dict[str, list[float]] = {"imported_v1": [], "native_v2": []}
                for i in range(rounds):  # alternate which kind goes first
                    pairs = [("imported_v1", imported), ("native_v2", recorded)]
                    for name, ids in pairs if i % 2 == 0 else reversed(pairs):
                        times[name].extend(load_seconds(loop, ids, 1))
                medians = {name: median(values) for name, values in times.items()}
                ratio = medians["imported_v1"] / medians["native_v2"]
                result[shape] = {
                    "load_microseconds": {k: round(v * 1e6, 2) for k, v in medians.items()},
                    "ratio_imported_vs_native": round(ratio, 3),
                    "bar": 1.2,
                    "meets_bar": ratio <= 1.2,
                }
    return result


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    n, rounds = (20, 3) if args.quick else (500, 21)
    result = {"sqlite": measure("sqlite", n, rounds, None)}
    if args.postgres:
        result["postgres"] = measure("postgres", n, rounds, args.postgres)
    publish("p5_upcast", result, quick=args.quick, directory=args.results_dir)


if __name__ == "__main__":
    main()
