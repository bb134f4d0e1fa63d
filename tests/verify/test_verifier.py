"""The default verifier: how each metric is judged, the verdict, and what it records.

The tables replace those of the first verifier (per-attempt thresholds with Welch tests):
one harmed metric is now a loss, single readings without a declared noise are exact,
samples are judged by an always-valid sequential test pooled over the attempts.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import selflearn as sl
from selflearn.verify import (
    DEFAULT_SPECS,
    VERIFIER_NAME,
    VERIFIER_VERSION,
    MetricSpec,
    RuleVerifier,
    deltas,
    mean_of,
)
from selflearn.verify.sequential import mixing_scale, sequential_test

DONE = sl.ExecutionResult()
V = sl.RuleVerifier()

Metrics = Mapping[str, float | Sequence[float]]


def verdict(before: Metrics, after: Metrics, verifier: RuleVerifier = V) -> sl.Verdict:
    return verifier.verify(before, after, DONE)


def record(got: sl.Verdict, name: str) -> dict[str, Any]:
    metrics: dict[str, dict[str, Any]] = got.signals["metrics"]
    return metrics[name]


def gauss(mean: float, sd: float, n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, sd) for _ in range(n)]


# -- exact readings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "kind", "confidence", "pending", "outcome"),
    [
        # one exact improvement → win 0.66 (80 → 81 is judged exact, not a sample)
        ({"health_score": 80}, {"health_score": 81}, "win", 0.66, False, "helped"),
        # two → win 0.80
        (
            {"health_score": 80, "open_issues": 5},
            {"health_score": 81, "open_issues": 4},
            "win",
            0.80,
            False,
            "helped",
        ),
        # critical health drop (≤ −2) → loss 0.85
        ({"health_score": 80}, {"health_score": 78}, "loss", 0.85, False, "critical"),
        # one harmed metric is a loss on its own (it was inconclusive before)
        ({"health_score": 80}, {"health_score": 78.5}, "loss", 0.75, False, "harmed"),
        ({"total_errors": 3}, {"total_errors": 4}, "loss", 0.75, False, "harmed"),
        ({"success_rate": 0.30}, {"success_rate": 0.28}, "loss", 0.75, False, "harmed"),
        # two harmed → loss 0.75
        (
            {"health_score": 80, "avg_duration_ms": 100},
            {"health_score": 79, "avg_duration_ms": 300},
            "loss",
            0.75,
            False,
            "harmed",
        ),
        # open_issues +1 is critical; total_errors +2 too
        ({"open_issues": 3}, {"open_issues": 4}, "loss", 0.85, False, "critical"),
        ({"total_errors": 3}, {"total_errors": 5}, "loss", 0.85, False, "critical"),
        # one helped and one harmed → the harm wins: loss (it was inconclusive 0.55)
        (
            {"health_score": 80, "avg_duration_ms": 100},
            {"health_score": 81, "avg_duration_ms": 300},
            "loss",
            0.75,
            False,
            "harmed",
        ),
        # every metric below its weak threshold → pending a recheck
        ({"health_score": 80}, {"health_score": 80.2}, "inconclusive", 0.50, True, "weak"),
        ({"success_rate": 0.30}, {"success_rate": 0.305}, "inconclusive", 0.50, True, "weak"),
        ({"avg_duration_ms": 500}, {"avg_duration_ms": 549}, "inconclusive", 0.5, True, "weak"),
        # past weak but short of improve: final
        (
            {"health_score": 80},
            {"health_score": 80.5},
            "inconclusive",
            0.50,
            False,
            "below_thresholds",
        ),
        # thresholds reached in decimal count as reached
        ({"success_rate": 0.28}, {"success_rate": 0.30}, "win", 0.66, False, "helped"),
        ({"avg_duration_ms": 500}, {"avg_duration_ms": 400}, "win", 0.66, False, "helped"),
        # avg_duration_ms regresses only from +200
        (
            {"avg_duration_ms": 500},
            {"avg_duration_ms": 650},
            "inconclusive",
            0.50,
            False,
            "below_thresholds",
        ),
        ({"avg_duration_ms": 500}, {"avg_duration_ms": 700}, "loss", 0.75, False, "harmed"),
    ],
)
def test_exact_readings(
    before: Metrics,
    after: Metrics,
    kind: str,
    confidence: float,
    pending: bool,
    outcome: str,
) -> None:
    """Single readings without a declared noise: the thresholds and the confidence table."""
    got = verdict(before, after)
    assert (kind, confidence, pending, outcome) == (
        got.kind,
        pytest.approx(got.confidence),
        got.pending_recheck,
        got.signals["outcome"],
    )
    assert all(r["method"] == "exact" for r in got.signals["metrics"].values())


def test_an_exact_record_names_its_method_numbers_and_spec() -> None:
    """An exact metric records n = 1 on each side, d in the better direction, the spec."""
    got = verdict({"open_issues": 5}, {"open_issues": 3})
    assert {
        "method": "exact",
        "judgement": "helps",
        "n_before": 1,
        "n_after": 1,
        "d": 2.0,
        "interval": None,
        "p_helps": None,
        "p_harms": None,
        "tau": None,
        "df": None,
        "level": None,
        "spec": {
            "name": "open_issues",
            "better": "lower",
            "improve": 1.0,
            "regress": 1.0,
            "weak": 1.0,
            "critical": 1.0,
            "noise": None,
        },
        "reason": "open_issues +2.0, helped (exact)",
    } == record(got, "open_issues")


# -- insufficient and unknown ---------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ({"health_score": [80.0, 81.0]}, {"health_score": [82.0, 83.0]}, "2 samples before"),
        ({"health_score": [80.0] * 4 + [81.0]}, {"health_score": [82.0] * 4}, "4 after"),
        ({"health_score": 80.0}, {"health_score": [82.0] * 6}, "against a single reading"),
        ({"health_score": [80.0, 81.0] * 3}, {"health_score": 82.0}, "against a single reading"),
        ({"health_score": math.nan}, {"health_score": 81.0}, "nan is not a finite number"),
        ({"health_score": 80.0}, {"health_score": math.inf}, "inf is not a finite number"),
        ({"health_score": []}, {"health_score": 81.0}, "an empty list of samples"),
        ({"health_score": 80.0}, {"health_score": []}, "an empty list of samples"),
        ({"health_score": [1.0, math.nan, 2.0]}, {"health_score": 81.0}, "not a finite number"),
        ({"health_score": "80"}, {"health_score": 81.0}, "not a number or a list"),
        ({"health_score": [True] * 5}, {"health_score": [1.0] * 5}, "not a finite number"),
        ({"health_score": 80.0}, {}, "not measured at attempt 1"),
        ({}, {"health_score": 80.0}, "not measured before the execution"),
        ({"health_score": [3.0] * 5}, {"health_score": [3.0] * 6}, "no variation"),
    ],
)
def test_insufficient_metrics_never_decide_and_say_why(
    before: Metrics, after: Metrics, reason: str
) -> None:
    """Too few samples, a list against a reading, NaN, empty lists: insufficient, pending."""
    got = verdict(before, after)
    assert ("inconclusive", True, "no_data") == (
        got.kind,
        got.pending_recheck,
        got.signals["outcome"],
    )
    assert "insufficient" == record(got, "health_score")["method"]
    assert reason in record(got, "health_score")["reason"]
    json.dumps(dict(got.signals), allow_nan=False)


def test_unknown_metrics_are_reported_as_unknown() -> None:
    """A metric with no spec is recorded as unknown_metric, never as "not measured"."""
    got = verdict({"latency": 120.0, "health_score": 80}, {"latency": 90.0, "health_score": 81})
    assert "win" == got.kind
    latency = record(got, "latency")
    assert ("unknown_metric", None) == (latency["method"], latency["spec"])
    assert any("latency: unknown metric" in r for r in got.reasons)
    assert not any("not measured" in r for r in got.reasons)
    only = verdict({"x": 1}, {"y": 2})
    assert ("inconclusive", True) == (only.kind, only.pending_recheck)
    assert {"x", "y"} == set(only.signals["metrics"])


def test_a_zero_variance_pair_with_a_difference_is_exact() -> None:
    """Two constant sample lists that differ are judged exact on their means."""
    got = verdict({"health_score": [80.0] * 5}, {"health_score": [83.0] * 5})
    assert "win" == got.kind
    assert ("exact", 5, 5) == (
        record(got, "health_score")["method"],
        record(got, "health_score")["n_before"],
        record(got, "health_score")["n_after"],
    )


# -- sequential -------------------------------------------------------------------------


def test_health_80_to_77_9_over_70_to_90_samples_is_not_a_loss() -> None:
    """Means 80 → 77.9 over samples spread across [70, 90]: open, not a critical loss."""
    before = {"health_score": [70.0, 75.0, 80.0, 85.0, 90.0]}
    after = {"health_score": [67.9, 72.9, 77.9, 82.9, 87.9]}
    got = verdict(before, after)
    assert ("inconclusive", True, "open") == (
        got.kind,
        got.pending_recheck,
        got.signals["outcome"],
    )
    r = record(got, "health_score")
    assert r["method"] == "sequential"
    assert r["d"] == pytest.approx(-2.1)
    assert r["interval"][0] < -2.1 < 0.0 < r["interval"][1]


def test_a_harm_on_one_metric_is_a_loss() -> None:
    """success_rate down 1.5× its regress threshold over 30 samples: a loss on its own."""
    before = {"success_rate": gauss(0.90, 0.01, 30, 1), "health_score": gauss(80, 1, 30, 2)}
    after = {"success_rate": gauss(0.87, 0.01, 30, 3), "health_score": gauss(80, 1, 30, 4)}
    got = verdict(before, after)
    assert ("loss", "harmed") == (got.kind, got.signals["outcome"])
    r = record(got, "success_rate")
    assert ("sequential", "harms") == (r["method"], r["judgement"])
    assert r["interval"][1] < 0
    assert r["d"] <= -0.02
    assert got.confidence == pytest.approx(1 - 2 * r["p_harms"])  # two metrics: M = 2
    assert got.reasons[0] == "harmed: success_rate harmed"
    assert record(got, "health_score")["judgement"] in ("open", "settled_null")


def test_a_clear_improvement_is_a_win_with_confidence_one_minus_m_p() -> None:
    """The confidence of a sequential win is 1 − M·p of the metric that decided."""
    before = {"avg_duration_ms": gauss(900, 40, 20, 5)}
    after = {"avg_duration_ms": gauss(700, 40, 20, 6)}
    got = verdict(before, after)
    r = record(got, "avg_duration_ms")
    assert ("win", "helps") == (got.kind, r["judgement"])
    assert got.confidence == pytest.approx(1 - r["p_helps"])
    assert r["d"] == pytest.approx(
        mean_of(before["avg_duration_ms"]) - mean_of(after["avg_duration_ms"])
    )
    assert got.signals["m"] == 1


def test_no_meaningful_effect_is_final() -> None:
    """Every sequential metric's interval inside (−regress, improve): final inconclusive."""
    before = {"success_rate": gauss(0.9, 0.001, 30, 7)}
    after = {"success_rate": gauss(0.9, 0.001, 30, 8)}
    got = verdict(before, after)
    assert ("inconclusive", False, "no_meaningful_effect") == (
        got.kind,
        got.pending_recheck,
        got.signals["outcome"],
    )
    assert got.reasons[0].startswith("no_meaningful_effect:")
    lo, hi = record(got, "success_rate")["interval"]
    assert -0.02 < lo < hi < 0.02


def test_an_open_metric_keeps_the_run_pending_beside_settled_ones() -> None:
    """One settled-null metric and one open metric: pending, more data could decide."""
    before = {"success_rate": gauss(0.9, 0.001, 30, 9), "health_score": gauss(80, 5, 6, 10)}
    after = {"success_rate": gauss(0.9, 0.001, 30, 11), "health_score": gauss(80, 5, 6, 12)}
    got = verdict(before, after)
    assert ("inconclusive", True, "open") == (
        got.kind,
        got.pending_recheck,
        got.signals["outcome"],
    )


def test_an_exact_harm_beside_a_sequential_win_is_a_loss() -> None:
    """Exact and sequential metrics in one attempt: any harm is a loss."""
    before = {"avg_duration_ms": gauss(900, 40, 20, 5), "open_issues": 3}
    after = {"avg_duration_ms": gauss(700, 40, 20, 6), "open_issues": 4}
    got = verdict(before, after)
    assert ("loss", 0.85, "critical") == (got.kind, got.confidence, got.signals["outcome"])


def test_declared_noise_makes_single_readings_samples() -> None:
    """With noise declared, 80 → 81 is one sample a side: open, never an exact win."""
    spec = MetricSpec("health_score", "higher", improve=1.0, noise=2.0)
    verifier = RuleVerifier(specs=(spec,))
    got = verdict({"health_score": 80}, {"health_score": 81}, verifier)
    r = record(got, "health_score")
    assert ("sequential", 1, 1, "open") == (
        r["method"],
        r["n_before"],
        r["n_after"],
        r["judgement"],
    )
    assert ("inconclusive", True) == (got.kind, got.pending_recheck)
    assert r["df"] is None  # known variance: no Student t
    assert r["tau"] == pytest.approx(mixing_scale(1.0, 2.0))  # 3 baseline SEs = 6
    precise = RuleVerifier(specs=(MetricSpec("health_score", "higher", 1.0, noise=0.1),))
    assert "win" == verdict({"health_score": 80}, {"health_score": 82}, precise).kind


def test_noise_zero_means_exact() -> None:
    """noise=0 declares exact readings: the thresholds apply."""
    spec = MetricSpec("health_score", "higher", improve=1.0, noise=0.0)
    got = verdict({"health_score": 80}, {"health_score": 81}, RuleVerifier(specs=(spec,)))
    assert ("win", "exact") == (got.kind, record(got, "health_score")["method"])


def test_the_record_lets_an_auditor_rederive_the_verdict() -> None:
    """Per metric: method, n, d, interval, p, τ, spec; per attempt: α, M, the verifier."""
    before = {"health_score": gauss(80, 2, 12, 13), "success_rate": gauss(0.9, 0.01, 12, 14)}
    afters = [
        {"health_score": gauss(81, 2, 12, 15 + k), "success_rate": gauss(0.9, 0.01, 12, 30 + k)}
        for k in range(3)
    ]
    got = V.verify_run(before, afters, DONE)
    signals = dict(got.signals)
    json.dumps(signals, allow_nan=False)
    assert {"name": VERIFIER_NAME, "version": VERIFIER_VERSION} == signals["verifier"]
    assert (3, 0.05, 2) == (signals["attempt"], signals["alpha"], signals["m"])
    r = record(got, "health_score")
    assert (12, 36) == (r["n_before"], r["n_after"])
    assert r["level"] == pytest.approx(0.05 / 2)
    # Re-derive the numbers from the samples and the recorded spec and level alone.
    pooled = [x for after in afters for x in after["health_score"]]
    sb = math.sqrt(_variance(before["health_score"]) / 12)
    tau = mixing_scale(r["spec"]["improve"], sb)
    looks = sequential_test(
        before["health_score"],
        [a["health_score"] for a in afters],
        tau=tau,
        alpha=r["level"],
    )
    assert r["tau"] == pytest.approx(tau)
    assert r["d"] == pytest.approx(sum(pooled) / 36 - sum(before["health_score"]) / 12)
    assert r["interval"] == pytest.approx([looks[-1].lower, looks[-1].upper])
    assert (r["p_helps"], r["p_harms"]) == pytest.approx((looks[-1].p_helps, looks[-1].p_harms))


def _variance(xs: Sequence[float]) -> float:
    mean = sum(xs) / len(xs)
    return sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)


def test_after_samples_are_pooled_across_attempts() -> None:
    """An effect too small for one attempt is found by pooling several."""
    before = {"health_score": gauss(80, 3, 40, 40)}
    afters = [{"health_score": gauss(82.5, 3, 40, 41 + k)} for k in range(6)]
    looks = V.judge_run(before, afters)
    assert [40 * (k + 1) for k in range(6)] == [look.metrics[0].n_after for look in looks]
    assert looks[0].pending_recheck
    assert "win" == looks[-1].kind
    ps = [look.metrics[0].p_helps for look in looks]
    assert ps == sorted(ps, reverse=True)


def test_judge_run_sees_what_verify_run_sees_on_each_prefix() -> None:
    """Look k of judge_run is verify_run on the first k attempts."""
    before = {"health_score": gauss(80, 3, 8, 50), "total_errors": 3}
    afters = [
        {"health_score": gauss(81, 3, 8, 51 + k), "total_errors": 3 + (k == 2)} for k in range(4)
    ]
    looks = V.judge_run(before, afters)
    for k, look in enumerate(looks):
        alone = V.verify_run(before, afters[: k + 1], DONE)
        assert alone == look.verdict


def test_a_bad_attempt_is_skipped_from_the_pool() -> None:
    """A NaN at one attempt: that attempt's metric is insufficient; the others pool."""
    before = {"health_score": gauss(80, 1, 10, 60)}
    afters = [
        {"health_score": gauss(80, 1, 10, 61)},
        {"health_score": [math.nan] * 10},
        {"health_score": gauss(80, 1, 10, 62)},
    ]
    looks = V.judge_run(before, afters)
    assert ["sequential", "insufficient", "sequential"] == [
        look.metrics[0].method for look in looks
    ]
    assert (10, 20) == (looks[0].metrics[0].n_after, looks[2].metrics[0].n_after)


def test_bonferroni_across_the_sequentially_judged_metrics() -> None:
    """M counts the metrics judged sequentially in an attempt; each is held at α/M."""
    before = {
        "health_score": gauss(80, 1, 10, 70),
        "success_rate": gauss(0.9, 0.01, 10, 71),
        "open_issues": 3,
        "avg_duration_ms": [1.0, 2.0],
    }
    after = {
        "health_score": gauss(80, 1, 10, 72),
        "success_rate": gauss(0.9, 0.01, 10, 73),
        "open_issues": 3,
        "avg_duration_ms": [1.0, 2.0],
    }
    got = RuleVerifier(alpha=0.1).verify(before, after, DONE)
    assert 2 == got.signals["m"]
    assert [0.05, 0.05] == [record(got, n)["level"] for n in ("health_score", "success_rate")]


def test_verify_run_needs_at_least_one_attempt() -> None:
    with pytest.raises(sl.ValidationError, match="afters"):
        V.verify_run({"health_score": 80}, [], DONE)


# -- specs and settings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"improve": 0}, "improve"),
        ({"improve": -1.0}, "improve"),
        ({"improve": math.nan}, "improve"),
        ({"improve": "1"}, "improve"),
        ({"regress": -0.1}, "regress"),
        ({"regress": math.inf}, "regress"),
        ({"noise": -1.0}, "noise"),
        ({"noise": math.inf}, "noise"),
        ({"noise": math.nan}, "noise"),
        ({"weak": -1.0}, "weak"),
        ({"critical": 0.0}, "critical"),
        ({"better": "sideways"}, "better"),
        ({"name": ""}, "name"),
        ({"improve": True}, "improve"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    """A spec with improve ≤ 0, a negative or infinite noise, …: ValidationError."""
    values: dict[str, object] = {"name": "m", "better": "higher", "improve": 1.0, **kwargs}
    with pytest.raises(sl.ValidationError, match=field):
        sl.MetricSpec(**values)  # type: ignore[arg-type]


def test_spec_defaults() -> None:
    """regress defaults to improve; weak, critical and noise to None."""
    spec = sl.MetricSpec("latency_p95", "lower", 10)
    assert (10, None, None, None) == (spec.regress, spec.weak, spec.critical, spec.noise)
    assert 0.0 == sl.MetricSpec("x", "higher", 1.0, regress=0.0).regress


def test_default_specs_keep_their_thresholds_without_noise() -> None:
    assert [
        ("health_score", "higher", 1.0, 1.0, 0.5, 2.0),
        ("open_issues", "lower", 1, 1, 1, 1),
        ("total_errors", "lower", 1, 1, 1, 2),
        ("avg_duration_ms", "lower", 100, 200, 50, None),
        ("success_rate", "higher", 0.02, 0.02, 0.01, None),
    ] == [(s.name, s.better, s.improve, s.regress, s.weak, s.critical) for s in DEFAULT_SPECS]
    assert all(s.noise is None for s in DEFAULT_SPECS)
    assert DEFAULT_SPECS == sl.RuleVerifier().specs


@pytest.mark.parametrize("alpha", [0.0, -0.1, 0.51, 1.0, math.nan, math.inf, "0.05", True])
def test_alpha_outside_zero_to_a_half_is_a_config_error(alpha: object) -> None:
    with pytest.raises(sl.ConfigError, match="alpha"):
        sl.RuleVerifier(alpha=alpha)  # type: ignore[arg-type]


def test_alpha_defaults_to_five_percent() -> None:
    assert 0.05 == sl.RuleVerifier().alpha
    assert 0.5 == sl.RuleVerifier(alpha=0.5).alpha


def test_specs_are_checked() -> None:
    spec = sl.MetricSpec("x", "higher", 1.0)
    with pytest.raises(sl.ValidationError, match="twice"):
        sl.RuleVerifier(specs=(spec, spec))
    with pytest.raises(sl.ValidationError, match="MetricSpec"):
        sl.RuleVerifier(specs=("x",))  # type: ignore[arg-type]


def test_hosts_may_declare_their_own_specs() -> None:
    """A host's metric spec is used in place of the defaults."""
    verifier = sl.RuleVerifier(specs=(sl.MetricSpec("latency_p95", "lower", 10, 10, 2),))
    assert verifier.verify({"latency_p95": 120}, {"latency_p95": 100}, DONE).kind == "win"
    assert (
        "unknown_metric"
        == record(verifier.verify({"health_score": 1}, {"health_score": 5}, DONE), "health_score")[
            "method"
        ]
    )


def test_deltas_skip_unreadable_metrics() -> None:
    assert {"a": 1.5} == deltas(
        {"a": [1.0, 2.0], "b": math.nan, "c": 1.0}, {"a": 3.0, "b": 1.0, "c": []}
    )


# -- properties -----------------------------------------------------------------------

sample_lists = st.lists(st.floats(-50.0, 50.0, allow_subnormal=False), min_size=5, max_size=10)


@settings(max_examples=60, deadline=None)
@given(
    before=sample_lists,
    afters=st.lists(sample_lists, min_size=1, max_size=4),
    improve=st.floats(0.01, 20.0),
)
def test_swapping_better_swaps_win_and_loss(
    before: list[float], afters: list[list[float]], improve: float
) -> None:
    """The same samples under "lower is better" give the mirrored judgement."""
    up = RuleVerifier(specs=(MetricSpec("m", "higher", improve),))
    down = RuleVerifier(specs=(MetricSpec("m", "lower", improve),))
    mirror = {"win": "loss", "loss": "win", "inconclusive": "inconclusive"}
    a = up.verify_run({"m": before}, [{"m": x} for x in afters], DONE)
    b = down.verify_run({"m": before}, [{"m": x} for x in afters], DONE)
    assert (mirror[a.kind], a.confidence, a.pending_recheck) == (
        b.kind,
        b.confidence,
        b.pending_recheck,
    )
    ra, rb = record(a, "m"), record(b, "m")
    if ra["interval"] is not None:
        assert ra["interval"] == [_negated(rb["interval"][1]), _negated(rb["interval"][0])]


def _negated(bound: float | None) -> float | None:
    """An interval's end mirrored (None: unbounded, either way)."""
    return None if bound is None else -bound


@settings(max_examples=60, deadline=None)
@given(
    before=sample_lists,
    afters=st.lists(sample_lists, min_size=1, max_size=4),
    improve=st.floats(0.01, 20.0),
    power=st.integers(-10, 10),
)
def test_scaling_samples_and_thresholds_changes_nothing(
    before: list[float], afters: list[list[float]], improve: float, power: int
) -> None:
    """Samples and thresholds times c = 2^k: the same verdict and confidence."""
    c = 2.0**power
    base = RuleVerifier(specs=(MetricSpec("m", "higher", improve, regress=improve / 2),))
    scaled = RuleVerifier(specs=(MetricSpec("m", "higher", c * improve, regress=c * improve / 2),))
    a = base.verify_run({"m": before}, [{"m": x} for x in afters], DONE)
    b = scaled.verify_run(
        {"m": [c * x for x in before]}, [{"m": [c * x for x in xs]} for xs in afters], DONE
    )
    assert (a.kind, a.confidence, a.pending_recheck) == (b.kind, b.confidence, b.pending_recheck)


def test_an_unbounded_interval_is_recorded_as_open_ends() -> None:
    """A baseline without variance and one outlier leave the interval unbounded: its ends are
    recorded as None, and the verdict stays JSON (found by the swap property above)."""
    verifier = RuleVerifier(specs=(MetricSpec("m", "higher", improve=0.03125),))
    verdict = verifier.verify_run({"m": [0.0] * 5}, [{"m": [0.0, 0.0, 0.0, 0.0, 6.0]}], DONE)
    assert [None, None] == verdict.signals["metrics"]["m"]["interval"]
    assert "inconclusive" == verdict.kind
    assert verdict.pending_recheck
