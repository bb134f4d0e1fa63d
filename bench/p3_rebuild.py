"""P3: catch-up / rebuild of every view vs the raw read of the log mapped to domain events.

    python -m bench.p3_rebuild [--quick] [--events N] [--results-dir DIR]

Builds a SQLite store of N events (1,000,000; 5,000 with --quick). Then, in one process,
alternately: read the whole log in pages mapped to domain events (the baseline), and
rebuild every view (drop + catch-up). Finally `selflearn rebuild` runs as a child process
of its own, whose peak RSS is read from the kernel (ru_maxrss of the waited child).
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import selflearn as sl
from bench._common import median, publish
from bench._store import build_store, store_options, timed
from selflearn.projections.runner import PAGE_SIZE


def mapped_read(app: Any) -> int:
    """Read every notification, mapped to its domain event: the baseline."""
    count, start = 0, None
    while True:
        page = app.recorder.select_notifications(
            start=start, limit=PAGE_SIZE, inclusive_of_start=False
        )
        for notification in page:
            app.mapper.to_domain_event(notification)
        count += len(page)
        if len(page) < PAGE_SIZE:
            return count
        start = page[-1].id


def main(argv: list[str] | None = None) -> None:
    args, events = store_options(__doc__ or "", "P3", argv)
    rounds = 1 if args.quick else 2
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "p3.db"
        build_seconds, end = timed(lambda: build_store(path, events))
        url = f"sqlite:///{path}"
        # The child first, so that ru_maxrss of the waited children is its own peak.
        cli_seconds, done = timed(
            lambda: subprocess.run(
                [sys.executable, "-m", "selflearn", "rebuild", "--store", url],
                capture_output=True,
                text=True,
                check=True,
            )
        )
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        cli_rate = float(re.search(r"\(([\d,]+) events/s\)", done.stdout)[1].replace(",", ""))  # type: ignore[index]
        raw_rates, rebuild_rates = [], []
        with sl.LearningLoop(url, flags=sl.Flags(), clock=lambda: end, _open_existing=True) as loop:
            for _ in range(rounds):
                seconds, count = timed(lambda: mapped_read(loop._session.app))
                raw_rates.append(count / seconds)
                rebuild_rates.append(loop.rebuild_views().events_per_second)
    raw, rebuilt = median(raw_rates), median(rebuild_rates)
    publish(
        "p3_rebuild",
        {
            "events": count,
            "build_seconds": round(build_seconds, 2),
            "page_size": PAGE_SIZE,
            "raw_mapped_read_events_per_second": round(raw),
            "rebuild_events_per_second": round(rebuilt),
            "rebuild_over_raw": round(rebuilt / raw, 3),
            "cli_rebuild_seconds": round(cli_seconds, 2),
            "cli_rebuild_events_per_second": round(cli_rate),
            "cli_rebuild_peak_rss_mib": round(peak_kib / 1024, 1),
            "bars": {
                "rebuild_ge_0_6x_raw": rebuilt / raw >= 0.6,
                "peak_rss_le_250mib": peak_kib / 1024 <= 250,
            },
        },
        quick=args.quick,
        directory=args.results_dir,
    )


if __name__ == "__main__":
    main()
