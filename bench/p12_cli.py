"""P12: how fast the command line starts, against a bare import of eventsourcing.

    python -m bench.p12_cli [--quick] [--runs N] [--results-dir DIR]

Three commands, each a fresh process, in the same run:
- `baseline`: `python -c "import eventsourcing.application, eventsourcing.sqlite"` — the
  least any selflearn process that opens a store pays;
- `help`: `selflearn --help` (bar ≤ 2.5× the baseline);
- `status_json`: `selflearn status --json` on a small SQLite store whose views are already
  caught up (bar ≤ 4× the baseline).
Like hyperfine: warm-up runs first (not timed), then N rounds, each running the three
commands once in a rotating order so that the machine's noise falls on all of them; wall
time of each process (and, for information, the CPU time it used); medians, and the
ratios of the medians. Compiled bytecode is cached, as an installed package has it.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import selflearn as sl
from bench._common import arguments, median, publish
from selflearn.testing import FakeClock, FakeExecutor, FakeProbe

BASELINE = "import eventsourcing.application, eventsourcing.sqlite"
BARS = {"help": 2.5, "status_json": 4.0}
#: Variables of the caller's environment the measured processes do without.
DROPPED = frozenset({"SELFLEARN_STORE", "PYTHONDONTWRITEBYTECODE"})


def selflearn_command() -> list[str]:
    """How an operator starts selflearn: the installed script beside this Python, else
    `python -m selflearn`."""
    script = Path(sys.executable).with_name("selflearn")
    return [str(script)] if script.exists() else [sys.executable, "-m", "selflearn"]


def build_store(path: Path, proposals: int, cycles: int) -> int:
    """A small store written by the loop: proposals, runs, verifications; returns the
    number of events. Its views are caught up by a first `status`."""
    url = f"sqlite:///{path}"
    clock = FakeClock(datetime.now(UTC) - timedelta(days=1))
    probe = FakeProbe({"health_score": 80.0})
    flags = sl.Flags(selflearn_v1_store="")
    with sl.LearningLoop(
        url, flags=flags, clock=clock, probe=probe, executor=FakeExecutor(probe=probe), seed=12
    ) as loop:
        for i in range(proposals):
            loop.propose(sl.ProposalDraft(title=f"Change {i}", priority=0.9, risk_level="low"))
        for _ in range(cycles):
            loop.tick()
            clock.advance(timedelta(minutes=15))
        return loop.status().store.events_recorded


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """The wall time of one process, and the CPU time (user + system) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def main(argv: list[str] | None = None) -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=None, help="timed rounds (default 40)")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 40)
    warmup = 1 if args.quick else 3
    proposals, cycles = (5, 2) if args.quick else (30, 20)
    with tempfile.TemporaryDirectory() as directory:
        # Compiled bytecode is cached (in the temporary directory), as an installed package
        # has it: the warm-up runs write it, the timed runs read it.
        env = {
            **{k: v for k, v in os.environ.items() if k not in DROPPED},
            "PYTHONPYCACHEPREFIX": str(Path(directory) / "pycache"),
        }
        path = Path(directory) / "p12.db"
        events = build_store(path, proposals, cycles)
        store = f"sqlite:///{path}"
        commands = {
            "baseline": [sys.executable, "-c", BASELINE],
            "help": [*selflearn_command(), "--help"],
            "status_json": [*selflearn_command(), "status", "--json", "--store", store],
        }
        done = subprocess.run(commands["status_json"], capture_output=True, env=env, check=True)
        assert events == json.loads(done.stdout)["store"]["events_recorded"]
        names = list(commands)
        for _ in range(warmup):
            for name in names:
                run_once(commands[name], env)
        times: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(runs):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                wall, used = run_once(commands[name], env)
                times[name].append(wall)
                cpu[name].append(used)
    medians = {name: median(values) for name, values in times.items()}
    ratios = {name: medians[name] / medians["baseline"] for name in BARS}
    cpu_medians = {name: median(values) for name, values in cpu.items()}
    publish(
        "p12_cli",
        {
            "runs": runs,
            "store_events": events,
            "command": " ".join(Path(part).name for part in selflearn_command()),
            "seconds": {
                name: {
                    "median": round(medians[name], 4),
                    "min": round(min(values), 4),
                    "max": round(max(values), 4),
                    "stdev": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
                }
                for name, values in times.items()
            },
            "ratios": {f"{name}_vs_baseline": round(ratios[name], 2) for name in BARS},
            "cpu_seconds": {name: round(value, 4) for name, value in cpu_medians.items()},
            "cpu_ratios": {
                f"{name}_vs_baseline": round(cpu_medians[name] / cpu_medians["baseline"], 2)
                for name in BARS
            },
            "bars": {f"{name}_le_{bar:g}x": ratios[name] <= bar for name, bar in BARS.items()},
        },
        quick=args.quick,
        directory=args.results_dir,
    )


if __name__ == "__main__":
    main()
