"""selflearn: an agent's self-improvement loop under guardrails, event-sourced.

The public names below are imported on first use (`selflearn.LearningLoop` loads the loop
then), so that a program importing one small part — the command line, to print its help —
does not pay for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from selflearn.exceptions import (
    ConfigError,
    IllegalTransition,
    NotFound,
    SelflearnError,
    StoreError,
    ValidationError,
)

if TYPE_CHECKING:
    from selflearn.config import Flags
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

    __version__: str

#: The module each public name comes from.
_HOMES: dict[str, str] = {
    "CycleReport": "selflearn.reports",
    "DefaultProposer": "selflearn.proposer",
    "ExecutionResult": "selflearn.ports",
    "Executor": "selflearn.ports",
    "FileEdit": "selflearn.ports",
    "Flags": "selflearn.config",
    "LearningEventView": "selflearn.ports",
    "LearningLoop": "selflearn.loop",
    "MetricSpec": "selflearn.verify",
    "MigrationReport": "selflearn.migrate",
    "Opportunity": "selflearn.ports",
    "Probe": "selflearn.ports",
    "ProposalDraft": "selflearn.ports",
    "ProposalView": "selflearn.ports",
    "Proposer": "selflearn.ports",
    "RollbackReport": "selflearn.reports",
    "RuleVerifier": "selflearn.verify",
    "RunReport": "selflearn.reports",
    "RunView": "selflearn.ports",
    "StatusReport": "selflearn.status",
    "TimelineEntry": "selflearn.reports",
    "Verdict": "selflearn.ports",
    "Verifier": "selflearn.ports",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for."""
    if name == "__version__":
        value: Any = _version()
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'selflearn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("selflearn")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


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
