"""Reports the loop returns: plain frozen values with `to_dict()` (the CLI's `--json`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import attrs

from selflearn.config import Mode
from selflearn.ports import RunKind, RunStatus, VerdictKind
from selflearn.values import to_plain


class _Plain:
    def to_dict(self) -> dict[str, Any]:
        """This report as plain JSON-able data."""
        data = to_plain(self)
        assert isinstance(data, dict)
        return data


@attrs.frozen(kw_only=True)
class RunReport(_Plain):
    """What one cycle did with one run: its execution or one of its rechecks."""

    run_id: str
    proposal_id: str
    kind: RunKind
    mode: Mode
    mode_reason: str
    #: The run's status, or `late_result_ignored` when the host's result came after another
    #: process had closed the run.
    execution_status: RunStatus | Literal["late_result_ignored"]
    attempt: int | None = None
    verdict: VerdictKind | None = None
    confidence: float | None = None
    pending_recheck: bool = False
    converged: bool = False
    exhausted: bool = False
    error: str | None = None


@attrs.define(kw_only=True)
class CycleCounts:
    """What one cycle counted, as it counts it (a `CycleReport` carries them frozen)."""

    created: int = 0
    approved: int = 0
    executed: int = 0
    verified: int = 0
    retry_attempted: int = 0
    retry_verified: int = 0
    retry_exhausted: int = 0
    safe_mode_runs: int = 0
    normal_mode_runs: int = 0
    canary_blocked: int = 0
    canary_skipped: int = 0
    failed: int = 0
    interrupted: int = 0
    wins: int = 0
    losses: int = 0
    inconclusive: int = 0


@attrs.frozen(kw_only=True)
class CycleReport(CycleCounts, _Plain):
    """The counts of one cycle and one row per run it touched (docs/behaviour.md, "The cycle")."""

    at: datetime
    skipped: str | None = None
    synthetic_opened: bool = False
    recheck_backlog: int = 0
    runs: tuple[RunReport, ...] = ()


@attrs.frozen(kw_only=True)
class TimelineEntry(_Plain):
    """One event in a proposal's history: when, what, every detail, and why in words.

    `detail` holds the event's own fields; `summary` says what happened and for what
    reason; `aggregate` is where the event is recorded (`proposal`, or `guardrail` for a
    normal-mode admission of one of its runs).
    """

    at: datetime
    kind: str
    detail: dict[str, Any]
    summary: str = ""
    aggregate: str = "proposal"


@attrs.frozen(kw_only=True)
class RollbackReport(_Plain):
    """What a rollback restored: the run, its proposal, and each file with its hashes
    (`before_sha256`, `after_sha256`, `restored_sha256`); `restored` lists the files written.
    """

    run_id: str
    proposal_id: str
    reason: str
    restored: tuple[str, ...]
    files: tuple[dict[str, Any], ...]
