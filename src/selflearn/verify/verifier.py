"""The default verifier: threshold rules on scalar metrics, Welch tests on samples."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from selflearn.exceptions import ValidationError
from selflearn.ports import ExecutionResult, Metrics, Verdict, VerdictKind

# Thresholds are compared with this tolerance, so a Δ that equals a threshold in decimal
# (0.3 - 0.28 is 0.01999… in binary) counts as reaching it.
_EPSILON: Final = 1e-9
PROBABILITY_BAR: Final = 0.9


@attrs.frozen
class MetricSpec:
    """How one metric is judged. Thresholds are magnitudes of Δ in the metric's own unit.

    `better` says which direction is an improvement; a Δ of at least `improve` that way is
    a positive, at least `regress` the other way a negative, at least `critical` the other
    way a loss on its own; below `weak` either way the metric gave a weak signal.
    """

    name: str
    better: Literal["higher", "lower"]
    improve: float
    regress: float
    weak: float
    critical: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.better not in ("higher", "lower"):
            raise ValidationError(
                f"MetricSpec {self.name!r}: better={self.better!r}, expected higher/lower"
            )
        for name in ("improve", "regress", "weak", "critical"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValidationError(
                    f"MetricSpec {self.name!r}: {name}={value!r}, expected a number >= 0"
                )


DEFAULT_SPECS: Final = (
    MetricSpec("health_score", "higher", improve=1.0, regress=1.0, weak=0.5, critical=2.0),
    MetricSpec("open_issues", "lower", improve=1, regress=1, weak=1, critical=1),
    MetricSpec("total_errors", "lower", improve=1, regress=1, weak=1, critical=2),
    MetricSpec("avg_duration_ms", "lower", improve=100, regress=200, weak=50),
    MetricSpec("success_rate", "higher", improve=0.02, regress=0.02, weak=0.01),
)


def mean_of(value: float | Sequence[float]) -> float:
    """A scalar metric's value, or the mean of its samples."""
    if isinstance(value, (int, float)):
        return float(value)
    return statistics.fmean(value)


def deltas(before: Metrics, after: Metrics) -> dict[str, float]:
    """Δ = after − before (of means) for every metric present on both sides."""
    return {name: mean_of(after[name]) - mean_of(before[name]) for name in before if name in after}


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _samples(value: float | Sequence[float]) -> Sequence[float] | None:
    if isinstance(value, (int, float)) or len(value) < 2:
        return None
    return value


def directional_probability(before: Sequence[float], after: Sequence[float], gain: float) -> float:
    """P(the true change is in the direction of `gain`) by Welch's normal approximation."""
    se = math.sqrt(
        statistics.variance(before) / len(before) + statistics.variance(after) / len(after)
    )
    if se == 0.0:
        return 1.0 if gain > 0 else 0.5 if gain == 0 else 0.0
    return _normal_cdf(gain / se)


@attrs.frozen
class RuleVerifier:
    """The default verifier; hosts may pass their own metric specs."""

    specs: tuple[MetricSpec, ...] = DEFAULT_SPECS

    def verify(self, before: Metrics, after: Metrics, execution: ExecutionResult) -> Verdict:
        """Judge one attempt: each metric against its spec, then the verdict."""
        positives: dict[str, float] = {}
        negatives: dict[str, float] = {}
        criticals: dict[str, float] = {}
        signals: dict[str, Any] = {}
        weak = True
        any_samples = False
        compared = 0
        for spec in self.specs:
            if spec.name not in before or spec.name not in after:
                continue
            compared += 1
            delta = mean_of(after[spec.name]) - mean_of(before[spec.name])
            gain = delta if spec.better == "higher" else -delta
            b, a = _samples(before[spec.name]), _samples(after[spec.name])
            p_up = p_down = 1.0
            if b is not None and a is not None:
                any_samples = True
                p_up = directional_probability(b, a, gain)
                p_down = directional_probability(b, a, -gain)
            improved = gain >= spec.improve - _EPSILON and p_up >= PROBABILITY_BAR
            regressed = -gain >= spec.regress - _EPSILON and p_down >= PROBABILITY_BAR
            critical = spec.critical is not None and -gain >= spec.critical - _EPSILON
            is_weak = abs(delta) < spec.weak - _EPSILON
            weak = weak and is_weak
            if improved:
                positives[spec.name] = p_up
            if regressed:
                negatives[spec.name] = p_down
            if critical:
                criticals[spec.name] = p_down
            signals[spec.name] = {
                "delta": delta,
                "direction": "improved" if improved else "regressed" if regressed else "neutral",
                "critical": critical,
                "weak": is_weak,
                "p_improve": p_up,
                "p_regress": p_down,
            }
        kind: VerdictKind
        if criticals:
            kind, deciding, scalar = "loss", criticals, 0.85
        elif len(negatives) >= 2:
            kind, deciding, scalar = "loss", negatives, 0.75
        elif positives and not negatives:
            kind, deciding, scalar = "win", positives, 0.80 if len(positives) >= 2 else 0.66
        elif positives:
            kind, deciding, scalar = "inconclusive", {**positives, **negatives}, 0.55
        else:
            kind, deciding, scalar = "inconclusive", {}, 0.50
        # With samples, the mean directional probability of the metrics that decided.
        confidence = statistics.fmean(deciding.values()) if any_samples and deciding else scalar
        # With no metric measured on both sides nothing moved: a weak signal, rechecked.
        pending = kind == "inconclusive" and confidence < 0.58 and weak
        reasons = [_reason(name, signal) for name, signal in signals.items()]
        if compared == 0:
            reasons.append("no metric was measured on both sides")
        return Verdict(
            kind=kind,
            confidence=confidence,
            pending_recheck=pending,
            signals=signals,
            reasons=tuple(reasons),
        )


def _reason(name: str, signal: Mapping[str, Any]) -> str:
    text = f"{name} {signal['direction']} (Δ {signal['delta']:+.4g})"
    if signal["critical"]:
        text += ", critical"
    if signal["weak"]:
        text += ", weak"
    return text
