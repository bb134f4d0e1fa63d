"""selflearn: an agent's self-improvement loop under guardrails, event-sourced."""

from importlib.metadata import PackageNotFoundError, version

from selflearn.config import Flags
from selflearn.exceptions import (
    ConfigError,
    IllegalTransition,
    NotFound,
    SelflearnError,
    StoreError,
    ValidationError,
)
from selflearn.loop import LearningLoop
from selflearn.migrate import MigrationReport
from selflearn.ports import (
    ExecutionResult,
    Executor,
    FileEdit,
    LearningEventView,
    Opportunity,
    Probe,
    ProposalDraft,
    ProposalView,
    Proposer,
    RunView,
    Verdict,
    Verifier,
)
from selflearn.proposer import DefaultProposer
from selflearn.reports import CycleReport, RollbackReport, RunReport, TimelineEntry
from selflearn.status import StatusReport
from selflearn.verify import MetricSpec, RuleVerifier

try:
    __version__ = version("selflearn")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ConfigError",
    "CycleReport",
    "DefaultProposer",
    "ExecutionResult",
    "Executor",
    "FileEdit",
    "Flags",
    "IllegalTransition",
    "LearningEventView",
    "LearningLoop",
    "MetricSpec",
    "MigrationReport",
    "NotFound",
    "Opportunity",
    "Probe",
    "ProposalDraft",
    "ProposalView",
    "Proposer",
    "RollbackReport",
    "RuleVerifier",
    "RunReport",
    "RunView",
    "SelflearnError",
    "StatusReport",
    "StoreError",
    "TimelineEntry",
    "ValidationError",
    "Verdict",
    "Verifier",
    "__version__",
]
