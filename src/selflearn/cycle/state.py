"""What one cycle carries from step to step: its session, settings, flags, counts and rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from selflearn._log import Logger
from selflearn.config import Flags
from selflearn.events.proposal import Run
from selflearn.ports import ExecutionResult, RunKind
from selflearn.reports import CycleCounts, CycleReport, RunReport
from selflearn.session import Session
from selflearn.settings import HostSettings


@attrs.define
class Cycle:
    """One `tick()` in progress.

    `flags` are the loop's flags with the operator's overrides applied (recorded by the
    first step); `counts` and `rows` become the `CycleReport`; `host_errors` are recorded
    on the self-check. The learning fields say what the self-check needs to know.
    """

    session: Session
    host: HostSettings
    at: datetime
    flags: Flags
    counts: CycleCounts = attrs.Factory(CycleCounts)
    rows: list[RunReport] = attrs.Factory(list)
    host_errors: list[str] = attrs.Factory(list)
    selection: dict[str, str] = attrs.Factory(dict)
    cursor: int = 0
    learning_open: bool = False
    learning_progress: bool = False
    synthetic_opened: bool = False
    recheck_backlog: int = 0

    @property
    def log(self) -> Logger:
        return self.session.logger("selflearn.cycle")

    def report(self, skipped: str | None = None) -> CycleReport:
        return CycleReport(
            at=self.at,
            skipped=skipped,
            synthetic_opened=self.synthetic_opened,
            recheck_backlog=self.recheck_backlog,
            runs=tuple(self.rows),
            **attrs.asdict(self.counts),
        )

    def add_row(
        self,
        pid: str,
        run: Run,
        *,
        kind: RunKind,
        converged: bool = False,
        error: str | None = None,
    ) -> RunReport:
        """Report what this cycle did with `run` (as it is now); the row, also kept."""
        row = run_row(pid, run, kind=kind, converged=converged, error=error)
        self.rows.append(row)
        return row


def run_row(
    pid: str, run: Run, *, kind: RunKind, converged: bool = False, error: str | None = None
) -> RunReport:
    """The report row of `run` as it is now."""
    return RunReport(
        run_id=run.id,
        proposal_id=pid,
        kind=kind,
        mode=run.mode,
        mode_reason=run.mode_reason,
        execution_status=run.execution_status,
        attempt=run.attempts or None,
        verdict=run.verdict,
        confidence=run.confidence,
        pending_recheck=run.pending_recheck,
        converged=converged,
        exhausted=run.exhausted,
        error=error or run.error,
    )


def result_dict(result: ExecutionResult) -> dict[str, Any]:
    """An executor's result as recorded data."""
    return {
        "status": result.status,
        "cost_usd": result.cost_usd,
        "duration_ms": result.duration_ms,
        "artifacts": dict(result.artifacts),
        "error": result.error,
    }


__all__ = ["Cycle", "result_dict", "run_row"]
