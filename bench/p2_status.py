"""P2: `status()` with the views caught up vs the report replayed from the whole log.

    python -m bench.p2_status [--quick] [--events N] [--results-dir DIR]

Builds a SQLite store of N events (1,000,000; 5,000 with --quick), catches the views up
once, then times `status()` (p50 of 30 calls), the replay-everything report
(`status(as_of=now)`, which folds the whole log), and `selflearn status --json` as a
whole process (median of 5).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import selflearn as sl
from bench._common import median, publish
from bench._store import build_store, store_options, timed


def main(argv: list[str] | None = None) -> None:
    args, events = store_options(__doc__ or "", "P2", argv)
    calls, replays, processes = (5, 1, 2) if args.quick else (30, 3, 5)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "p2.db"
        build_seconds, end = timed(lambda: build_store(path, events))
        url = f"sqlite:///{path}"
        with sl.LearningLoop(url, flags=sl.Flags(), clock=lambda: end, _open_existing=True) as loop:
            first_catch_up, report = timed(loop.status)
            recorded = report.store.events_recorded
            status_times = sorted(timed(loop.status)[0] for _ in range(calls))
            replay_times = [timed(lambda: loop.status(as_of=end))[0] for _ in range(replays)]
        cli_times = []
        for _ in range(processes):
            seconds, done = timed(
                lambda: subprocess.run(
                    [sys.executable, "-m", "selflearn", "status", "--json", "--store", url],
                    capture_output=True,
                    text=True,
                    check=True,
                )
            )
            json.loads(done.stdout)  # only JSON on stdout
            cli_times.append(seconds)
    p50 = median(status_times)
    replay = median(replay_times)
    publish(
        "p2_status",
        {
            "events": recorded,
            "build_seconds": round(build_seconds, 2),
            "first_catch_up_seconds": round(first_catch_up, 3),
            "status_p50_ms": round(p50 * 1000, 2),
            "status_p90_ms": round(status_times[int(0.9 * (len(status_times) - 1))] * 1000, 2),
            "replay_report_ms": round(replay * 1000, 1),
            "replay_over_status": round(replay / p50, 1),
            "cli_status_json_seconds": round(median(cli_times), 3),
            "bars": {
                "status_p50_le_50ms": p50 <= 0.050,
                "cli_status_json_le_1_5s": median(cli_times) <= 1.5,
            },
        },
        quick=args.quick,
        directory=args.results_dir,
    )


if __name__ == "__main__":
    main()
