"""Step 6: start and run approved proposals — mode, baseline, real apply, the executor.

Each run's start (and its normal-mode admission) is one save; the host is then called
with no transaction open. A host's failure closes the run as failed, recorded.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from selflearn.cycle.failures import failed, record_failure
from selflearn.cycle.host import host_error, measure
from selflearn.cycle.state import Cycle, result_dict
from selflearn.cycle.verification import verify
from selflearn.events.ids import run_id_for
from selflearn.events.proposal import Proposal, Run
from selflearn.events.rules import MAX_EXECUTIONS_PER_CYCLE, canary_admits, decide_mode
from selflearn.exceptions import ValidationError
from selflearn.ports import ExecutionResult, ProposalView
from selflearn.realapply import steps as realapply
from selflearn.realapply.steps import REAL_APPLY_FAILED
from selflearn.reports import RunReport
from selflearn.views import proposal_view


def execute(cycle: Cycle) -> None:
    """Start and run up to 3 approved proposals, fewer while rechecks are backlogged.

    Every run may need `VERIFICATION_RETRY_MAX_ATTEMPTS - 1` rechecks but a cycle makes
    at most 3; each due recheck left over takes the place of a new run, so the pending
    runs stay bounded however many proposals wait.
    """
    session = cycle.session
    session.catch_up()
    limit = max(0, MAX_EXECUTIONS_PER_CYCLE - cycle.recheck_backlog)
    taken = 0
    for item in session.agenda.executable():
        if taken >= limit:
            break
        if not canary_admits(item.id, cycle.flags.executor_canary_percent):
            cycle.counts.canary_skipped += 1
            continue
        started = start_run(cycle, item.id)
        if started is None:
            continue
        taken += 1
        run_one(cycle, *started)


def start_run(cycle: Cycle, proposal_id: str) -> tuple[Proposal, Run] | None:
    """Decide the mode and record the run's start (with its admission) in one save."""
    session = cycle.session
    flags = cycle.flags

    def attempt() -> tuple[Proposal, Run] | None:
        proposal = session.load_proposal(proposal_id)
        if proposal.status != "approved" or proposal.open_run is not None:
            return None
        at = session.now()
        guard = session.guardrail(at)
        decision = decide_mode(
            flags=flags,
            cooldown_until=guard.cooldown_until,
            admissions=guard.admissions,
            risk_level=proposal.risk_level,
            priority=proposal.priority,
            now=at,
        )
        run_id = run_id_for(proposal_id, len(proposal.runs))
        proposal.start_run(
            at=at,
            run_id=run_id,
            mode=decision.mode,
            mode_reason=decision.reason,
            decision=dict(decision.detail),
            lease_until=at + timedelta(seconds=flags.execution_lease_seconds),
        )
        if decision.mode == "normal":
            guard.admit(at=at, proposal_id=proposal_id, run_id=run_id)
            session.save(proposal, guard)
        else:
            session.save(proposal)
        return proposal, proposal.runs[run_id]

    return session.retry(attempt, what=f"start a run of {proposal_id}")


def run_one(cycle: Cycle, proposal: Proposal, run: Run) -> None:
    """Baseline, real apply, execute, verify attempt 1; host errors close the run as failed."""
    pid = str(proposal.id)
    _count_start(cycle, run)
    cycle.log.info(
        "run.started", proposal_id=pid, run_id=run.id, mode=run.mode, reason=run.mode_reason
    )
    view = proposal_view(proposal, cycle.flags.verification_retry_interval_seconds)
    try:
        baseline = measure(
            cycle.session,
            cycle.host,
            view,
            missing="no probe was given to the loop: the baseline cannot be measured",
        )
    except Exception as exc:
        failed(cycle, pid, run, reason="baseline_probe_error", error=host_error(exc), detail={})
        return
    if not _ready(cycle, pid, run, baseline):
        return
    result = _execute(cycle, pid, run, view, baseline)
    if result is None:
        return
    if not record_execution(cycle, pid, run.id, baseline, result):
        cycle.rows.append(
            RunReport(
                run_id=run.id,
                proposal_id=pid,
                kind="execution",
                mode=run.mode,
                mode_reason=run.mode_reason,
                execution_status="late_result_ignored",
                error="the run was closed by another process before its result arrived",
            )
        )
        return
    if verify(cycle, pid, run.id, 1, kind="execution") is None:
        cycle.add_row(pid, run, kind="execution")


def _count_start(cycle: Cycle, run: Run) -> None:
    counts = cycle.counts
    counts.executed += 1
    if run.mode == "normal":
        counts.normal_mode_runs += 1
    else:
        counts.safe_mode_runs += 1
        if run.mode_reason != "default_safe_mode":
            counts.canary_blocked += 1


def _ready(cycle: Cycle, pid: str, run: Run, baseline: dict[str, Any]) -> bool:
    """Check or apply the proposal's patches; False when the run cannot go on."""
    outcome = realapply.before_execution(
        cycle.session,
        cycle.flags,
        workspace=cycle.host.workspace,
        hooks=cycle.host.apply_hooks,
        pid=pid,
        run=run,
        baseline=baseline,
    )
    if outcome.kind == "fail":
        failed(
            cycle,
            pid,
            run,
            reason=REAL_APPLY_FAILED,
            error=outcome.error,
            detail=dict(outcome.detail),
        )
    elif outcome.kind == "failed":
        assert outcome.run is not None
        record_failure(cycle, pid, outcome.run, outcome.error)
    return outcome.kind == "go"


def _execute(
    cycle: Cycle, pid: str, run: Run, view: ProposalView, baseline: dict[str, Any]
) -> ExecutionResult | None:
    """The executor's result, or None when it failed (the run closed as failed)."""
    executor = cycle.host.executor
    try:
        if executor is None:
            raise ValidationError("no executor was given to the loop")
        with cycle.session.host_call():
            result = executor.execute(view, run.mode)
    except Exception as exc:
        failed(
            cycle,
            pid,
            run,
            reason="executor_error",
            error=host_error(exc),
            detail={"baseline": baseline},
        )
        return None
    if not isinstance(result, ExecutionResult):
        error = f"the executor returned {type(result).__name__}, expected ExecutionResult"
        failed(
            cycle,
            pid,
            run,
            reason="executor_bad_result",
            error=error,
            detail={"baseline": baseline},
        )
        return None
    if result.status == "failed":
        detail = {"baseline": baseline, "result": result_dict(result)}
        error = result.error or "the executor reported failure"
        failed(cycle, pid, run, reason="executor_failed", error=error, detail=detail)
        return None
    return result


def record_execution(
    cycle: Cycle, pid: str, run_id: str, baseline: dict[str, Any], result: ExecutionResult
) -> bool:
    """Record the executor's result; False when the run was closed meanwhile (kept as late)."""
    session = cycle.session

    def attempt() -> bool:
        proposal = session.load_proposal(pid)
        at = session.now()
        if proposal.run(run_id).closed:
            detail = {"baseline": baseline, "result": result_dict(result)}
            proposal.ignore_late_result(at=at, run_id=run_id, stage="execution", detail=detail)
            session.save(proposal)
            return False
        proposal.record_execution(
            at=at,
            run_id=run_id,
            baseline=baseline,
            status=result.status,
            cost_usd=float(result.cost_usd),
            duration_ms=float(result.duration_ms),
            artifacts=dict(result.artifacts),
            error=result.error,
        )
        session.save(proposal)
        return True

    return session.retry(attempt, what=f"record the execution of run {run_id}")


__all__ = ["execute", "record_execution", "run_one", "start_run"]
