"""The default verifier and the specs of the metrics it judges."""

from selflearn.verify.verifier import DEFAULT_SPECS, MetricSpec, RuleVerifier, deltas, mean_of

__all__ = ["DEFAULT_SPECS", "MetricSpec", "RuleVerifier", "deltas", "mean_of"]
