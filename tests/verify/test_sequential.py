"""The sequential statistics: Student's t, the normal mixtures, and the test over looks.

Checked three ways: against published values, against a second implementation written
here with `math` only (the likelihood ratio integrated numerically over its mixing
distribution, the interval found by bisection), and by properties (hypothesis).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import ndtri_exp

import selflearn as sl
from selflearn.verify.sequential import (
    Summary,
    mixing_scale,
    normal_equivalent,
    normal_isf_log,
    normal_log_cdf,
    one_sided_log_lr,
    one_sided_radius,
    sequential_test,
    student_t_cdf,
    student_t_isf,
    student_t_ppf,
    student_t_sf,
    t_equivalent,
    two_sided_log_lr,
    two_sided_radius,
    welch_df,
)

# -- Student's t -----------------------------------------------------------------------

# Upper critical values t(q; ν) with P(T > t) = q, as printed in the standard tables
# (NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.6.7.2; Abramowitz & Stegun,
# Handbook of Mathematical Functions, Table 26.10), to three decimals.
T_TABLE = {
    1: {0.10: 3.078, 0.05: 6.314, 0.025: 12.706, 0.01: 31.821, 0.005: 63.657},
    2: {0.10: 1.886, 0.05: 2.920, 0.025: 4.303, 0.01: 6.965, 0.005: 9.925, 0.001: 22.327},
    5: {0.10: 1.476, 0.05: 2.015, 0.025: 2.571, 0.01: 3.365, 0.005: 4.032, 0.001: 5.893},
    10: {0.10: 1.372, 0.05: 1.812, 0.025: 2.228, 0.01: 2.764, 0.005: 3.169, 0.001: 4.144},
    30: {0.10: 1.310, 0.05: 1.697, 0.025: 2.042, 0.01: 2.457, 0.005: 2.750, 0.001: 3.385},
    100: {0.10: 1.290, 0.05: 1.660, 0.025: 1.984, 0.01: 2.364, 0.005: 2.626, 0.001: 3.174},
}


@pytest.mark.parametrize(
    ("df", "q", "t"), [(df, q, t) for df, row in T_TABLE.items() for q, t in row.items()]
)
def test_student_t_quantiles_match_the_printed_table(df: int, q: float, t: float) -> None:
    """Upper quantiles of t agree with the standard table to its three decimals."""
    assert t == pytest.approx(student_t_isf(q, df), abs=5e-4)
    assert q == pytest.approx(student_t_sf(t, df), rel=2e-3)


@pytest.mark.parametrize("df", [0.7, 1.0, 2.5, 4.0, 7.3, 19.0, 57.3, 250.0, 3000.0, 1e6])
@pytest.mark.parametrize("t", [-40.0, -3.0, -0.5, 0.0, 0.3, 1.0, 2.5, 4.0, 9.0, 60.0, 1e4])
def test_student_t_tails_against_scipy(df: float, t: float) -> None:
    """sf and cdf to 1e-9 relative of SciPy's, far into the tails, for fractional ν."""
    assert student_t_sf(t, df) == pytest.approx(stats.t.sf(t, df), rel=1e-9, abs=1e-300)
    assert student_t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("df", [0.7, 1.0, 2.5, 4.0, 7.3, 19.0, 57.3, 250.0, 3000.0])
@pytest.mark.parametrize("q", [1e-14, 1e-9, 1e-6, 1e-3, 0.0125, 0.05, 0.3, 0.5, 0.7, 0.99])
def test_student_t_quantiles_against_scipy(df: float, q: float) -> None:
    """isf and ppf to 1e-10 relative of SciPy's."""
    assert student_t_isf(q, df) == pytest.approx(stats.t.isf(q, df), rel=1e-10, abs=1e-12)
    assert student_t_ppf(q, df) == pytest.approx(stats.t.ppf(q, df), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("x", [-1000.0, -60.0, -38.0, -36.0, -8.0, -1.0, 0.0, 2.0, 9.0])
def test_normal_log_cdf_far_in_the_tail(x: float) -> None:
    """ln Φ(x) is accurate where Φ(x) itself underflows."""
    assert normal_log_cdf(x) == pytest.approx(stats.norm.logcdf(x), rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("log_q", [-0.7, -5.0, -50.0, -699.0, -701.0, -5000.0])
def test_normal_isf_from_a_log_tail(log_q: float) -> None:
    """The normal quantile of a tail given by its logarithm, below a float's range too."""
    assert normal_isf_log(log_q) == pytest.approx(-ndtri_exp(log_q), rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    z=st.floats(min_value=-30.0, max_value=30.0),
    df=st.floats(min_value=1.0, max_value=1e5),
)
def test_normal_and_t_equivalents_invert_each_other(z: float, df: float) -> None:
    """The t score with z's tail probability maps back to z, with the same sign."""
    t = t_equivalent(z, df)
    assert abs(t) >= abs(z) - 1e-12
    assert normal_equivalent(t, df) == pytest.approx(z, rel=1e-8, abs=1e-10)


def test_welch_degrees_of_freedom() -> None:
    """Welch–Satterthwaite by hand: (u + w)² / (u²/(n₀−1) + w²/(m−1))."""
    u, w = 4.0 / 5, 9.0 / 12
    assert welch_df(4.0, 5, 9.0, 12) == pytest.approx((u + w) ** 2 / (u * u / 4 + w * w / 11))
    assert welch_df(4.0, 5, 0.0, 12) == pytest.approx(4.0)


# -- the normal mixtures ---------------------------------------------------------------

# Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic
# confidence sequences" (Annals of Statistics 49(2), 2021), §3 normal mixtures, write the
# mixture over a sum S with variance process v and mixing precision ρ. Their reference
# implementation (the `confseq` package, test/uniform_boundaries_unittest.cpp: "target
# values are from a reference implementation in R") pins, for v = 100 and
# ρ = v / (2 ln(1/α) + ln(1 + 2 ln(1/α))) with α = 0.05 (two-sided) or 2α (one-sided):
#   two-sided: ρ = 12.60056, ln M(s=10, v=100) = −0.6510052, boundary on s = 30.35209
#   one-sided: ln M(s=10, v=100) = −0.06502391, boundary on s = 27.66071
# In this module's terms a difference d̂ with variance V is s = d̂/V, v = 1/V, ρ = 1/τ²,
# so z = d̂/√V = s/√v and a boundary on s is a radius of s/√v standard errors.


def _best_rho(v: float, alpha: float) -> float:
    return v / (2 * math.log(1 / alpha) + math.log(1 + 2 * math.log(1 / alpha)))


def test_two_sided_mixture_matches_howard_et_al() -> None:
    """ln Λ and the boundary of the symmetric mixture equal the published values."""
    rho = _best_rho(100, 0.05)
    assert 12.60056 == pytest.approx(rho, abs=1e-5)
    variance, tau = 1 / 100, 1 / math.sqrt(rho)
    assert -0.6510052 == pytest.approx(two_sided_log_lr(10 / 10, variance, tau), abs=1e-6)
    assert 30.35209 == pytest.approx(two_sided_radius(variance, tau, 0.05) * 10, abs=1e-5)


def test_one_sided_mixture_matches_howard_et_al() -> None:
    """ln Λ⁺ and the boundary of the half-normal mixture equal the published values."""
    rho = _best_rho(100, 0.10)
    variance, tau = 1 / 100, 1 / math.sqrt(rho)
    assert -0.06502391 == pytest.approx(one_sided_log_lr(10 / 10, variance, tau), abs=1e-7)
    assert 27.66071 == pytest.approx(one_sided_radius(variance, tau, 0.05) * 10, abs=1e-5)


def _integrate(f: Callable[[float], float], a: float, b: float, n: int = 4000) -> float:
    """Composite Simpson's rule."""
    h = (b - a) / n
    total = f(a) + f(b)
    total += sum((4 if i % 2 else 2) * f(a + i * h) for i in range(1, n))
    return total * h / 3


def _lr(d: float, estimate: float, variance: float) -> float:
    """The likelihood ratio of effect d against 0 for an estimate ~ N(d, variance)."""
    return math.exp((d * estimate - d * d / 2) / variance)


def _mixture_by_integration(estimate: float, variance: float, tau: float, side: int) -> float:
    """Λ by integrating the likelihood ratio over N(0, τ²) (side 0) or its half (±1)."""

    def density(d: float) -> float:
        return math.exp(-d * d / (2 * tau * tau)) / (tau * math.sqrt(2 * math.pi))

    reach = 12 * tau
    if side == 0:
        return _integrate(lambda d: _lr(d, estimate, variance) * density(d), -reach, reach)
    return 2 * _integrate(lambda d: _lr(side * d, estimate, variance) * density(d), 0.0, reach)


# (d̂, V, τ): small and large effects, V below and above τ², both signs.
CASES = [
    (0.3, 0.04, 0.5),
    (-0.3, 0.04, 0.5),
    (1.2, 0.25, 0.4),
    (0.05, 0.01, 0.2),
    (-2.0, 1.0, 3.0),
    (0.0, 0.5, 1.0),
    (4.0, 2.0, 1.0),
]


@pytest.mark.parametrize(("estimate", "variance", "tau"), CASES)
def test_mixture_ratios_equal_their_integrals(estimate: float, variance: float, tau: float) -> None:
    """The closed forms equal the likelihood ratio integrated over the mixing density."""
    z = estimate / math.sqrt(variance)
    two = _mixture_by_integration(estimate, variance, tau, 0)
    up = _mixture_by_integration(estimate, variance, tau, +1)
    down = _mixture_by_integration(estimate, variance, tau, -1)
    assert math.log(two) == pytest.approx(two_sided_log_lr(z, variance, tau), abs=1e-8)
    assert math.log(up) == pytest.approx(one_sided_log_lr(z, variance, tau), abs=1e-8)
    assert math.log(down) == pytest.approx(one_sided_log_lr(-z, variance, tau), abs=1e-8)
    assert two == pytest.approx((up + down) / 2, rel=1e-9)  # the halves average to the whole


def _hand_lambda(estimate: float, variance: float, tau: float) -> float:
    """Λ exactly as the textbook writes it: √(V/(V+τ²)) · exp(τ² d̂² / (2V(V+τ²)))."""
    t2 = tau * tau
    return math.sqrt(variance / (variance + t2)) * math.exp(
        t2 * estimate * estimate / (2 * variance * (variance + t2))
    )


def _bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize(("estimate", "variance", "tau"), CASES)
@pytest.mark.parametrize("alpha", [0.05, 0.0125, 0.001])
def test_radii_solve_lambda_equals_one_over_alpha(
    estimate: float, variance: float, tau: float, alpha: float
) -> None:
    """Each radius is where Λ reaches 1/α, found here by bisection on the hand formula."""
    del estimate
    two = _bisect(lambda z: _hand_lambda(z * math.sqrt(variance), variance, tau) - 1 / alpha, 0, 60)
    assert two == pytest.approx(two_sided_radius(variance, tau, alpha), rel=1e-10)

    def one(z: float) -> float:
        c = tau / math.sqrt(variance + tau * tau)
        phi = 0.5 * math.erfc(-c * z / math.sqrt(2))
        return 2 * phi * _hand_lambda(z * math.sqrt(variance), variance, tau) - 1 / alpha

    assert _bisect(one, 0, 60) == pytest.approx(one_sided_radius(variance, tau, alpha), rel=1e-10)


@pytest.mark.parametrize(("estimate", "variance", "tau"), CASES)
def test_two_sided_lambda_equals_the_hand_formula(
    estimate: float, variance: float, tau: float
) -> None:
    """ln Λ of the module equals the logarithm of the textbook formula."""
    z = estimate / math.sqrt(variance)
    assert math.log(_hand_lambda(estimate, variance, tau)) == pytest.approx(
        two_sided_log_lr(z, variance, tau), abs=1e-12
    )


def test_mixing_scale_is_improve_or_three_baseline_standard_errors() -> None:
    """τ = max(improve, 3 · s_B/√n₀)."""
    assert 1.0 == mixing_scale(1.0, 0.2)
    assert 1.5 == pytest.approx(mixing_scale(1.0, 0.5))


# -- the test over the looks of a run ---------------------------------------------------


def _hand_run(
    before: Sequence[float],
    batches: Sequence[Sequence[float]],
    tau: float,
    alpha: float,
    sigma: float,
) -> list[tuple[float, float, float, float, float]]:
    """The looks of a run with known σ, computed step by step with `math` only:
    (d̂, p_helps, p_harms, lower, upper), running minimum and running intersection."""
    b = sum(before) / len(before)
    pooled: list[float] = []
    p_up = p_down = 1.0
    lo, hi = -math.inf, math.inf
    rows = []
    for batch in batches:
        pooled += batch
        d = sum(pooled) / len(pooled) - b
        v = sigma**2 * (1 / len(before) + 1 / len(pooled))
        c = tau / math.sqrt(v + tau * tau)
        z = d / math.sqrt(v)
        lam = _hand_lambda(d, v, tau)
        up = 2 * 0.5 * math.erfc(-c * z / math.sqrt(2)) * lam
        down = 2 * 0.5 * math.erfc(c * z / math.sqrt(2)) * lam
        p_up, p_down = min(p_up, 1 / up, 1.0), min(p_down, 1 / down, 1.0)

        def boundary(r: float, v: float = v, c: float = c) -> float:
            phi = 0.5 * math.erfc(-c * r / math.sqrt(2))
            return 2 * phi * _hand_lambda(r * math.sqrt(v), v, tau) - 1 / alpha

        radius = _bisect(boundary, 0, 60) * math.sqrt(v)
        lo, hi = max(lo, d - radius), min(hi, d + radius)
        rows.append((d, p_up, p_down, min(lo, hi, d), max(lo, hi, d)))
    return rows


RUN_BEFORE = [10.2, 9.7, 10.4, 9.9, 10.1]
RUN_BATCHES = [[10.9, 11.3, 10.6], [11.8, 10.2], [11.1, 11.4, 10.8, 11.0], [9.1]]


@pytest.mark.parametrize(("tau", "alpha", "sigma"), [(0.5, 0.05, 0.6), (2.0, 0.0125, 0.3)])
def test_a_run_with_known_noise_matches_a_hand_computation(
    tau: float, alpha: float, sigma: float
) -> None:
    """Pooled looks, running-minimum p-values and the running intersection, by hand."""
    looks = sequential_test(RUN_BEFORE, RUN_BATCHES, tau=tau, alpha=alpha, sigma=sigma)
    expected = _hand_run(RUN_BEFORE, RUN_BATCHES, tau, alpha, sigma)
    assert [4, 3, 3, 3] != [look.n_after for look in looks]
    assert [3, 5, 9, 10] == [look.n_after for look in looks]
    for look, (d, p_up, p_down, lo, hi) in zip(looks, expected, strict=True):
        assert look.tested
        assert look.df is None
        assert look.estimate == pytest.approx(d, rel=1e-12)
        assert look.p_helps == pytest.approx(p_up, rel=1e-9)
        assert look.p_harms == pytest.approx(p_down, rel=1e-9)
        assert look.lower == pytest.approx(lo, rel=1e-9)
        assert look.upper == pytest.approx(hi, rel=1e-9)


def test_plug_in_variances_use_the_student_t_scale() -> None:
    """Without σ: Welch's V and ν, z = the normal score of t's tail, radius mapped back."""
    before = [4.1, 3.8, 4.4, 4.0, 3.6, 4.2]
    after = [4.6, 4.9, 4.3, 5.1, 4.7]
    (look,) = sequential_test(before, [after], tau=0.3, alpha=0.05)
    sb, sa = stats.tvar(before), stats.tvar(after)
    v = sb / 6 + sa / 5
    nu = v**2 / ((sb / 6) ** 2 / 5 + (sa / 5) ** 2 / 4)
    d = sum(after) / 5 - sum(before) / 6
    z = stats.norm.isf(stats.t.sf(d / math.sqrt(v), nu))
    assert look.variance == pytest.approx(v, rel=1e-12)
    assert look.df == pytest.approx(nu, rel=1e-12)
    assert look.statistic == pytest.approx(z, rel=1e-9)
    assert look.p_helps == pytest.approx(math.exp(-one_sided_log_lr(z, v, 0.3)), rel=1e-9)
    radius = stats.t.isf(stats.norm.sf(one_sided_radius(v, 0.3, 0.05)), nu) * math.sqrt(v)
    assert look.lower == pytest.approx(d - radius, rel=1e-9)
    assert look.upper == pytest.approx(d + radius, rel=1e-9)
    # The t scale widens the interval against known variances of the same size.
    (known,) = sequential_test(
        before, [after], tau=0.3, alpha=0.05, sigma=math.sqrt(v / (1 / 6 + 1 / 5))
    )
    assert look.upper - look.lower > known.upper - known.lower


def test_untestable_looks_carry_the_state() -> None:
    """Too few samples, or no variation: the look is not tested and keeps the last state."""
    looks = sequential_test(
        [1.0, 2.0, 3.0, 4.0, 5.0], [[1.0, 2.0], [3.0, 2.0, 4.0], []], tau=1.0, alpha=0.05
    )
    assert [False, True, True] == [look.tested for look in looks]
    assert (math.inf, -math.inf) == (looks[0].upper, looks[0].lower)
    assert (1.0, 1.0) == (looks[0].p_helps, looks[0].p_harms)
    assert (looks[1].lower, looks[1].upper, looks[1].p_helps) == (
        looks[2].lower,
        looks[2].upper,
        looks[2].p_helps,
    )
    flat = sequential_test([2.0] * 5, [[2.0] * 5], tau=1.0, alpha=0.05)
    assert not flat[0].tested


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"before": [1.0, math.nan, 2.0]}, "before[1]"),
        ({"batches": [[1.0], [2.0, math.inf]]}, "batches[1][1]"),
        ({"batches": [[1.0, True]]}, "batches[0][1]"),
        ({"tau": 0.0}, "tau"),
        ({"tau": math.inf}, "tau"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 0.6}, "alpha"),
        ({"alpha": [0.05]}, "alpha"),
        ({"sigma": -1.0}, "sigma"),
        ({"better": "sideways"}, "better"),
    ],
)
def test_bad_input_is_a_validation_error_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    """Non-finite samples, τ ≤ 0, α outside (0, 0.5], σ ≤ 0: a clear error, no result."""
    call: dict[str, object] = {
        "before": [1.0, 2.0, 3.0],
        "batches": [[1.0, 2.0], [3.0]],
        "tau": 1.0,
        "alpha": 0.05,
        **kwargs,
    }
    with pytest.raises(sl.ValidationError, match=re_escape(field)):
        sequential_test(
            call["before"],  # type: ignore[arg-type]
            call["batches"],  # type: ignore[arg-type]
            tau=call["tau"],  # type: ignore[arg-type]
            alpha=call["alpha"],  # type: ignore[arg-type]
            **{k: v for k, v in call.items() if k in ("sigma", "better")},  # type: ignore[arg-type]
        )


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=6), min_size=1, max_size=5))
def test_summaries_merge_like_the_concatenation(parts: list[list[float]]) -> None:
    """Chan's merge of summaries equals the summary of all the samples."""
    merged = Summary()
    for part in parts:
        merged = merged.merge(Summary.of(part))
    whole = Summary.of([x for part in parts for x in part])
    assert merged.count == whole.count
    assert merged.mean == pytest.approx(whole.mean, rel=1e-9, abs=1e-6)
    assert merged.m2 == pytest.approx(whole.m2, rel=1e-7, abs=1e-3)


# -- properties ------------------------------------------------------------------------

samples = st.lists(st.floats(-100.0, 100.0, allow_subnormal=False), min_size=5, max_size=12)
runs = st.tuples(samples, st.lists(samples, min_size=1, max_size=6))
taus = st.floats(0.05, 20.0)
alphas = st.sampled_from([0.5, 0.1, 0.05, 0.0125, 0.001])
sigmas = st.one_of(st.none(), st.floats(0.1, 30.0))


@settings(max_examples=150, deadline=None)
@given(run=runs, tau=taus, alpha=alphas, sigma=sigmas)
def test_p_values_never_increase_and_the_interval_holds_the_estimate(
    run: tuple[list[float], list[list[float]]], tau: float, alpha: float, sigma: float | None
) -> None:
    """Across the looks of a run: p never increases; lower ≤ d̂ ≤ upper at each test."""
    before, batches = run
    looks = sequential_test(before, batches, tau=tau, alpha=alpha, sigma=sigma)
    for earlier, later in itertools.pairwise(looks):
        assert later.p_helps <= earlier.p_helps
        assert later.p_harms <= earlier.p_harms
    for look in looks:
        assert 0.0 <= look.p_helps <= 1.0
        assert 0.0 <= look.p_harms <= 1.0
        if look.tested:
            assert look.estimate is not None
            assert look.lower <= look.estimate <= look.upper


@settings(max_examples=150, deadline=None)
@given(run=runs, tau=taus, alpha=alphas, sigma=sigmas)
def test_swapping_the_better_direction_mirrors_everything(
    run: tuple[list[float], list[list[float]]], tau: float, alpha: float, sigma: float | None
) -> None:
    """ "lower is better" gives the mirror image: −upper, −lower, and the p-values swap."""
    before, batches = run
    up = sequential_test(before, batches, tau=tau, alpha=alpha, sigma=sigma)
    down = sequential_test(before, batches, tau=tau, alpha=alpha, sigma=sigma, better="lower")
    for a, b in zip(up, down, strict=True):
        assert (a.lower, a.upper) == (-b.upper, -b.lower)
        assert (a.p_helps, a.p_harms) == (b.p_harms, b.p_helps)


@settings(max_examples=150, deadline=None)
@given(
    run=runs,
    tau=taus,
    alpha=alphas,
    sigma=sigmas,
    power=st.integers(-20, 20),
)
def test_scaling_by_a_power_of_two_changes_nothing(
    run: tuple[list[float], list[list[float]]],
    tau: float,
    alpha: float,
    sigma: float | None,
    power: int,
) -> None:
    """Samples, τ and σ times c = 2^k: the same p-values, the interval times c, exactly."""
    before, batches = run
    c = 2.0**power
    base = sequential_test(before, batches, tau=tau, alpha=alpha, sigma=sigma)
    scaled = sequential_test(
        [c * x for x in before],
        [[c * x for x in batch] for batch in batches],
        tau=c * tau,
        alpha=alpha,
        sigma=None if sigma is None else c * sigma,
    )
    for a, b in zip(base, scaled, strict=True):
        assert (a.p_helps, a.p_harms, a.tested) == (b.p_helps, b.p_harms, b.tested)
        if a.tested:
            assert (c * a.lower, c * a.upper) == (b.lower, b.upper)


@settings(max_examples=150, deadline=None)
@given(run=runs, tau=taus, alpha=alphas, sigma=sigmas, c=st.floats(1e-3, 1e3))
def test_scaling_by_any_positive_factor_changes_nothing(
    run: tuple[list[float], list[list[float]]],
    tau: float,
    alpha: float,
    sigma: float | None,
    c: float,
) -> None:
    """Samples, τ and σ times any c > 0: the same p-values, the interval times c."""
    before, batches = run
    base = sequential_test(before, batches, tau=tau, alpha=alpha, sigma=sigma)
    scaled = sequential_test(
        [c * x for x in before],
        [[c * x for x in batch] for batch in batches],
        tau=c * tau,
        alpha=alpha,
        sigma=None if sigma is None else c * sigma,
    )
    for a, b in zip(base, scaled, strict=True):
        assert a.p_helps == pytest.approx(b.p_helps, rel=1e-6, abs=1e-12)
        assert a.p_harms == pytest.approx(b.p_harms, rel=1e-6, abs=1e-12)
        if a.tested and b.tested:
            width = a.upper - a.lower
            assert c * a.lower == pytest.approx(b.lower, abs=1e-6 * c * (width + abs(a.lower)))
            assert c * a.upper == pytest.approx(b.upper, abs=1e-6 * c * (width + abs(a.upper)))


@pytest.mark.parametrize("z", [-1e300, -1e160, -40.0, 40.0, 1e160])
def test_extreme_statistics_give_p_values_not_errors(z: float) -> None:
    """A difference of 10¹⁶⁰ standard errors either way: ln Λ stays a number (or +∞)."""
    up, down = one_sided_log_lr(z, 0.01, 0.3), one_sided_log_lr(-z, 0.01, 0.3)
    assert not math.isnan(up)
    assert not math.isnan(down)
    assert (up > 0) == (z > 0)
    assert (down > 0) == (z < 0)


def test_a_tiny_variance_run_is_tested_without_overflow() -> None:
    """Samples 10⁻¹⁵⁰ apart, and a shift of 1: z ≈ 10¹⁵⁰, the test decides, nothing overflows."""
    before = [k * 1e-150 for k in range(5)]
    after = [1.0] * 5
    (look,) = sequential_test(before, [after], tau=0.1, alpha=0.05)
    assert look.tested
    assert (0.0, 1.0) == (look.p_helps, look.p_harms)
    assert 0.0 < look.lower <= 1.0 <= look.upper
