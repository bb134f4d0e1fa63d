"""Always-valid sequential statistics for a two-sample difference, in closed forms.

Pure functions over the standard library (`math`, `statistics.NormalDist`); nothing here
does I/O or keeps state between calls.

The effect is d = the change of a metric's mean in its better direction (after − before
for a metric where higher is better, before − after where lower is better). The baseline
is measured once; the after-samples of every attempt are pooled. At each look k, with
d̂ₖ the difference of the means and Vₖ = s_B²/n₀ + s_A²/mₖ its variance:

- **Evidence.** For each direction a one-sided normal-mixture likelihood ratio (Robbins
  1970; the one-sided form of Howard, Ramdas, McAuliffe & Sekhon 2021), mixing the effect
  over a half-normal of scale τ:

      Λ⁺ₖ = 2 Φ(z c) · √(V / (V + τ²)) · exp(z² c² / 2),   c = τ / √(V + τ²),  z = d̂ₖ / √Vₖ

  (Λ⁻ₖ is the same with −z). Λ⁺ is a test martingale when d ≤ 0, so by Ville's inequality
  the chance that 1/Λ⁺ₖ ever falls to α is at most α, however many looks are taken. The
  always-valid p-value of a direction is the running minimum of 1/Λ over the looks.
- **Interval.** The lower end is d̂ₖ − r √Vₖ where Λ⁺ reaches 1/α at z = r; the upper end
  mirrors it. Each end holds with probability ≥ 1 − α at every look at once, so the
  interval is intersected with the previous looks' (and widened, if need be, to contain
  the current estimate, which never lowers its coverage).
- **Small samples.** With variances estimated from the samples, the standardized
  difference follows a Student t (Welch–Satterthwaite degrees of freedom ν), not a
  normal: z is the normal score with the same tail probability as t = d̂/√V under t_ν,
  and the radius r is mapped back to the t scale the same way. With a declared noise σ
  the variances are known and no mapping is needed.
- **Scale.** τ is the smallest improvement worth having, raised to three standard errors
  of the baseline's mean when the baseline cannot resolve effects that small
  (`mixing_scale`); it is fixed before any after-sample is seen.

The symmetric two-sided mixture (`two_sided_log_lr`, `two_sided_radius`) is the textbook
form of the same test (Johari, Koomen, Pekelis & Walsh, "Always Valid Inference", 2022);
it is kept for reference and as the starting point of the one-sided radius.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Final

import attrs

from selflearn.exceptions import ValidationError

_NORMAL: Final = NormalDist()
_LOG_2: Final = math.log(2.0)
_LOG_SQRT_2PI: Final = 0.5 * math.log(2.0 * math.pi)
_SQRT_2: Final = math.sqrt(2.0)
# Beyond this many degrees of freedom Student's t is taken as the normal (the difference
# in a tail quantile is below 1e-6 relative at the levels used here).
_NORMAL_DF: Final = 1e7
_CF_EPSILON: Final = 1e-15
_CF_TINY: Final = 1e-300
_CF_MAX_TERMS: Final = 10_000
BASELINE_STANDARD_ERRORS: Final = 3.0
"""τ is at least this many standard errors of the baseline's mean (see `mixing_scale`)."""
MIN_SAMPLES: Final = 5
"""Samples needed on each side when the variance is estimated from them."""


# -- the normal and Student's t distributions ---------------------------------------------


def normal_log_cdf(x: float) -> float:
    """ln Φ(x), accurate far into the lower tail."""
    if x > -37.0:
        return math.log(0.5 * math.erfc(-x / _SQRT_2))
    return -0.5 * x * x + _log_mills(x)


def _log_mills(x: float) -> float:
    """ln Φ(x) + x²/2 for x < −37, by the asymptotic series of Mills' ratio:
    Φ(x) = φ(x)/|x| · (1 − 1/x² + 3/x⁴ − 15/x⁶ + 105/x⁸ …)."""
    y = 1.0 / (x * x)
    series = 1.0 - y + 3.0 * y * y - 15.0 * y**3 + 105.0 * y**4
    return -_LOG_SQRT_2PI - math.log(-x) + math.log(series)


def normal_isf_log(log_q: float) -> float:
    """The z with ln P(Z > z) = `log_q` (log_q ≤ 0), for tails too thin for a float."""
    if log_q >= 0.0:
        return -math.inf
    if math.isinf(log_q):
        return math.inf
    if log_q > -700.0:
        q = math.exp(log_q)
        if q >= 1.0:
            return -math.inf
        return -_NORMAL.inv_cdf(q)
    # ln Φ(−z) ≈ −z²/2 − ln z − ln √(2π): start there, then Newton on ln Φ(−z).
    z = math.sqrt(-2.0 * log_q)
    for _ in range(50):
        f = normal_log_cdf(-z) - log_q
        slope = -math.exp(-0.5 * z * z - _LOG_SQRT_2PI - normal_log_cdf(-z))
        step = f / slope
        z -= step
        if abs(step) <= 1e-15 * z:
            break
    return z


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta (modified Lentz's method)."""
    tiny = _CF_TINY
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if -tiny < d < tiny:
        d = tiny
    d = 1.0 / d
    h = d
    for m in range(1, _CF_MAX_TERMS):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if -tiny < d < tiny:
            d = tiny
        c = 1.0 + aa / c
        if -tiny < c < tiny:
            c = tiny
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if -tiny < d < tiny:
            d = tiny
        c = 1.0 + aa / c
        if -tiny < c < tiny:
            c = tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if -_CF_EPSILON <= delta - 1.0 <= _CF_EPSILON:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def _stirling_tail(z: float) -> float:
    """ln Γ(z) − [(z − ½) ln z − z + ½ ln 2π]: the Stirling series, for z ≥ 50."""
    w = 1.0 / (z * z)
    return (1.0 / 12.0 - w * (1.0 / 360.0 - w * (1.0 / 1260.0 - w / 1680.0))) / z


def _log_beta(a: float, b: float) -> float:
    """ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b), without cancellation for large a or b."""
    big, small = max(a, b), min(a, b)
    if big < 50.0:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    # ln Γ(big + small) − ln Γ(big) by Stirling's series, the large terms cancelled by hand.
    rise = (
        (big - 0.5) * math.log1p(small / big)
        + small * math.log(big + small)
        - small
        + _stirling_tail(big + small)
        - _stirling_tail(big)
    )
    return math.lgamma(small) - rise


def log_regularized_beta(a: float, b: float, x: float, y: float) -> float:
    """ln I_x(a, b), the regularized incomplete beta, with y = 1 − x given exactly."""
    if x <= 0.0:
        return -math.inf
    if y <= 0.0:
        return 0.0
    log_x = math.log(x) if x < 0.5 else math.log1p(-y)
    log_y = math.log(y) if y < 0.5 else math.log1p(-x)
    front = a * log_x + b * log_y - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return front + math.log(_beta_continued_fraction(a, b, x) / a)
    rest = math.exp(front) * _beta_continued_fraction(b, a, y) / b
    return math.log1p(-rest) if rest < 1.0 else -math.inf


def student_t_log_sf(t: float, df: float) -> float:
    """ln P(T > t) for Student's t with `df` > 0 degrees of freedom (∞: the normal)."""
    if not df > 0.0:
        raise ValueError(f"df={df!r}: expected degrees of freedom > 0")
    if math.isinf(t):
        return -math.inf if t > 0 else 0.0
    if df >= _NORMAL_DF:
        return normal_log_cdf(-t)
    if t < 0.0:
        return math.log1p(-math.exp(student_t_log_sf(-t, df)))
    if t > 1e100:
        # t² would overflow; the tail's leading term, exact to O(1/t²) relative:
        # P(T > t) ≈ Γ((ν+1)/2) / (Γ(ν/2) √(νπ)) · ν^((ν−1)/2) · t^(−ν).
        return (
            math.lgamma(0.5 * (df + 1.0))
            - math.lgamma(0.5 * df)
            - 0.5 * math.log(df * math.pi)
            + 0.5 * (df - 1.0) * math.log(df)
            - df * math.log(t)
        )
    tt = t * t
    # P(T > t) = ½ I_{ν/(ν+t²)}(ν/2, ½) for t ≥ 0.
    return -_LOG_2 + log_regularized_beta(0.5 * df, 0.5, df / (df + tt), tt / (df + tt))


def student_t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with `df` degrees of freedom."""
    return math.exp(student_t_log_sf(t, df))


def student_t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with `df` degrees of freedom."""
    return math.exp(student_t_log_sf(-t, df))


def _student_t_log_pdf(t: float, df: float) -> float:
    t = abs(t)
    # ln(1 + t²/ν), without overflowing t² for huge t.
    spread = math.log1p(t * t / df) if t < 1e100 else 2.0 * math.log(t) - math.log(df)
    return (
        math.lgamma(0.5 * (df + 1.0))
        - math.lgamma(0.5 * df)
        - 0.5 * math.log(df * math.pi)
        - 0.5 * (df + 1.0) * spread
    )


def student_t_isf_log(log_q: float, df: float) -> float:
    """The t with ln P(T > t) = `log_q`, for ln ½ ≥ `log_q` (an upper-tail quantile)."""
    if not df > 0.0:
        raise ValueError(f"df={df!r}: expected degrees of freedom > 0")
    if log_q >= -_LOG_2:
        if log_q > -_LOG_2 + 1e-15:
            raise ValueError(f"log_q={log_q!r}: expected an upper-tail probability ≤ ½")
        return 0.0
    z = normal_isf_log(log_q)
    if df >= _NORMAL_DF:
        return z
    # Cornish–Fisher start (Abramowitz & Stegun 26.7.5), then Newton steps on ln P(T > t)
    # against ln t (nearly linear in the tail), kept inside a bracket [lo, hi] of the root.
    z2 = z * z
    g1 = z * (z2 + 1.0) / 4.0
    g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0
    g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0
    g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0
    t = z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
    t = t if math.isfinite(t) and t > 0.0 else max(z, 1e-3)
    lo, hi = 0.0, math.inf
    for _ in range(200):
        log_sf = student_t_log_sf(t, df)
        f = log_sf - log_q
        if f > 0.0:
            lo = t
        else:
            hi = t
        # d ln P(T > t) / d ln t = −t · pdf / sf
        slope = -t * math.exp(_student_t_log_pdf(t, df) - log_sf)
        if slope < 0.0:
            # A step is at most a factor e²⁰ (the far tail of ν ≈ 1 spans hundreds of
            # decades). Newton converges quadratically: a step of 1e-8 leaves ~1e-16.
            candidate = t * math.exp(max(-20.0, min(20.0, -f / slope)))
            if abs(candidate - t) <= 1e-8 * t:
                return candidate
            if lo < candidate < hi:
                t = candidate
                continue
        # Outside the bracket (or no slope): grow while unbounded, else bisect.
        if math.isinf(hi):
            t = max(2.0 * t, 1.0)
        else:
            t = math.sqrt(lo * hi) if lo > 0.0 else 0.5 * (lo + hi)
    return t


def student_t_isf(q: float, df: float) -> float:
    """The t with P(T > t) = q, for 0 < q < 1 (q > ½ gives a negative t)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q={q!r}: expected a probability in (0, 1)")
    if q > 0.5:
        return -student_t_isf_log(math.log1p(-q), df)
    return student_t_isf_log(math.log(q), df)


def student_t_ppf(p: float, df: float) -> float:
    """The t with P(T ≤ t) = p, for 0 < p < 1."""
    return student_t_isf(1.0 - p, df) if p > 0.5 else -student_t_isf(p, df)


def normal_equivalent(t: float, df: float | None) -> float:
    """The normal score with the same tail probability as `t` under Student's t_df."""
    if df is None or df >= _NORMAL_DF or t == 0.0:
        return t
    z = normal_isf_log(student_t_log_sf(abs(t), df))
    return math.copysign(z, t)


def t_equivalent(z: float, df: float | None) -> float:
    """The t score (df degrees of freedom) with the same tail probability as normal `z`."""
    if df is None or df >= _NORMAL_DF or z == 0.0:
        return z
    return math.copysign(student_t_isf_log(normal_log_cdf(-abs(z)), df), z)


def welch_df(var_before: float, n_before: int, var_after: float, n_after: int) -> float:
    """Welch–Satterthwaite degrees of freedom of s_B²/n₀ + s_A²/m."""
    u, w = var_before / n_before, var_after / n_after
    # (u + w)² / (u²/(n₀ − 1) + w²/(m − 1)), with the shares of u and w so nothing underflows.
    share_u, share_w = u / (u + w), w / (u + w)
    return 1.0 / (share_u * share_u / (n_before - 1) + share_w * share_w / (n_after - 1))


# -- the normal mixtures ------------------------------------------------------------------


def two_sided_log_lr(z: float, variance: float, tau: float) -> float:
    """ln Λ of the symmetric normal mixture N(0, τ²) for a standardized difference z."""
    ratio = tau * tau / variance
    return -0.5 * math.log1p(ratio) + 0.5 * z * z * ratio / (1.0 + ratio)


def one_sided_log_lr(z: float, variance: float, tau: float) -> float:
    """ln Λ⁺ of the half-normal mixture on effects > 0 (evidence that d > 0)."""
    ratio = tau * tau / variance
    c = math.sqrt(ratio / (1.0 + ratio))
    x = c * z
    # ln 2 + ln Φ(cz) + ln Λ, where ln Λ = −½ ln(1 + τ²/V) + (cz)²/2; far below zero the
    # two large terms of ln Φ(cz) + (cz)²/2 cancel by hand.
    tail = normal_log_cdf(x) + 0.5 * x * x if x > -37.0 else _log_mills(x)
    return _LOG_2 - 0.5 * math.log1p(ratio) + tail


def two_sided_radius(variance: float, tau: float, alpha: float) -> float:
    """The z at which the symmetric mixture's Λ reaches 1/α (in standard errors)."""
    ratio = tau * tau / variance
    return math.sqrt((1.0 + 1.0 / ratio) * (math.log1p(ratio) - 2.0 * math.log(alpha)))


def one_sided_radius(variance: float, tau: float, alpha: float) -> float:
    """The z at which the one-sided mixture's Λ⁺ reaches 1/α (in standard errors)."""
    ratio = tau * tau / variance
    c = math.sqrt(ratio / (1.0 + ratio))
    target = -math.log(alpha)
    # Φ ≤ 1 bounds the root from below by the two-sided radius at 2α; Φ at that point
    # bounds it from above. ln Λ⁺ increases in z, so Newton is kept inside the bracket.
    lo = two_sided_radius(variance, tau, 2.0 * alpha)
    hi = math.sqrt(lo * lo - 2.0 * normal_log_cdf(c * lo) / (c * c))
    z = lo
    for _ in range(100):
        f = one_sided_log_lr(z, variance, tau) - target
        if f < 0.0:
            lo = z
        else:
            hi = z
        slope = c * math.exp(-0.5 * (c * z) ** 2 - _LOG_SQRT_2PI - normal_log_cdf(c * z))
        slope += c * c * z
        candidate = z - f / slope
        if not lo <= candidate <= hi:
            candidate = 0.5 * (lo + hi)
        if abs(candidate - z) <= 1e-14 * max(z, 1.0):
            return candidate
        z = candidate
    return z


def mixing_scale(improve: float, baseline_standard_error: float) -> float:
    """τ: the smallest improvement worth having, or 3 baseline standard errors if larger.

    A mixture whose scale is far below the precision the baseline allows can hardly ever
    decide (its boundary grows like the square root of V/τ²). The boundary is tightest
    when τ² is a few times the variance of the difference (Howard et al. 2021 give
    τ² ≈ 6–10 V for the levels used here); the variance of the difference never falls
    below the baseline's own s_B²/n₀, so τ is held at or above 3 standard errors of it.
    τ depends on the baseline alone, fixed before any after-sample is seen, so the
    guarantee holds as for any τ > 0.
    """
    return max(improve, BASELINE_STANDARD_ERRORS * baseline_standard_error)


# -- sample summaries -------------------------------------------------------------------


@attrs.frozen
class Summary:
    """Count, mean and sum of squared deviations of some samples (Chan et al.'s merge)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @classmethod
    def of(cls, samples: Iterable[float]) -> Summary:
        values = list(samples)
        if not values:
            return cls()
        mean = math.fsum(values) / len(values)
        deviations = [x - mean for x in values]
        return cls(len(values), mean, math.fsum(map(operator.mul, deviations, deviations)))

    def merge(self, other: Summary) -> Summary:
        if not other.count:
            return self
        if not self.count:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        return Summary(count, mean, m2)

    @property
    def variance(self) -> float:
        """The sample variance (n − 1 in the denominator); 0 for fewer than 2 samples."""
        return self.m2 / (self.count - 1) if self.count > 1 else 0.0


def finite_samples(samples: Sequence[float], what: str) -> list[float]:
    """`samples` as floats, or `ValidationError` naming `what` and the bad item."""
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence):
        raise ValidationError(f"{what}={samples!r}: expected a sequence of numbers")
    values: list[float] = []
    for i, x in enumerate(samples):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ValidationError(f"{what}[{i}]={x!r}: expected a finite number")
        values.append(float(x))
    return values


# -- the test over the looks of a run --------------------------------------------------


@attrs.frozen
class Look:
    """The always-valid state of one metric after look k (attempt k of a run)."""

    number: int
    tested: bool
    """False when the data could not be tested at this look (too few samples, no
    variation); the p-values and the interval are then those of the previous look."""
    n_before: int
    n_after: int
    estimate: float | None
    """d̂: the difference of the means in the better direction (None without samples)."""
    variance: float | None
    df: float | None
    """Welch degrees of freedom; None when the variances are known (declared noise)."""
    statistic: float | None
    """z: the standardized difference on the normal scale (t mapped when df is set)."""
    tau: float
    alpha: float
    p_helps: float
    """Always-valid p-value against "no improvement" (d ≤ 0): running minimum of 1/Λ⁺."""
    p_harms: float
    """Always-valid p-value against "no harm" (d ≥ 0): running minimum of 1/Λ⁻."""
    lower: float
    """Always-valid lower bound for d at level alpha (−inf before the first test)."""
    upper: float


def sequential_test(
    before: Sequence[float],
    batches: Sequence[Sequence[float]],
    *,
    better: str = "higher",
    tau: float,
    alpha: float | Sequence[float],
    sigma: float | None = None,
    min_samples: int = MIN_SAMPLES,
) -> tuple[Look, ...]:
    """Every look's always-valid p-values and interval for a fixed baseline.

    `batches[k]` holds the after-samples measured at attempt k + 1; look k pools the
    batches 1..k against `before`. `alpha` is the level of each end of the interval, one
    for all looks or one per look. `sigma` declares the standard deviation of one reading
    (the variances are then known); without it each side needs `min_samples` samples and
    some variation. A look that cannot be tested carries the previous look's state.
    Samples that are not finite numbers raise `ValidationError` naming the item.
    """
    base = Summary.of(finite_samples(before, "before"))
    pooled: list[Summary] = []
    running = Summary()
    for k, batch in enumerate(batches):
        running = running.merge(Summary.of(finite_samples(batch, f"batches[{k}]")))
        pooled.append(running)
    return sequential_looks(
        base, pooled, better=better, tau=tau, alpha=alpha, sigma=sigma, min_samples=min_samples
    )


def sequential_looks(
    base: Summary,
    pooled: Sequence[Summary],
    *,
    better: str = "higher",
    tau: float,
    alpha: float | Sequence[float],
    sigma: float | None = None,
    min_samples: int = MIN_SAMPLES,
) -> tuple[Look, ...]:
    """`sequential_test` from summaries: the baseline's and the pooled after-samples' at
    each look (`pooled[k]` summarizes every after-sample of attempts 1..k + 1)."""
    if better not in ("higher", "lower"):
        raise ValidationError(f"better={better!r}: expected 'higher' or 'lower'")
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau > 0:
        raise ValidationError(f"tau={tau!r}: expected a number > 0")
    if not math.isfinite(tau):
        raise ValidationError(f"tau={tau!r}: expected a finite number")
    if sigma is not None and (
        isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0
    ):
        raise ValidationError(f"sigma={sigma!r}: expected None or a number > 0")
    if sigma is not None and not math.isfinite(sigma):
        raise ValidationError(f"sigma={sigma!r}: expected a finite number")
    alphas = _alphas(alpha, len(pooled))
    sign = 1.0 if better == "higher" else -1.0
    needed = 1 if sigma is not None else max(2, min_samples)
    p_helps = p_harms = 1.0
    lower, upper = -math.inf, math.inf
    looks: list[Look] = []
    for k, after in enumerate(pooled):
        level = alphas[k]
        estimate = variance = df = z = None
        tested = False
        if base.count and after.count:
            estimate = sign * (after.mean - base.mean)
        if estimate is not None and base.count >= needed and after.count >= needed:
            if sigma is not None:
                variance = sigma * sigma * (1.0 / base.count + 1.0 / after.count)
            else:
                variance = base.variance / base.count + after.variance / after.count
                if variance > 0.0:
                    df = welch_df(base.variance, base.count, after.variance, after.count)
        if estimate is not None and variance is not None and variance > 0.0:
            tested = True
            se = math.sqrt(variance)
            z = normal_equivalent(estimate / se, df)
            p_helps = min(p_helps, _p_value(one_sided_log_lr(z, variance, tau)))
            p_harms = min(p_harms, _p_value(one_sided_log_lr(-z, variance, tau)))
            half = t_equivalent(one_sided_radius(variance, tau, level), df) * se
            lower = max(lower, estimate - half)
            upper = min(upper, estimate + half)
        low, high = lower, upper
        if tested and estimate is not None:
            # An empty intersection (the data contradict an earlier look) or an estimate
            # outside it: widen to the estimate, which only ever adds coverage.
            low, high = min(lower, upper, estimate), max(lower, upper, estimate)
        looks.append(
            Look(
                number=k + 1,
                tested=tested,
                n_before=base.count,
                n_after=after.count,
                estimate=estimate,
                variance=variance,
                df=df,
                statistic=z,
                tau=float(tau),
                alpha=level,
                p_helps=p_helps,
                p_harms=p_harms,
                lower=low,
                upper=high,
            )
        )
    return tuple(looks)


def _p_value(log_lr: float) -> float:
    return 1.0 if log_lr <= 0.0 else math.exp(-log_lr)


def _alphas(alpha: float | Sequence[float], looks: int) -> list[float]:
    values = [alpha] * looks if isinstance(alpha, (int, float)) else list(alpha)
    if len(values) != looks:
        raise ValidationError(f"alpha: {len(values)} levels for {looks} looks")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"alpha={value!r}: expected a number in (0, 0.5]")
        if not 0.0 < value <= 0.5:
            raise ValidationError(f"alpha={value!r}: expected a number in (0, 0.5]")
    return [float(v) for v in values]
