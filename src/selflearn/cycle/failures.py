"""Closing a run as failed (the executor, the probe or real apply failed; a lease ran out)."""

from __future__ import annotations

from typing import Any

from selflearn.cycle.state import Cycle
from selflearn.events.proposal import Run
from selflearn.realapply import steps as realapply


def failed(
    cycle: Cycle, pid: str, run: Run, *, reason: str, error: str, detail: dict[str, Any]
) -> None:
    """Close the run as failed, report it, and restore its files if it applied any."""
    cycle.log.warning("run.failed", proposal_id=pid, run_id=run.id, reason=reason, error=error)
    closed = fail_run(cycle, pid, run.id, reason=reason, error=error, detail=detail)
    record_failure(cycle, pid, closed or run, error)
    realapply.roll_back_after_close(
        cycle.session, cycle.host.apply_hooks, pid, run.id, f"run failed: {reason}"
    )


def record_failure(cycle: Cycle, pid: str, run: Run, error: str) -> None:
    """Count and report a failed run (closed already)."""
    cycle.counts.failed += 1
    cycle.add_row(pid, run, kind="execution", error=error)


def fail_run(
    cycle: Cycle,
    pid: str,
    run_id: str,
    *,
    reason: str,
    error: str,
    detail: dict[str, Any],
    only_if_overdue: bool = False,
) -> Run | None:
    """Close a run as failed; if it is closed already, keep the late news as ignored.

    With `only_if_overdue`, only a run still overdue is closed (another process may have
    closed it, or its execution been recorded, since the agenda said so), and not one
    whose files are at stake: those are reconciled first (`realapply.interrupt`).
    The closed run, or None when nothing was closed.
    """
    session = cycle.session

    def attempt() -> Run | None:
        proposal = session.load_proposal(pid)
        run = proposal.run(run_id)
        at = session.now()
        if only_if_overdue and (not run.overdue(at) or run.files_at_stake):
            return None
        if run.closed:
            proposal.ignore_late_result(
                at=at, run_id=run_id, stage=reason, detail={"error": error, **detail}
            )
            session.save(proposal)
            return None
        proposal.fail_run(at=at, run_id=run_id, reason=reason, error=error, detail=detail)
        session.save(proposal)
        return proposal.runs[run_id]

    return session.retry(attempt, what=f"close run {run_id} as failed")


__all__ = ["fail_run", "failed", "record_failure"]
