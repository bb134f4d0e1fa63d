"""Verification attempts: measure "after", judge, record; converge the run when it is final.

An attempt is measured and judged with no transaction open, then recorded in one save
together with what converging changes (bandit credit, a cooldown after a normal-mode
loss). A probe's or verifier's error makes an inconclusive attempt, recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from eventsourcing.domain import Aggregate

from selflearn.cycle.host import host_error, measure
from selflearn.cycle.state import Cycle, run_row
from selflearn.events.proposal import Proposal, Run
from selflearn.events.rules import cooldown_end
from selflearn.exceptions import ValidationError
from selflearn.ports import ExecutionResult, RunKind, Verdict, VerdictKind
from selflearn.realapply import steps as realapply
from selflearn.reports import RunReport
from selflearn.verify import deltas
from selflearn.views import proposal_view


@attrs.frozen
class Measured:
    """A verification attempt measured and judged, ready to be recorded."""

    number: int
    before: dict[str, Any]
    after: dict[str, Any]
    verdict: Verdict
    error: str | None


@attrs.frozen
class Judgement:
    """What attempt `number` of a run comes to.

    `measured` is None when the run had no attempt left (the maximum was lowered while
    it waited): it is finalized as exhausted without measuring again. `verdict` is the
    attempt's own; `final` the run's if it `converges`.
    """

    number: int
    measured: Measured | None
    verdict: VerdictKind
    confidence: float
    exhausted: bool
    converges: bool

    @property
    def final(self) -> VerdictKind:
        return "inconclusive" if self.exhausted else self.verdict


def verify(cycle: Cycle, pid: str, run_id: str, number: int, *, kind: RunKind) -> RunReport | None:
    """Measure, judge and record attempt `number` of a run; converge it when it is final.

    None when the run is not waiting for that attempt (or another process recorded it
    first); else the run's report row, also kept on the cycle.
    """
    proposal = cycle.session.load_proposal(pid)
    run = proposal.runs.get(run_id)
    if run is None or run.closed or run.attempts != number - 1 or not run.executed:
        return None
    judgement = judge(cycle, proposal, run, number)
    row = record(cycle, pid, run_id, judgement, kind=kind)
    if row is None:
        return None
    cycle.rows.append(row)
    if judgement.converges:
        if judgement.final == "loss":
            realapply.roll_back_after_close(
                cycle.session,
                cycle.host.apply_hooks,
                pid,
                run_id,
                f"final verdict loss at attempt {number}",
            )
        _count_verdict(cycle, judgement.final)
    cycle.log.info(
        "run.attempt",
        proposal_id=pid,
        run_id=run_id,
        attempt=number if judgement.measured is not None else None,
        verdict=judgement.verdict,
        pending=row.pending_recheck,
        converged=judgement.converges,
    )
    return row


def judge(cycle: Cycle, proposal: Proposal, run: Run, number: int) -> Judgement:
    """Measure and judge attempt `number`, or finalize a run with no attempt left."""
    most = cycle.flags.verification_retry_max_attempts
    if number > most:
        confidence = float(run.confidence or 0.0)
        return Judgement(number, None, "inconclusive", confidence, True, True)
    measured = measure_attempt(cycle, proposal, run, number)
    pending = measured.verdict.pending_recheck
    exhausted = pending and number >= most
    return Judgement(
        number,
        measured,
        measured.verdict.kind,
        float(measured.verdict.confidence),
        exhausted,
        not pending or exhausted,
    )


def measure_attempt(cycle: Cycle, proposal: Proposal, run: Run, number: int) -> Measured:
    """Measure "after" and judge it; a probe or verifier error is an inconclusive attempt."""
    before = dict(run.baseline or {})
    view = proposal_view(proposal, cycle.flags.verification_retry_interval_seconds)
    execution = _execution(run)
    after: dict[str, Any] = {}
    try:
        after = measure(cycle.session, cycle.host, view, missing="no probe was given to the loop")
        with cycle.session.host_call():
            verdict = cycle.host.verifier.verify(before, after, execution)
        if not isinstance(verdict, Verdict):
            raise ValidationError(
                f"the verifier returned {type(verdict).__name__}, expected Verdict"
            )
    except Exception as exc:
        error = host_error(exc)
        cycle.log.warning("host.verification.error", run_id=run.id, attempt=number, error=error)
        verdict = Verdict(
            kind="inconclusive",
            confidence=0.0,
            pending_recheck=True,
            reasons=(f"verification error: {error}",),
        )
        return Measured(number, before, after, verdict, error)
    return Measured(number, before, after, verdict, None)


def _execution(run: Run) -> ExecutionResult:
    """The executor's result as the run recorded it."""
    result = run.result or {}
    return ExecutionResult(
        status=result.get("status", "completed"),
        cost_usd=result.get("cost_usd", 0.0),
        duration_ms=result.get("duration_ms", 0.0),
        artifacts=result.get("artifacts", {}),
        error=result.get("error"),
    )


def record(
    cycle: Cycle, pid: str, run_id: str, judgement: Judgement, *, kind: RunKind
) -> RunReport | None:
    """Record the attempt, and the run's convergence with it, in one save; the run's row."""
    session = cycle.session
    number = judgement.number

    def attempt() -> RunReport | None:
        proposal = session.load_proposal(pid)
        run = proposal.runs.get(run_id)
        if run is None or run.closed or run.attempts != number - 1:
            return None  # another process recorded this attempt first
        at = session.now()
        if judgement.measured is not None:
            _record_attempt(proposal, run_id, judgement, at)
        touched: list[Aggregate] = [proposal]
        if judgement.converges:
            touched += converge(cycle, proposal, run, judgement, at=at)
        session.save(*touched)
        return run_row(pid, proposal.runs[run_id], kind=kind, converged=judgement.converges)

    return session.retry(attempt, what=f"record attempt {number} of run {run_id}")


def _record_attempt(proposal: Proposal, run_id: str, judgement: Judgement, at: datetime) -> None:
    measured = judgement.measured
    assert measured is not None
    verdict = measured.verdict
    proposal.record_attempt(
        at=at,
        run_id=run_id,
        attempt=judgement.number,
        before=measured.before,
        after=measured.after,
        delta=deltas(measured.before, measured.after) if measured.after else {},
        signals=dict(verdict.signals),
        verdict=verdict.kind,
        confidence=judgement.confidence,
        pending_recheck=verdict.pending_recheck and not judgement.exhausted,
        reasons=list(verdict.reasons),
        error=measured.error,
    )


def converge(
    cycle: Cycle, proposal: Proposal, run: Run, judgement: Judgement, *, at: datetime
) -> list[Aggregate]:
    """Give the run its final verdict: bandit credit, cooldown after a normal-mode loss.

    Returns the other aggregates changed, to be saved with the proposal.
    """
    session, flags, pid = cycle.session, cycle.flags, str(proposal.id)
    verdict = judgement.final
    touched: list[Aggregate] = []
    credited: dict[str, str] = {}
    if flags.enable_policy_bandit and verdict in ("win", "loss") and proposal.policy_arms:
        policy = session.policy(at, declare=cycle.host.families)
        credited = policy.credit(
            at=at, proposal_id=pid, run_id=run.id, verdict=verdict, arms=proposal.policy_arms
        )
        if credited:
            touched.append(policy)
    cooldown_until: datetime | None = None
    if verdict == "loss" and run.mode == "normal":
        guard = session.guardrail(at)
        cooldown_until = cooldown_end(guard.cooldown_until, at, flags.normal_mode_cooldown_seconds)
        guard.start_cooldown(at=at, proposal_id=pid, run_id=run.id, until=cooldown_until)
        touched.append(guard)
    proposal.converge(
        at=at,
        run_id=run.id,
        verdict=verdict,
        confidence=judgement.confidence,
        exhausted=judgement.exhausted,
        reason=(
            "max_retries_exhausted"
            if judgement.exhausted
            else f"converged at attempt {judgement.number}: {verdict}"
        ),
        credited_arms=credited,
        cooldown_until=cooldown_until,
    )
    return touched


def _count_verdict(cycle: Cycle, final: VerdictKind) -> None:
    counts = cycle.counts
    counts.verified += 1
    if final == "win":
        counts.wins += 1
    elif final == "loss":
        counts.losses += 1
    else:
        counts.inconclusive += 1


__all__ = ["Judgement", "Measured", "converge", "judge", "measure_attempt", "record", "verify"]
