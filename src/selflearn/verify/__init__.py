"""The default verifier, the specs of the metrics it judges, and its sequential statistics."""

from selflearn.verify.verifier import (
    DEFAULT_ALPHA,
    DEFAULT_SPECS,
    VERIFIER_NAME,
    VERIFIER_VERSION,
    LookJudgement,
    MetricJudgement,
    MetricSpec,
    RuleVerifier,
    deltas,
    mean_of,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_SPECS",
    "VERIFIER_NAME",
    "VERIFIER_VERSION",
    "LookJudgement",
    "MetricJudgement",
    "MetricSpec",
    "RuleVerifier",
    "deltas",
    "mean_of",
]
