"""The default verifier, pinned in tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

import selflearn as sl
from selflearn.verify.verifier import directional_probability

DONE = sl.ExecutionResult()
V = sl.RuleVerifier()

Metrics = Mapping[str, float | Sequence[float]]


def verdict(before: Metrics, after: Metrics) -> sl.Verdict:
    return V.verify(before, after, DONE)


@pytest.mark.parametrize(
    ("before", "after", "kind", "confidence", "pending"),
    [
        # one positive → win 0.66
        ({"health_score": 80}, {"health_score": 81}, "win", 0.66, False),
        # two positives → win 0.80
        (
            {"health_score": 80, "open_issues": 5},
            {"health_score": 81, "open_issues": 4},
            "win",
            0.80,
            False,
        ),
        # critical health drop (≤ −2) → loss 0.85
        ({"health_score": 80}, {"health_score": 78}, "loss", 0.85, False),
        # one regression alone (−1.5, not critical) → inconclusive 0.50, not weak
        ({"health_score": 80}, {"health_score": 78.5}, "inconclusive", 0.50, False),
        # two negatives → loss 0.75
        (
            {"health_score": 80, "avg_duration_ms": 100},
            {"health_score": 79, "avg_duration_ms": 300},
            "loss",
            0.75,
            False,
        ),
        # open_issues +1 is critical → loss 0.85
        ({"open_issues": 3}, {"open_issues": 4}, "loss", 0.85, False),
        # total_errors +1 regresses but is not critical (≥ +2) → inconclusive
        ({"total_errors": 3}, {"total_errors": 4}, "inconclusive", 0.50, False),
        ({"total_errors": 3}, {"total_errors": 5}, "loss", 0.85, False),
        # positive and negative → inconclusive 0.55
        (
            {"health_score": 80, "avg_duration_ms": 100},
            {"health_score": 81, "avg_duration_ms": 300},
            "inconclusive",
            0.55,
            False,
        ),
        # no measurable change → weak → pending
        ({"health_score": 80}, {"health_score": 80.2}, "inconclusive", 0.50, True),
        # change above the weak threshold but below improve → not pending
        ({"health_score": 80}, {"health_score": 80.5}, "inconclusive", 0.50, False),
        # success_rate boundaries, decimal-exact
        ({"success_rate": 0.28}, {"success_rate": 0.30}, "win", 0.66, False),
        ({"success_rate": 0.30}, {"success_rate": 0.28}, "inconclusive", 0.50, False),
        ({"success_rate": 0.30}, {"success_rate": 0.305}, "inconclusive", 0.50, True),
        # duration: −100 improves, +200 regresses, |Δ| < 50 weak
        ({"avg_duration_ms": 500}, {"avg_duration_ms": 400}, "win", 0.66, False),
        ({"avg_duration_ms": 500}, {"avg_duration_ms": 549}, "inconclusive", 0.50, True),
        # missing on either side is ignored
        ({"health_score": 80, "other": 1}, {"health_score": 81}, "win", 0.66, False),
        # nothing comparable: nothing moved, weak, rechecked
        ({"x": 1}, {"y": 2}, "inconclusive", 0.50, True),
    ],
)
def test_scalar_verdicts(
    before: Metrics, after: Metrics, kind: str, confidence: float, pending: bool
) -> None:
    """Scalar metrics: thresholds, critical, counts and confidences of the default verifier."""
    got = verdict(before, after)
    assert (kind, confidence, pending) == (
        got.kind,
        pytest.approx(got.confidence),
        got.pending_recheck,
    )


def test_signals_and_reasons_name_each_metric() -> None:
    """Each compared metric gets a signal with its Δ and direction, and a reason line."""
    got = verdict({"health_score": 80, "open_issues": 5}, {"health_score": 81.5, "open_issues": 5})
    assert got.signals["health_score"]["direction"] == "improved"
    assert got.signals["health_score"]["delta"] == pytest.approx(1.5)
    assert got.signals["open_issues"]["weak"] is True
    assert any(r.startswith("health_score improved") for r in got.reasons)


def test_samples_count_only_when_probable() -> None:
    """With samples, a Δ past the threshold counts only when P(direction) ≥ 0.9."""
    clear = verdict({"health_score": [80.0, 80.1, 79.9]}, {"health_score": [82.0, 82.1, 81.9]})
    assert clear.kind == "win"
    assert clear.confidence == pytest.approx(1.0, abs=1e-6)
    noisy = verdict({"health_score": [70.0, 90.0, 80.0]}, {"health_score": [72.0, 92.0, 81.0]})
    assert noisy.kind == "inconclusive"


def test_sample_confidence_is_the_mean_probability_of_the_deciding_metrics() -> None:
    """With samples, confidence is the mean directional probability of the deciding metrics."""
    before = {"health_score": [80.0, 81.0, 79.0, 80.0], "success_rate": [0.5, 0.5]}
    after = {"health_score": [82.0, 83.0, 81.0, 82.5], "success_rate": [0.5, 0.5]}
    got = verdict(before, after)
    p = directional_probability(before["health_score"], after["health_score"], 2.125)
    assert got.kind == "win"
    assert got.confidence == pytest.approx(p)


@pytest.mark.parametrize(
    ("before", "after", "gain", "p"),
    [
        ([1.0, 1.0], [2.0, 2.0], 1.0, 1.0),
        ([1.0, 1.0], [1.0, 1.0], 0.0, 0.5),
        ([2.0, 2.0], [1.0, 1.0], -1.0, 0.0),
    ],
)
def test_zero_standard_error(
    before: list[float], after: list[float], gain: float, p: float
) -> None:
    """A zero standard error gives 1 in the direction of a non-zero Δ, 0.5 for Δ = 0."""
    assert p == directional_probability(before, after, gain)


def test_critical_uses_the_mean_delta_without_a_probability() -> None:
    """Critical thresholds apply to Δ of means, whatever the noise."""
    got = verdict({"health_score": [60.0, 100.0]}, {"health_score": [55.0, 95.0]})
    assert got.kind == "loss"


def test_hosts_may_declare_their_own_specs() -> None:
    """A host's metric spec is used in place of the defaults."""
    verifier = sl.RuleVerifier(specs=(sl.MetricSpec("latency_p95", "lower", 10, 10, 2),))
    assert verifier.verify({"latency_p95": 120}, {"latency_p95": 100}, DONE).kind == "win"
    with pytest.raises(sl.ValidationError, match="better"):
        sl.MetricSpec("x", "sideways", 1, 1, 1)  # type: ignore[arg-type]
