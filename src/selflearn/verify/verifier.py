"""The default verifier: always-valid sequential tests on samples, thresholds on exact readings.

Each metric of an attempt is judged one of four ways:

- **sequential** — samples on both sides (at least 5 each), or a declared `noise` (each
  reading is then one sample with that standard deviation): the always-valid test of
  `selflearn.verify.sequential` on the baseline against the after-samples of every
  attempt so far, pooled. With M metrics judged so in an attempt, each end of each
  metric's interval is held at level α/M (Bonferroni). The metric *helps* when its
  interval lies above 0 and its estimate reaches `improve`; *harms* when the interval
  lies below 0 and the estimate reaches −`regress`; is *settled-null* when the interval
  lies inside (−`regress`, `improve`); else it is *open*.
- **exact** — one reading on each side and no declared noise: the host says the readings
  are the truth, and thresholds apply to the difference (`improve`, `regress`,
  `critical`, `weak`). So does a pair of sample lists with no variation at all and a
  difference.
- **insufficient** — anything else (too few samples, a list against a single reading
  without noise, a missing side, readings that are not finite numbers). It never decides.
- **unknown_metric** — the verifier has no spec for it; recorded, never decisive.

The verdict: `loss` if any metric harms (or an exact metric is critical); else `win` if
any helps; else `inconclusive` — pending a recheck while more data could decide, final
(`no_meaningful_effect`) when every sequential metric is settled-null.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from selflearn.exceptions import ConfigError, ValidationError
from selflearn.ports import ExecutionResult, Metrics, Verdict, VerdictKind
from selflearn.verify.sequential import (
    MIN_SAMPLES,
    Look,
    Summary,
    mixing_scale,
    sequential_looks,
)

VERIFIER_NAME: Final = "selflearn.RuleVerifier"
VERIFIER_VERSION: Final = "2"
"""Version of the verification rules: 1 was per-attempt thresholds with Welch tests;
2 is the always-valid sequential test with pooled after-samples."""
DEFAULT_ALPHA: Final = 0.05
# Thresholds are compared with this tolerance, so a Δ that equals a threshold in decimal
# (0.3 - 0.28 is 0.01999… in binary) counts as reaching it.
_EPSILON: Final = 1e-9

Method = Literal["sequential", "exact", "insufficient", "unknown_metric"]
Judgement = Literal["helps", "harms", "critical", "settled_null", "open", "weak", "neutral", "none"]


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@attrs.frozen
class MetricSpec:
    """How one metric is judged; thresholds are magnitudes in the metric's own unit.

    `better` says which direction is an improvement. `improve` (> 0) is the smallest
    improvement worth having, `regress` (≥ 0, default: `improve`) the smallest harm that
    counts. `critical` and `weak` apply to exact readings only: a harm of at least
    `critical` is a loss on its own, a change smaller than `weak` either way is no signal
    (a recheck follows). `noise` declares the standard deviation of one reading, so that
    single readings are treated as samples and tested sequentially; without it two
    single readings are taken as exact.
    """

    name: str
    better: Literal["higher", "lower"]
    improve: float
    regress: float = attrs.field(default=attrs.Factory(lambda self: self.improve, takes_self=True))
    weak: float | None = None
    critical: float | None = None
    noise: float | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValidationError(f"MetricSpec.name={self.name!r}: expected a non-empty string")
        where = f"MetricSpec {self.name!r}"
        if self.better not in ("higher", "lower"):
            raise ValidationError(f"{where}: better={self.better!r}, expected higher/lower")
        checks: tuple[tuple[str, bool, str], ...] = (
            ("improve", False, "a finite number > 0"),
            ("regress", False, "a finite number >= 0"),
            ("weak", True, "None or a finite number >= 0"),
            ("critical", True, "None or a finite number > 0"),
            ("noise", True, "None or a finite number >= 0"),
        )
        for field, optional, expected in checks:
            value = getattr(self, field)
            if value is None and optional:
                continue
            ok = _number(value) and math.isfinite(value)
            if ok and field in ("improve", "critical"):
                ok = value > 0
            elif ok:
                ok = value >= 0
            if not ok:
                raise ValidationError(f"{where}: {field}={value!r}, expected {expected}")

    @property
    def sigma(self) -> float | None:
        """The declared standard deviation of one reading (None: not declared, or 0)."""
        return float(self.noise) if self.noise else None

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (numbers as floats), as it is recorded with a verdict."""
        return {
            "name": self.name,
            "better": self.better,
            "improve": float(self.improve),
            "regress": float(self.regress),
            "weak": None if self.weak is None else float(self.weak),
            "critical": None if self.critical is None else float(self.critical),
            "noise": None if self.noise is None else float(self.noise),
        }


DEFAULT_SPECS: Final = (
    MetricSpec("health_score", "higher", improve=1.0, regress=1.0, weak=0.5, critical=2.0),
    MetricSpec("open_issues", "lower", improve=1, regress=1, weak=1, critical=1),
    MetricSpec("total_errors", "lower", improve=1, regress=1, weak=1, critical=2),
    MetricSpec("avg_duration_ms", "lower", improve=100, regress=200, weak=50),
    MetricSpec("success_rate", "higher", improve=0.02, regress=0.02, weak=0.01),
)


# -- readings -----------------------------------------------------------------------------


@attrs.frozen
class _Reading:
    """One side of a metric at one attempt: a scalar, samples, or why it is unusable."""

    summary: Summary = attrs.field(factory=Summary)
    scalar: bool = False
    problem: str | None = None


def _read(value: object) -> _Reading:
    if _number(value):
        assert isinstance(value, (int, float))
        if not math.isfinite(value):
            return _Reading(problem=f"{value!r} is not a finite number")
        return _Reading(Summary(1, float(value), 0.0), scalar=True)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return _Reading(problem=f"{type(value).__name__} is not a number or a list of numbers")
    if not value:
        return _Reading(problem="an empty list of samples")
    for x in value:
        if not _number(x) or not math.isfinite(x):
            return _Reading(problem=f"the samples hold {x!r}, not a finite number")
    try:
        summary = Summary.of(map(float, value))
    except OverflowError:
        return _Reading(problem="the samples are too large to average")
    if not math.isfinite(summary.m2):
        return _Reading(problem="the samples are too large to average")
    return _Reading(summary)


def mean_of(value: float | Sequence[float]) -> float:
    """A scalar metric's value, or the mean of its samples."""
    if _number(value):
        return float(value)  # type: ignore[arg-type]
    return statistics.fmean(value)  # type: ignore[arg-type]


def deltas(before: Metrics, after: Metrics) -> dict[str, float]:
    """Δ = after − before (of means) for every metric readable on both sides."""
    result: dict[str, float] = {}
    for name in before:
        if name not in after:
            continue
        b, a = _read(before[name]), _read(after[name])
        if b.problem is None and a.problem is None:
            result[name] = a.summary.mean - b.summary.mean
    return result


# -- the judgement of a run, look by look ----------------------------------------------


@attrs.frozen
class MetricJudgement:
    """How one metric was judged at one look, with everything needed to re-derive it."""

    name: str
    method: Method
    judgement: Judgement
    reason: str
    spec: MetricSpec | None = None
    n_before: int | None = None
    n_after: int | None = None
    d: float | None = None
    lower: float | None = None
    upper: float | None = None
    p_helps: float | None = None
    p_harms: float | None = None
    tau: float | None = None
    df: float | None = None
    level: float | None = None

    @property
    def p(self) -> float | None:
        """The smaller of the two directions' always-valid p-values (unadjusted)."""
        if self.p_helps is None or self.p_harms is None:
            return None
        return min(self.p_helps, self.p_harms)

    def to_dict(self) -> dict[str, Any]:
        """The record of this metric as it goes into a verdict's signals."""
        return {
            "method": self.method,
            "judgement": self.judgement,
            "n_before": self.n_before,
            "n_after": self.n_after,
            "d": self.d,
            "interval": None if self.lower is None else [_bound(self.lower), _bound(self.upper)],
            "p_helps": self.p_helps,
            "p_harms": self.p_harms,
            "tau": self.tau,
            "df": self.df,
            "level": self.level,
            "spec": None if self.spec is None else self.spec.to_dict(),
            "reason": self.reason,
        }


@attrs.frozen
class LookJudgement:
    """The verdict of one look (attempt) of a run and the judgement of each metric."""

    number: int
    kind: VerdictKind
    confidence: float
    pending_recheck: bool
    outcome: str
    """Why: harmed, critical, helped, open, no_meaningful_effect, no_data, weak or
    below_thresholds."""
    summary: str
    metrics: tuple[MetricJudgement, ...]
    m: int
    """How many metrics were judged sequentially (each end held at alpha / m)."""
    alpha: float
    verifier: Mapping[str, str]

    @property
    def final(self) -> bool:
        """True when the verdict ends the run (it is not pending a recheck)."""
        return not self.pending_recheck

    @property
    def signals(self) -> dict[str, Any]:
        """Everything needed to re-derive the verdict, as plain data."""
        return {
            "verifier": dict(self.verifier),
            "attempt": self.number,
            "alpha": self.alpha,
            "m": self.m,
            "outcome": self.outcome,
            "metrics": {x.name: x.to_dict() for x in self.metrics},
        }

    @property
    def verdict(self) -> Verdict:
        """The port's verdict: kind, confidence, pending, signals and reasons."""
        return Verdict(
            kind=self.kind,
            confidence=self.confidence,
            pending_recheck=self.pending_recheck,
            signals=self.signals,
            reasons=(f"{self.outcome}: {self.summary}", *(x.reason for x in self.metrics)),
        )


@attrs.frozen
class _Track:
    """One metric's readings over the looks, classified, with its pooled after-samples."""

    spec: MetricSpec
    before: _Reading
    afters: tuple[_Reading | None, ...]
    methods: tuple[Method, ...]
    reasons: tuple[str, ...]
    pooled: tuple[Summary, ...]


def _specs(value: object) -> tuple[MetricSpec, ...]:
    if value is None:
        return DEFAULT_SPECS
    if isinstance(value, MetricSpec):
        return (value,)
    if isinstance(value, Mapping):
        value = tuple(value.values())
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValidationError(f"RuleVerifier.specs={value!r}: expected a sequence of MetricSpec")
    specs = tuple(value)
    names: set[str] = set()
    for spec in specs:
        if not isinstance(spec, MetricSpec):
            raise ValidationError(f"RuleVerifier.specs holds {spec!r}, expected MetricSpec")
        if spec.name in names:
            raise ValidationError(f"RuleVerifier.specs: {spec.name!r} is declared twice")
        names.add(spec.name)
    return specs


def _alpha(value: object) -> float:
    if value is None:
        return DEFAULT_ALPHA
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 0.5:
        raise ConfigError(f"RuleVerifier.alpha={value!r}: expected a number in (0, 0.5]")
    return float(value)


@attrs.frozen
class RuleVerifier:
    """The default verifier. `specs` replace the default metric specs; `alpha` is the
    chance, over all the attempts of a run together, that a change which does nothing is
    called a win (and, separately, a loss)."""

    specs: tuple[MetricSpec, ...] = attrs.field(default=None, converter=_specs)
    alpha: float = attrs.field(default=None, converter=_alpha)

    @property
    def identity(self) -> dict[str, str]:
        """The verifier's name and rule version, as recorded with each verdict."""
        return {"name": VERIFIER_NAME, "version": VERIFIER_VERSION}

    def verify(self, before: Metrics, after: Metrics, execution: ExecutionResult) -> Verdict:
        """Judge a run with a single attempt (its first look)."""
        return self.verify_run(before, (after,), execution)

    def verify_run(
        self, before: Metrics, afters: Sequence[Metrics], execution: ExecutionResult
    ) -> Verdict:
        """Judge the latest attempt of a run from the baseline and every attempt's metrics.

        `afters[k]` is what the probe measured at attempt k + 1. The after-samples of all
        of them are pooled, so the verdict of the last attempt carries the evidence of
        the earlier ones, and the guarantee holds over all the attempts together.
        """
        if isinstance(afters, Mapping) or not isinstance(afters, Sequence) or not afters:
            raise ValidationError("afters: expected a non-empty sequence of the attempts' metrics")
        return self.judge_run(before, afters)[-1].verdict

    def judge_run(self, before: Metrics, afters: Sequence[Metrics]) -> tuple[LookJudgement, ...]:
        """The judgement of every look of a run (attempts 1..len(afters)), in one pass.

        Look k sees exactly what `verify_run(before, afters[:k], …)` sees, so a caller
        that stops at the first final verdict gets the same decisions either way.
        """
        if not isinstance(before, Mapping):
            raise ValidationError(f"before: expected a mapping of metrics, got {before!r}")
        for k, after in enumerate(afters):
            if not isinstance(after, Mapping):
                raise ValidationError(f"afters[{k}]: expected a mapping of metrics, got {after!r}")
        looks = len(afters)
        known = {spec.name: spec for spec in self.specs}
        tracks = [
            _track(spec, before, afters)
            for spec in self.specs
            if spec.name in before or any(spec.name in after for after in afters)
        ]
        m = [sum(1 for track in tracks if track.methods[k] == "sequential") for k in range(looks)]
        sequential = {
            track.spec.name: _sequential_looks(track, [self.alpha / max(1, x) for x in m])
            for track in tracks
            if "sequential" in track.methods
        }
        unknown = sorted(
            {name for name in before if name not in known}
            | {name for after in afters for name in after if name not in known}
        )
        result: list[LookJudgement] = []
        for k in range(looks):
            metrics = [_judge(track, k, sequential.get(track.spec.name)) for track in tracks]
            metrics += [
                MetricJudgement(
                    name=name,
                    method="unknown_metric",
                    judgement="none",
                    reason=f"{name}: unknown metric, no spec to judge it by",
                )
                for name in unknown
                if name in before or name in afters[k]
            ]
            result.append(self._verdict(k + 1, tuple(metrics), m[k]))
        return tuple(result)

    def _verdict(self, number: int, metrics: tuple[MetricJudgement, ...], m: int) -> LookJudgement:
        by = {j: [x for x in metrics if x.judgement == j] for j in ("helps", "harms", "critical")}
        sequential = [x for x in metrics if x.method == "sequential"]
        exact = [x for x in metrics if x.method == "exact"]

        def adjusted(p: float | None) -> float:
            return min(1.0, m * (p if p is not None else 1.0))

        pending = False
        kind: VerdictKind
        if by["harms"] or by["critical"]:
            kind, deciding = "loss", by["harms"] + by["critical"]
            seq = [x for x in deciding if x.method == "sequential"]
            if seq:
                confidence = 1.0 - min(adjusted(x.p_harms) for x in seq)
            else:
                confidence = 0.85 if by["critical"] else 0.75
            outcome = "critical" if by["critical"] and not seq else "harmed"
        elif by["helps"]:
            kind, deciding = "win", by["helps"]
            seq = [x for x in deciding if x.method == "sequential"]
            if seq:
                confidence = 1.0 - min(adjusted(x.p_helps) for x in seq)
            else:
                confidence = 0.80 if len(deciding) >= 2 else 0.66
            outcome = "helped"
        else:
            kind, deciding = "inconclusive", []
            confidence = 1.0 - min(adjusted(x.p) for x in sequential) if sequential else 0.5
            if any(x.judgement == "open" for x in sequential):
                pending, outcome = True, "open"
            elif sequential:
                outcome = "no_meaningful_effect"
            elif not exact:
                pending, outcome = True, "no_data"
            elif all(x.judgement == "weak" for x in exact):
                pending, outcome = True, "weak"
            else:
                outcome = "below_thresholds"
        summary = _SUMMARIES[outcome].format(
            names=", ".join(x.name for x in deciding) or "no metric"
        )
        return LookJudgement(
            number=number,
            kind=kind,
            confidence=min(1.0, max(0.0, confidence)),
            pending_recheck=pending,
            outcome=outcome,
            summary=summary,
            metrics=metrics,
            m=m,
            alpha=self.alpha,
            verifier=self.identity,
        )


_SUMMARIES: Final = {
    "harmed": "{names} harmed",
    "critical": "{names} fell past the critical threshold",
    "helped": "{names} helped",
    "open": "no metric decided yet; more data could",
    "no_meaningful_effect": "every tested metric is settled inside its practical margins",
    "no_data": "no metric could be judged",
    "weak": "every metric changed less than its weak threshold",
    "below_thresholds": "no metric reached its thresholds",
}


def _track(spec: MetricSpec, before: Metrics, afters: Sequence[Metrics]) -> _Track:
    """Classify each look of one metric and pool its after-samples look by look."""
    base = _read(before[spec.name]) if spec.name in before else None
    sigma = spec.sigma
    readings: list[_Reading | None] = []
    methods: list[Method] = []
    reasons: list[str] = []
    pooled: list[Summary] = []
    running = Summary()
    for k, after in enumerate(afters):
        reading = _read(after[spec.name]) if spec.name in after else None
        readings.append(reading)
        if _poolable(reading, sigma):
            assert reading is not None
            running = running.merge(reading.summary)
        pooled.append(running)
        method, reason = _classify(spec, base=base, reading=reading, pooled=running, number=k + 1)
        methods.append(method)
        reasons.append(reason)
    return _Track(
        spec=spec,
        before=base if base is not None else _Reading(problem="not measured"),
        afters=tuple(readings),
        methods=tuple(methods),
        reasons=tuple(reasons),
        pooled=tuple(pooled),
    )


def _poolable(reading: _Reading | None, sigma: float | None) -> bool:
    """Whether an attempt's reading joins the pooled after-samples."""
    return (
        reading is not None
        and reading.problem is None
        and (sigma is not None or not reading.scalar)
    )


def _classify(
    spec: MetricSpec,
    *,
    base: _Reading | None,
    reading: _Reading | None,
    pooled: Summary,
    number: int,
) -> tuple[Method, str]:
    name = spec.name
    if base is None:
        return "insufficient", f"{name}: not measured before the execution"
    if base.problem is not None:
        return "insufficient", f"{name}: the baseline is unusable ({base.problem})"
    if reading is None:
        return "insufficient", f"{name}: not measured at attempt {number}"
    if reading.problem is not None:
        return "insufficient", f"{name}: unusable at attempt {number} ({reading.problem})"
    if spec.sigma is not None:
        return "sequential", ""
    if base.scalar and reading.scalar:
        return "exact", ""
    if base.scalar or reading.scalar:
        return "insufficient", (
            f"{name}: a list of samples against a single reading; "
            "send samples on both sides or declare the metric's noise"
        )
    if base.summary.count < MIN_SAMPLES or pooled.count < MIN_SAMPLES:
        return "insufficient", (
            f"{name}: {base.summary.count} samples before, {pooled.count} after; "
            f"at least {MIN_SAMPLES} on each side are needed (or a declared noise)"
        )
    if base.summary.m2 == 0.0 and pooled.m2 == 0.0:
        if pooled.mean != base.summary.mean:
            return "exact", ""
        return "insufficient", f"{name}: no variation and no difference on either side"
    return "sequential", ""


def _sequential_looks(track: _Track, alphas: list[float]) -> tuple[Look, ...]:
    spec = track.spec
    sigma = spec.sigma
    base = track.before.summary
    if sigma is not None:
        se = sigma / math.sqrt(base.count)
    else:
        se = math.sqrt(base.variance / base.count)
    tau = mixing_scale(float(spec.improve), se)
    # The same pooled summaries `_track` classified, so a look is tested exactly when it
    # was classified sequential.
    return sequential_looks(
        base, track.pooled, better=spec.better, tau=tau, alpha=alphas, sigma=sigma
    )


def _judge(track: _Track, k: int, looks: tuple[Look, ...] | None) -> MetricJudgement:
    spec = track.spec
    method = track.methods[k]
    n_before = track.before.summary.count or None
    if method == "insufficient":
        return MetricJudgement(
            name=spec.name,
            method=method,
            judgement="none",
            reason=track.reasons[k],
            spec=spec,
            n_before=n_before,
            n_after=track.pooled[k].count or None,
        )
    if method == "exact":
        return _judge_exact(track, k)
    assert looks is not None
    look = looks[k]
    assert look.tested
    assert look.estimate is not None
    d, lower, upper = look.estimate, look.lower, look.upper
    improve, regress = float(spec.improve), float(spec.regress)
    if lower > 0.0 and d >= improve - _EPSILON:
        judgement: Judgement = "helps"
    elif upper < 0.0 and d <= -regress + _EPSILON:
        judgement = "harms"
    elif lower > -regress and upper < improve:
        judgement = "settled_null"
    else:
        judgement = "open"
    words = {
        "helps": "helped",
        "harms": "harmed",
        "settled_null": "no effect worth having",
        "open": "open",
    }[judgement]
    p = look.p_helps if d >= 0 else look.p_harms
    reason = (
        f"{spec.name} {_interval_text(d, lower, upper)}, {words} "
        f"(sequential, n {look.n_before}/{look.n_after}, p {p:.2g})"
    )
    return MetricJudgement(
        name=spec.name,
        method="sequential",
        judgement=judgement,
        reason=reason,
        spec=spec,
        n_before=look.n_before,
        n_after=look.n_after,
        d=d,
        lower=lower,
        upper=upper,
        p_helps=look.p_helps,
        p_harms=look.p_harms,
        tau=look.tau,
        df=look.df,
        level=look.alpha,
    )


def _judge_exact(track: _Track, k: int) -> MetricJudgement:
    spec = track.spec
    reading = track.afters[k]
    assert reading is not None
    before, after = track.before.summary, reading.summary
    delta = after.mean - before.mean
    d = delta if spec.better == "higher" else -delta
    if spec.critical is not None and -d >= spec.critical - _EPSILON:
        judgement: Judgement = "critical"
    elif -d >= spec.regress - _EPSILON and -d > _EPSILON:
        judgement = "harms"
    elif d >= spec.improve - _EPSILON:
        judgement = "helps"
    elif spec.weak is not None and abs(d) < spec.weak - _EPSILON:
        judgement = "weak"
    else:
        judgement = "neutral"
    words = {
        "critical": "harmed past the critical threshold",
        "harms": "harmed",
        "helps": "helped",
        "weak": "weak",
        "neutral": "below the thresholds",
    }[judgement]
    return MetricJudgement(
        name=spec.name,
        method="exact",
        judgement=judgement,
        reason=f"{spec.name} {_signed(d)}, {words} (exact)",
        spec=spec,
        n_before=before.count,
        n_after=after.count,
        d=d,
    )


def _decimals(*scales: float) -> int:
    """Decimals that show two significant digits of the smallest of `scales` (> 0)."""
    places = [1 - math.floor(math.log10(x)) for x in scales if x > 0 and math.isfinite(x)]
    return min(10, max(0, *places)) if places else 2


def _signed(x: float, decimals: int | None = None) -> str:
    places = _decimals(abs(x)) if decimals is None else decimals
    text = f"{abs(x):.{places}f}"
    if float(text) == 0.0:
        return text
    return ("−" if x < 0 else "+") + text


def _plain(x: float, decimals: int) -> str:
    text = f"{abs(x):.{decimals}f}"
    return ("−" if x < 0 and float(text) != 0.0 else "") + text


def _bound(value: float | None) -> float | None:
    """An interval's end as recorded: an unbounded end (±∞, too few samples) is None."""
    return None if value is None or math.isinf(value) else value


def _interval_text(d: float, lower: float, upper: float) -> str:
    """ "−0.031 [−0.040, −0.022]": the estimate and its interval, in the same decimals."""
    places = _decimals(upper - lower, abs(d))
    return f"{_signed(d, places)} [{_plain(lower, places)}, {_plain(upper, places)}]"
