"""P9: how honest the verdicts are: false wins and losses, power, single-metric harm, calibration.

    python -m bench.p9_verdicts [--quick] [--runs N] [--workers W] [--engine verifier]

Each run is a proposal whose effect is known. Its baseline is `n` samples of each metric;
each attempt measures `n` new after-samples; the run stops at its first final verdict
(win, loss, or an inconclusive that is not pending a recheck), and after `max attempts`
an attempt still pending ends the run `inconclusive` (exhausted) — the decisions the cycle
takes. One run of 10 attempts gives the outcome for every attempt limit at once (1, 3,
10), since an attempt sees only the attempts before it.

The metrics are the default specs' (`health_score`, and for four metrics `success_rate`,
`avg_duration_ms`, `total_errors` too), judged by the default verifier (α = 0.05). The
samples of a metric are normal with standard deviation σ = noise × the metric's `improve`
threshold, around a realistic level (80, 0.9, 900 ms, 4 errors), shifted after the
execution by the true effect in the metric's better direction.

- **A/A**: no effect. n ∈ {5, 10, 30, 100}, noise ∈ {0.25, 0.5, 1, 2, 4}, 1 and 4
  metrics, at most 1, 3, 10 attempts: false wins and false losses, each ≤ α + 2 SE
  (SE = √(α(1 − α)/runs)) in every cell.
- **Power**: +0.5 σ on one metric, n = 50 per attempt, at most 10 attempts, noise = 10
  (so `improve` = `regress` = 0.1 σ, a practical margin well below the effect): ≥ 70 %
  wins. One metric where higher is better, one where lower is; four metrics with the
  effect on one of them is reported beside (each metric then tested at α/4).
- **Harm**: −0.5 σ on one metric, same set-up: ≥ 70 % losses and ≤ α wins.
- **Calibration**: with no effect, P(win with confidence ≥ c) ≤ 1 − c (+ 2 SE), and the
  same for losses, for c = 0.95, 0.99, 0.999, in every A/A cell (at 10 attempts) and the
  A/A twin of the power set-up. And in a population half without effect (that twin),
  half with the power effect: among wins, the share without effect ≤ 1 − c at c = 1 − α,
  the confidence every win is declared at; the shares above it are reported (a run stops
  at the first attempt past 1 − α, so few wins are declared much above it).

`--engine verifier` (this phase) judges each run's attempts with
`RuleVerifier.judge_run`, which gives attempt k exactly what `verify_run(before,
afters[:k])` gives. Another engine (through `LearningLoop.tick()`) plugs in with the same
cells, samples and tallies: an engine turns a cell and a range of runs into outcomes.
Samples come from NumPy generators seeded by the cell's name and the run's index.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bench._common import arguments, publish
from selflearn.verify import DEFAULT_SPECS, RuleVerifier

ALPHA = 0.05
LEVELS = {"health_score": 80.0, "success_rate": 0.9, "avg_duration_ms": 900.0, "total_errors": 4.0}
SPECS = {spec.name: spec for spec in DEFAULT_SPECS}
ONE = ("health_score",)
ONE_LOWER = ("total_errors",)
FOUR = ("health_score", "success_rate", "avg_duration_ms", "total_errors")
ATTEMPTS = (1, 3, 10)
CONFIDENCES = (0.95, 0.99, 0.999)


@dataclass(frozen=True)
class Cell:
    """A set-up: metrics, samples per attempt, noise, true effects, attempt limits."""

    name: str
    metrics: tuple[str, ...]
    n: int
    noise: float
    """σ of one sample, in units of each metric's `improve` threshold."""
    effects: tuple[float, ...] = ()
    """The true effect on each metric, in σ, in its better direction (empty: none)."""
    max_attempts: tuple[int, ...] = ATTEMPTS

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode())

    def effect(self, i: int) -> float:
        return self.effects[i] if self.effects else 0.0


def samples(
    cell: Cell, run: int
) -> tuple[dict[str, list[float]], Iterator[dict[str, list[float]]]]:
    """A run's baseline and its attempts' after-samples (a lazy iterator), seeded."""
    rng = np.random.default_rng([cell.seed, run])
    sigmas = [cell.noise * float(SPECS[m].improve) for m in cell.metrics]
    shifts = [
        cell.effect(i) * s * (1.0 if SPECS[m].better == "higher" else -1.0)
        for i, (m, s) in enumerate(zip(cell.metrics, sigmas, strict=True))
    ]
    before = {
        m: rng.normal(LEVELS[m], s, cell.n).tolist()
        for m, s in zip(cell.metrics, sigmas, strict=True)
    }

    def afters() -> Iterator[dict[str, list[float]]]:
        while True:
            yield {
                m: rng.normal(LEVELS[m] + shift, s, cell.n).tolist()
                for m, s, shift in zip(cell.metrics, sigmas, shifts, strict=True)
            }

    return before, afters()


Outcome = tuple[str, float, int, bool]
"""(verdict, confidence, attempts used, exhausted) for one attempt limit."""


class Engine(Protocol):
    """Turns runs of a cell into outcomes, one per attempt limit of the cell."""

    name: str

    def outcomes(self, cell: Cell, runs: range) -> list[tuple[Outcome, ...]]: ...


class VerifierEngine:
    """The default verifier on each run's attempts, with the cycle's stopping rule."""

    name = "verifier"

    def __init__(self) -> None:
        self.verifier = RuleVerifier(alpha=ALPHA)

    def outcomes(self, cell: Cell, runs: range) -> list[tuple[Outcome, ...]]:
        limit = max(cell.max_attempts)
        result = []
        for run in runs:
            before, stream = samples(cell, run)
            afters = [next(stream)]
            looks = self.verifier.judge_run(before, afters)
            if not looks[0].final and limit > 1:
                # Most runs that end at once end at attempt 1; judge the rest in one pass.
                afters += [next(stream) for _ in range(limit - 1)]
                looks = self.verifier.judge_run(before, afters)
            result.append(tuple(stop(looks, k) for k in cell.max_attempts))
        return result


def stop(looks: Sequence[Any], limit: int) -> Outcome:
    """The first final verdict within `limit` attempts, else exhausted at the limit."""
    for look in looks[:limit]:
        if look.final:
            return look.kind, look.confidence, look.number, False
    last = looks[min(limit, len(looks)) - 1]
    return "inconclusive", last.confidence, last.number, True


ENGINES: dict[str, type[VerifierEngine]] = {"verifier": VerifierEngine}


def _task(job: tuple[str, Cell, int, int]) -> list[tuple[Outcome, ...]]:
    engine, cell, start, stop_at = job
    return ENGINES[engine]().outcomes(cell, range(start, stop_at))


@dataclass
class Tally:
    """Outcomes of a cell at one attempt limit."""

    runs: int = 0
    wins: int = 0
    losses: int = 0
    exhausted: int = 0
    final_inconclusive: int = 0
    attempts: int = 0
    confident_wins: list[int] = field(default_factory=lambda: [0] * len(CONFIDENCES))
    confident_losses: list[int] = field(default_factory=lambda: [0] * len(CONFIDENCES))

    def add(self, outcome: Outcome) -> None:
        kind, confidence, attempts, exhausted = outcome
        self.runs += 1
        self.attempts += attempts
        if kind == "win":
            self.wins += 1
        elif kind == "loss":
            self.losses += 1
        elif exhausted:
            self.exhausted += 1
        else:
            self.final_inconclusive += 1
        counts = {"win": self.confident_wins, "loss": self.confident_losses}.get(kind)
        for i, c in enumerate(CONFIDENCES):
            if counts is not None and confidence >= c:
                counts[i] += 1

    def figures(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "wins": round(self.wins / self.runs, 5),
            "losses": round(self.losses / self.runs, 5),
            "no_meaningful_effect": round(self.final_inconclusive / self.runs, 5),
            "exhausted": round(self.exhausted / self.runs, 5),
            "mean_attempts": round(self.attempts / self.runs, 3),
        }


def measure(
    pool: ProcessPoolExecutor, engine: str, cells: Sequence[Cell], runs: int, chunk: int
) -> dict[str, dict[int, Tally]]:
    """Every cell's runs, spread over the pool in chunks, tallied per attempt limit."""
    jobs = [
        (engine, cell, start, min(start + chunk, runs))
        for cell in cells
        for start in range(0, runs, chunk)
    ]
    tallies = {cell.name: {k: Tally() for k in cell.max_attempts} for cell in cells}
    for (_, cell, _, _), outcomes in zip(jobs, pool.map(_task, jobs), strict=True):
        for per_limit in outcomes:
            for k, outcome in zip(cell.max_attempts, per_limit, strict=True):
                tallies[cell.name][k].add(outcome)
    return tallies


def se(p: float, runs: int) -> float:
    return math.sqrt(p * (1.0 - p) / runs)


def aa_cells() -> list[Cell]:
    return [
        Cell(f"aa/{len(metrics)}m/n{n}/noise{noise}", metrics, n, noise)
        for metrics in (ONE, FOUR)
        for n in (5, 10, 30, 100)
        for noise in (0.25, 0.5, 1.0, 2.0, 4.0)
    ]


def effect_cells() -> dict[str, Cell]:
    """Power, harm and their A/A twin: n = 50, improve = regress = 0.1 σ, 10 attempts."""
    ten = (10,)
    return {
        "null_1": Cell("null/1m", ONE, 50, 10.0, (), ten),
        "null_4": Cell("null/4m", FOUR, 50, 10.0, (), ten),
        "power_1": Cell("power/health_score", ONE, 50, 10.0, (0.5,), ten),
        "power_1_lower": Cell("power/total_errors", ONE_LOWER, 50, 10.0, (0.5,), ten),
        "power_4": Cell("power/4m", FOUR, 50, 10.0, (0.5, 0.0, 0.0, 0.0), ten),
        "harm_1": Cell("harm/health_score", ONE, 50, 10.0, (-0.5,), ten),
        "harm_1_lower": Cell("harm/total_errors", ONE_LOWER, 50, 10.0, (-0.5,), ten),
        "harm_4": Cell("harm/4m", FOUR, 50, 10.0, (0.0, -0.5, 0.0, 0.0), ten),
    }


def confident_under_no_effect(tallies: Sequence[Tally]) -> list[dict[str, Any]]:
    """P(win with confidence ≥ c) and P(loss with confidence ≥ c) with no effect, the
    largest over the cells, against 1 − c + 2 SE."""
    rows = []
    for i, c in enumerate(CONFIDENCES):
        wins = max(t.confident_wins[i] / t.runs for t in tallies)
        losses = max(t.confident_losses[i] / t.runs for t in tallies)
        runs = min(t.runs for t in tallies)
        bar = (1 - c) + 2 * se(1 - c, runs)
        rows.append(
            {
                "confidence_at_least": c,
                "wins": round(wins, 5),
                "losses": round(losses, 5),
                "bar": round(bar, 5),
                "met": wins <= bar and losses <= bar,
            }
        )
    return rows


def share_without_effect(null: Tally, real: Tally) -> list[dict[str, Any]]:
    """Among the wins with confidence ≥ c of a half-null, half-effect population, the
    share that had no effect; every win is declared at confidence ≥ 1 − α, where the bar
    applies (the other levels are reported: wins stop at the first attempt past 1 − α)."""
    rows = []
    for i, c in enumerate(CONFIDENCES):
        false, true = null.confident_wins[i], real.confident_wins[i]
        share = false / (false + true) if false + true else 0.0
        row: dict[str, Any] = {
            "confidence_at_least": c,
            "wins": false + true,
            "no_effect": false,
            "share_no_effect": round(share, 5),
            "one_minus_c": round(1 - c, 5),
        }
        if c <= 1 - ALPHA:
            row["met"] = share <= 1 - c
        rows.append(row)
    return rows


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--runs", type=int, default=None, help="runs per cell (10,000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engine", choices=sorted(ENGINES), default="verifier")
    args = parser.parse_args()
    runs = args.runs or (40 if args.quick else 10_000)
    chunk = max(10, min(500, runs // 8))
    started = time.perf_counter()
    grid = aa_cells()
    others = effect_cells()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        aa = measure(pool, args.engine, grid, runs, chunk)
        effects = measure(pool, args.engine, list(others.values()), runs, chunk)
    bar = ALPHA + 2 * se(ALPHA, runs)
    rows = []
    for cell in grid:
        for k in cell.max_attempts:
            figures = aa[cell.name][k].figures()
            rows.append(
                {
                    "metrics": len(cell.metrics),
                    "n": cell.n,
                    "noise": cell.noise,
                    "max_attempts": k,
                    **figures,
                    "met": figures["wins"] <= bar and figures["losses"] <= bar,
                }
            )
    worst_wins = max(rows, key=lambda r: r["wins"])
    worst_losses = max(rows, key=lambda r: r["losses"])
    effect = {key: effects[cell.name][10] for key, cell in others.items()}
    power = {key: effect[key].figures() for key in ("power_1", "power_1_lower", "power_4")}
    harm = {key: effect[key].figures() for key in ("harm_1", "harm_1_lower", "harm_4")}
    nulls = {key: effect[key].figures() for key in ("null_1", "null_4")}
    no_effect = [aa[cell.name][max(cell.max_attempts)] for cell in grid]
    no_effect += [effect["null_1"], effect["null_4"]]
    calibrations = {
        "under_no_effect": confident_under_no_effect(no_effect),
        "share_1_metric": share_without_effect(effect["null_1"], effect["power_1"]),
        "share_4_metrics": share_without_effect(effect["null_4"], effect["power_4"]),
    }
    result = {
        "engine": args.engine,
        "alpha": ALPHA,
        "runs_per_cell": runs,
        "aa_bar": round(bar, 5),
        "aa": rows,
        "aa_worst": {"false_wins": worst_wins, "false_losses": worst_losses},
        "null_at_power_setup": nulls,
        "power": power,
        "harm": harm,
        "calibration": calibrations,
        "bars": {
            "aa_false_wins": worst_wins["wins"] <= bar,
            "aa_false_losses": worst_losses["losses"] <= bar,
            "power_wins": min(power["power_1"]["wins"], power["power_1_lower"]["wins"]) >= 0.70,
            "harm_losses": min(harm["harm_1"]["losses"], harm["harm_1_lower"]["losses"]) >= 0.70,
            "harm_wins": max(h["wins"] for h in harm.values()) <= bar,
            "calibration": all(
                row.get("met", True) for rows in calibrations.values() for row in rows
            ),
        },
        "workers": args.workers,
        "seconds": round(time.perf_counter() - started, 1),
    }
    publish("p9_verdicts", result, quick=args.quick, directory=args.results_dir)


if __name__ == "__main__":
    main()
