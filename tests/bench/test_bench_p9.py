"""P9 runs on a tiny size; its cells, samples and stopping rule are checked directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bench.p9_verdicts import (
    ATTEMPTS,
    FOUR,
    ONE_LOWER,
    Cell,
    Tally,
    VerifierEngine,
    aa_cells,
    effect_cells,
    samples,
    stop,
)

import selflearn as sl
from tests.bench.test_bench import run_bench


def test_the_grid_covers_every_cell() -> None:
    """4 sample sizes × 5 noise levels × 1 and 4 metrics, each at 1, 3 and 10 attempts."""
    cells = aa_cells()
    assert 40 == len(cells)
    assert {(5, 10, 30, 100)} == {tuple(sorted({c.n for c in cells}))}
    assert {0.25, 0.5, 1.0, 2.0, 4.0} == {c.noise for c in cells}
    assert {1, 4} == {len(c.metrics) for c in cells}
    assert all(c.max_attempts == ATTEMPTS == (1, 3, 10) for c in cells)
    assert len({c.seed for c in cells}) == len(cells)
    power = effect_cells()["power_1"]
    assert (50, 10.0, (0.5,), (10,)) == (power.n, power.noise, power.effects, power.max_attempts)


def test_samples_are_seeded_and_shifted_in_the_better_direction() -> None:
    """The same run gives the same samples; an effect moves a "lower" metric down."""
    cell = Cell("t", ONE_LOWER, 2_000, 2.0, (0.5,))
    before, afters = samples(cell, 7)
    again, _ = samples(cell, 7)
    assert before == again
    after = next(afters)
    sigma = 2.0 * 1  # noise × improve of total_errors
    assert np.std(before["total_errors"]) == pytest.approx(sigma, rel=0.1)
    shift = np.mean(after["total_errors"]) - np.mean(before["total_errors"])
    assert shift == pytest.approx(-0.5 * sigma, abs=0.15)


def test_stop_takes_the_first_final_verdict_within_the_limit() -> None:
    """The cycle's rule: the first final attempt decides; a run pending at the limit ends
    inconclusive, exhausted."""
    verifier = sl.RuleVerifier()
    before = {"health_score": 80.0}
    afters = [{"health_score": 80.1}, {"health_score": 80.2}, {"health_score": 81.5}]
    looks = verifier.judge_run(before, afters)
    assert [True, True, False] == [look.pending_recheck for look in looks]
    assert ("inconclusive", 0.5, 1, True) == stop(looks, 1)
    assert ("win", 0.66, 3, False) == stop(looks, 3)
    assert ("win", 0.66, 3, False) == stop(looks, 10)


def test_the_engine_gives_what_verify_run_gives_at_the_stopping_attempt() -> None:
    """Each outcome is the verdict `verify_run` gives on the attempts up to the stop."""
    cell = Cell("check", FOUR, 10, 2.0)
    outcomes = VerifierEngine().outcomes(cell, range(5))
    verifier = sl.RuleVerifier()
    for run, per_limit in enumerate(outcomes):
        before, stream = samples(cell, run)
        afters = [next(stream) for _ in range(10)]
        for (kind, confidence, used, exhausted), limit in zip(per_limit, ATTEMPTS, strict=True):
            verdict = verifier.verify_run(before, afters[:used], sl.ExecutionResult())
            assert (kind, confidence) == (
                "inconclusive" if exhausted else verdict.kind,
                verdict.confidence,
            )
            assert used <= limit
            assert exhausted == (verdict.pending_recheck and used == limit)


def test_tally_counts_confident_verdicts() -> None:
    tally = Tally()
    for outcome in [("win", 0.96, 1, False), ("win", 0.995, 2, False), ("loss", 0.9991, 1, False)]:
        tally.add(outcome)
    tally.add(("inconclusive", 0.2, 10, True))
    assert ([2, 1, 0], [1, 1, 1]) == (tally.confident_wins, tally.confident_losses)
    assert {"wins": 0.5, "losses": 0.25, "exhausted": 0.25, "mean_attempts": 3.5}.items() <= (
        tally.figures().items()
    )


@pytest.mark.slow
def test_p9_verdicts_quick(tmp_path: Path) -> None:
    """P9 reports every A/A cell, power, harm and calibration, and each bar as a boolean."""
    result: dict[str, Any] = run_bench("p9_verdicts", tmp_path)
    assert ("verifier", 0.05, 40) == (
        result["engine"],
        result["alpha"],
        result["runs_per_cell"],
    )
    assert 120 == len(result["aa"])
    for row in result["aa"]:
        assert 40 == row["runs"]
        total = row["wins"] + row["losses"] + row["no_meaningful_effect"] + row["exhausted"]
        assert total == pytest.approx(1.0)
        assert 1 <= row["mean_attempts"] <= row["max_attempts"]
    assert {"power_1", "power_1_lower", "power_4"} == set(result["power"])
    assert {"harm_1", "harm_1_lower", "harm_4"} == set(result["harm"])
    assert {"under_no_effect", "share_1_metric", "share_4_metrics"} == set(result["calibration"])
    assert {
        "aa_false_wins",
        "aa_false_losses",
        "power_wins",
        "harm_losses",
        "harm_wins",
        "calibration",
    } == set(result["bars"])
    assert all(isinstance(met, bool) for met in result["bars"].values())


def test_the_guard_comparison_uses_the_verifiers_radius() -> None:
    """The vectorized radius of `bench.p9_guard` is the library's one-sided radius."""
    from bench.p9_guard import one_sided_radius as vectorized

    from selflearn.verify.sequential import one_sided_radius

    variance = np.array([0.01, 0.04, 2.0])
    tau2 = np.array([0.08, 0.01, 0.5])
    got = vectorized(variance, tau2, 0.0125)
    for v, t2, r in zip(variance, tau2, got, strict=True):
        assert r == pytest.approx(one_sided_radius(float(v), float(t2) ** 0.5, 0.0125), rel=1e-9)


@pytest.mark.slow
def test_p9_guard_quick(tmp_path: Path) -> None:
    """The design comparison reports every guard and scale with its A/A worst case."""
    result: dict[str, Any] = run_bench("p9_guard", tmp_path)
    assert "student_t/three_se" == result["chosen"]
    assert {
        f"{g}/{s}" for g in ("none", "inflate", "student_t") for s in ("improve", "three_se")
    } == set(result["choices"])
    for figures in result["choices"].values():
        assert {"wins", "losses"} == set(figures["aa_worst"])
        assert 0 <= figures["power_wins"] <= 1
