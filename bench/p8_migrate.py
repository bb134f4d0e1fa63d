"""P8: importing 10,000 v1 proposals vs bare batched saves of the same events (bar ≤ 2×).

In the same run, each on a fresh store, alternating, medians of the repeats:
- `import`: `LearningLoop.migrate_v1(path)` — read and check the file, then record every
  row as a schema v1 event in batches (the path `selflearn migrate` takes);
- `bare_insert` (the baseline of the bar): the same stored events, their states built
  in memory beforehand, encoded by eventsourcing's transcoder and inserted by its
  recorder in batches of the same size;
- `bare_save_v2`: for scale, `app.save()` of the same proposals as native v2 aggregates,
  built beforehand, in batches of the same size.
The whole `selflearn migrate` process (interpreter start included) is timed once too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

import selflearn as sl
from bench._common import arguments, fresh_store, median, publish, seconds
from selflearn.events.migration import (
    upcast_v1_state,
    v1_proposal_id,
    v1_stored_state,
)
from selflearn.events.proposal import Proposal
from selflearn.migrate import BATCH_SIZE, PROPOSED_TOPIC
from selflearn.store import open_store
from selflearn.testing import FakeClock

IMPORTED_AT = datetime(2026, 1, 1, tzinfo=UTC)
STATUSES = ("pending_approval", "approved", "applied", "rejected", "executed", "on_hold")


def v1_rows(n: int) -> list[dict[str, Any]]:
    """Rows shaped like the earlier system's: a title, a description, a score, a date."""
    return [
        {
            "id": f"prop_{i:06d}",
            "title": f"Reduce tool timeouts, variant {i}",
            "description": "web_search timed out 3 times in the last hour; add a retry "
            "with jitter and a cache of recent results",
            "status": STATUSES[i % len(STATUSES)],
            "created": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00",
            "expected_impact": "fewer failed tool calls",
            "source_item": {"score": round((i * 7.3) % 10, 2), "source": "tool_monitor"},
        }
        for i in range(n)
    ]


def time_import(url: str, path: Path) -> float:
    loop = sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock(IMPORTED_AT), _import_v1=False)
    with loop:
        report: list[Any] = []
        elapsed = seconds(lambda: report.append(loop.migrate_v1(path)))
        assert report[0].migrated == report[0].found, report[0]
    return elapsed


def time_bare_insert(url: str, rows: list[dict[str, Any]]) -> float:
    app, _ = open_store(url)
    with app:
        states = [(v1_proposal_id(r["id"]), v1_stored_state(r, IMPORTED_AT)) for r in rows]

        def insert() -> None:
            encode = app.mapper.transcoder.encode
            for start in range(0, len(states), BATCH_SIZE):
                app.recorder.insert_events(
                    [
                        StoredEvent(
                            originator_id=pid,
                            originator_version=1,
                            topic=PROPOSED_TOPIC,
                            state=encode(state),
                        )
                        for pid, state in states[start : start + BATCH_SIZE]
                    ]
                )

        return seconds(insert)


def native(pid: UUID, row: dict[str, Any]) -> Proposal:
    state = {"originator_id": pid, "originator_version": 1, **v1_stored_state(row, IMPORTED_AT)}
    upcast_v1_state(state, aggregate_topic="selflearn.events.proposal:Proposal")
    fields = {
        k: v
        for k, v in state.items()
        if k not in ("originator_id", "originator_version", "originator_topic", "timestamp")
    }
    return Proposal(id=pid, **fields)


def time_bare_save_v2(url: str, rows: list[dict[str, Any]]) -> float:
    app, _ = open_store(url)
    with app:
        aggregates = [native(v1_proposal_id(r["id"]), r) for r in rows]

        def save() -> None:
            for start in range(0, len(aggregates), BATCH_SIZE):
                app.save(*aggregates[start : start + BATCH_SIZE])

        return seconds(save)


def time_cli(url: str, path: Path) -> float:
    command = [sys.executable, "-m", "selflearn", "migrate", "--from", str(path), "--store", url]
    return seconds(lambda: subprocess.run(command, check=True, capture_output=True))


def measure(kind: str, rows: list[dict[str, Any]], path: Path, repeats: int, pg: str | None):
    times: dict[str, list[float]] = {"import": [], "bare_insert": [], "bare_save_v2": []}
    for repeat in range(repeats):
        order = list(times) if repeat % 2 == 0 else list(reversed(times))
        for name in order:
            with fresh_store(kind, pg) as url:
                if name == "import":
                    times[name].append(time_import(url, path))
                elif name == "bare_insert":
                    times[name].append(time_bare_insert(url, rows))
                else:
                    times[name].append(time_bare_save_v2(url, rows))
    with fresh_store(kind, pg) as url:
        cli = time_cli(url, path)
    medians = {name: median(values) for name, values in times.items()}
    n = len(rows)
    return {
        "rows": n,
        "batch_size": BATCH_SIZE,
        "repeats": repeats,
        "seconds": {name: round(value, 4) for name, value in medians.items()},
        "rows_per_second": {name: round(n / value) for name, value in medians.items()},
        "runs_seconds": {name: [round(v, 4) for v in values] for name, values in times.items()},
        "cli_process_seconds": round(cli, 3),
        "ratio_import_vs_bare_insert": round(medians["import"] / medians["bare_insert"], 3),
        "ratio_import_vs_bare_save_v2": round(medians["import"] / medians["bare_save_v2"], 3),
        "bar": 2.0,
        "meets_bar": medians["import"] / medians["bare_insert"] <= 2.0,
    }


def main() -> None:
    args = arguments(__doc__ or "").parse_args()
    n, repeats = (200, 1) if args.quick else (10_000, 5)
    rows = v1_rows(n)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "improvement_proposals.json"
        path.write_text(json.dumps({"proposals": rows}))
        result["sqlite"] = measure("sqlite", rows, path, repeats, None)
        if args.postgres:
            result["postgres"] = measure("postgres", rows, path, repeats, args.postgres)
    publish("p8_migrate", result, quick=args.quick, directory=args.results_dir)


if __name__ == "__main__":
    main()
