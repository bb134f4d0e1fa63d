"""One cycle of the loop, step by step, in the order docs/behaviour.md ("The cycle") gives."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, uuid5

import attrs

from selflearn.events.proposal import Proposal, Run
from selflearn.events.rules import (
    MAX_EXECUTIONS_PER_CYCLE,
    MAX_RECHECKS_PER_CYCLE,
    Streaks,
    approve_threshold,
    auto_approval,
    canary_admits,
    cooldown_end,
    decide_mode,
    next_streaks,
    thompson_draws,
)
from selflearn.exceptions import ValidationError
from selflearn.ports import (
    ExecutionResult,
    LearningEventView,
    Opportunity,
    ProposalDraft,
    ProposalView,
    Proposer,
    RunKind,
    Verdict,
    VerdictKind,
)
from selflearn.proposer import DefaultProposer
from selflearn.realapply import steps as realapply
from selflearn.reports import CycleReport, RunReport
from selflearn.verify import deltas
from selflearn.views import proposal_view

if TYPE_CHECKING:
    from selflearn.config import Flags
    from selflearn.loop import LearningLoop

SYNTHETIC_NAMESPACE = uuid5(NAMESPACE_URL, "selflearn/synthetic-opportunity")


def host_error(exc: BaseException) -> str:
    """A host's exception as recorded text."""
    return f"{type(exc).__name__}: {exc}"


def check_metrics(value: object, what: str) -> dict[str, float | list[float]]:
    """The probe's metrics as plain data, or `ValidationError` saying what is wrong."""
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{what} returned {type(value).__name__}, expected a mapping of metrics"
        )
    metrics: dict[str, float | list[float]] = {}
    for name, number in value.items():
        if not isinstance(name, str):
            raise ValidationError(f"{what} returned a metric name {name!r} that is not a string")
        if _is_number(number):
            metrics[name] = float(number)
        elif isinstance(number, Sequence) and not isinstance(number, str) and number:
            if not all(_is_number(x) for x in number):
                raise ValidationError(
                    f"{what} returned samples for {name!r} that are not all finite numbers"
                )
            metrics[name] = [float(x) for x in number]
        else:
            raise ValidationError(
                f"{what} returned {number!r} for {name!r}: "
                "expected a number or a non-empty list of numbers"
            )
    return metrics


def _is_number(x: object) -> bool:
    import math

    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@attrs.define
class _Counts:
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


@attrs.define
class _Attempt:
    """A verification attempt measured and judged, ready to be recorded."""

    number: int
    before: dict[str, Any]
    after: dict[str, Any]
    verdict: Verdict
    error: str | None


class Cycle:
    """The steps of one `tick()`; it holds the cycle's flags, counts and report rows."""

    def __init__(self, loop: LearningLoop) -> None:
        self.loop = loop
        self.at = loop.now()
        self.flags: Flags = loop.flags
        self.counts = _Counts()
        self.rows: list[RunReport] = []
        self.host_errors: list[str] = []
        self.selection: dict[str, str] = {}
        self.cursor = 0
        self.learning_open = False
        self.learning_progress = False
        self.synthetic_opened = False
        self.recheck_backlog = 0

    # -- the cycle ---------------------------------------------------------------------

    def run(self) -> CycleReport:
        with self.loop.trusting_cache():
            return self._run()

    def _run(self) -> CycleReport:
        loop = self.loop
        self.flags = self.record_flags()
        if not self.flags.enable_proposal_v2:
            self.skip("proposal_v2_disabled")
            return self.report(skipped="proposal_v2_disabled")
        loop.catch_up()
        self.reconcile()
        if self.flags.enable_policy_bandit:
            self.select_arms()
        self.create_from_learning()
        self.auto_approve()
        self.rechecks()
        if self.flags.enable_experiment_executor:
            self.execute()
        self.self_check()
        report = self.report()
        loop.log.info("cycle.done", **{k: v for k, v in attrs.asdict(self.counts).items() if v})
        return report

    def report(self, skipped: str | None = None) -> CycleReport:
        return CycleReport(
            at=self.at,
            skipped=skipped,
            synthetic_opened=self.synthetic_opened,
            recheck_backlog=self.recheck_backlog,
            runs=tuple(self.rows),
            **attrs.asdict(self.counts),
        )

    # -- step 1: flags and overrides ----------------------------------------------------

    def record_flags(self) -> Flags:
        loop = self.loop

        def attempt() -> Flags:
            at = loop.now()
            controls = loop.controls(at)
            effective = loop.flags.with_overrides(controls.disabled)
            if controls.record_flags(at=at, flags=effective.recorded(), stage=effective.stage):
                loop.app.save(controls)
                loop.log.info("flags.recorded", stage=effective.stage)
            return effective

        return loop.retry(attempt, what="record the effective flags")

    def skip(self, reason: str) -> None:
        loop = self.loop

        def attempt() -> None:
            at = loop.now()
            check = loop.self_check(at)
            check.skip_cycle(at=at, reason=reason)
            loop.app.save(check)

        loop.retry(attempt, what="record a skipped cycle")

    # -- step 2: reconcile runs left by a crash -------------------------------------------

    def reconcile(self) -> None:
        for item in self.loop.agenda.overdue_runs(self.loop.now()):
            assert item.run_id is not None
            error = f"lease ran out at {item.lease_until} before the execution completed"
            if realapply.has_files(self.loop, item.id, item.run_id):
                run = realapply.interrupt(self.loop, item.id, item.run_id, error)
            else:
                run = self.fail_run(
                    item.id,
                    item.run_id,
                    reason="interrupted",
                    error=error,
                    detail={
                        "lease_until": item.lease_until.isoformat() if item.lease_until else None
                    },
                    only_if_overdue=True,
                )
            if run is not None:
                self.counts.interrupted += 1
                self.rows.append(_row(item.id, run, kind="interrupted"))
        realapply.settle_closed(self.loop)

    # -- step 3: the bandit -------------------------------------------------------------

    def select_arms(self) -> None:
        loop = self.loop
        seed = loop.rng.getrandbits(63)

        def attempt() -> dict[str, str]:
            at = loop.now()
            policy = loop.policy(at)
            draws, selection = thompson_draws(policy.arms, seed)
            policy.select(at=at, seed=seed, draws=draws, selection=selection)
            loop.app.save(policy)
            return selection

        self.selection = loop.retry(attempt, what="record the bandit's selection")

    # -- step 4: proposals from learning events, auto-approval ----------------------------

    def proposer(self) -> Proposer:
        if self.loop.proposer is not None:
            return self.loop.proposer
        return DefaultProposer(create_threshold=self.flags.proposal_v2_create_threshold)

    def drafts(self, opportunity: Opportunity) -> list[ProposalDraft]:
        """The proposer's drafts; a proposer error is recorded on the cycle and gives none."""
        try:
            with self.loop.host_call():
                drafts = list(self.proposer().propose(opportunity))
            for draft in drafts:
                if not isinstance(draft, ProposalDraft):
                    raise ValidationError(
                        f"the proposer returned {draft!r}, expected ProposalDraft"
                    )
        except Exception as exc:
            self.host_errors.append(f"proposer on {opportunity.id}: {host_error(exc)}")
            self.loop.log.warning(
                "host.proposer.error", opportunity=opportunity.id, error=host_error(exc)
            )
            return []
        return drafts

    def create_drafts(self, opportunity: Opportunity, origin: list[str]) -> list[str]:
        """Create a proposal from each draft whose signature is not already open."""
        from selflearn.loop import proposal_id_for
        from selflearn.realapply.patches import check_patches

        created: list[str] = []
        for index, draft in enumerate(self.drafts(opportunity)):
            if self.loop.agenda.has_open_signature(draft.resolved_signature()):
                continue
            try:
                check_patches(draft.patches)
            except ValidationError as exc:
                self.host_errors.append(f"proposer draft {index} on {opportunity.id}: {exc}")
                continue
            pid = proposal_id_for(opportunity.id, index)
            if self.loop.create_proposal(pid, draft, origin_event_ids=origin, at=self.loop.now()):
                created.append(pid)
                self.counts.created += 1
            self.loop.catch_up()
        return created

    def create_from_learning(self) -> None:
        loop = self.loop
        cursor = loop.self_check(self.at).cursor
        new = loop.agenda.new_learning(cursor)
        self.cursor = max([cursor, *(entry.position for entry in new)])
        self.learning_open = bool(new)
        for entry in new:
            event = entry.event
            if event.stream != "production" and not loop.include_non_production:
                continue
            opportunity = Opportunity(
                id=f"learning_event:{event.id}",
                kind="learning_event",
                events=(event,),
                at=loop.now(),
            )
            if self.create_drafts(opportunity, [event.id]):
                self.learning_progress = True

    def auto_approve(self) -> None:
        loop = self.loop
        loop.catch_up()
        default = self.flags.proposal_v2_auto_approve_threshold
        threshold = (
            approve_threshold(self.selection, default)
            if self.flags.enable_policy_bandit
            else default
        )
        arm = self.selection.get("approve_threshold")
        for item in loop.agenda.with_status("pending_approval"):
            ok, why = auto_approval(
                priority=item.priority, risk_level=item.risk_level, threshold=threshold
            )
            if not ok:
                continue
            reason = f"auto-approved: {why}" + (
                f" (bandit arm approve_threshold={arm})" if arm else ""
            )

            def attempt(pid: str = item.id, reason: str = reason) -> bool:
                proposal = loop.load_proposal(pid)
                if proposal.status != "pending_approval":
                    return False
                proposal.approve(
                    at=loop.now(), actor="loop", reason=reason, policy_arms=self.selection
                )
                loop.app.save(proposal)
                return True

            if loop.retry(attempt, what=f"approve {item.id}"):
                self.counts.approved += 1

    # -- step 5: rechecks -----------------------------------------------------------------

    def rechecks(self) -> None:
        loop = self.loop
        loop.catch_up()
        due = loop.agenda.due_verifications(
            loop.now(), self.flags.verification_retry_interval_seconds
        )
        # Due rechecks left for the next cycle hold back as many new runs (see execute()).
        self.recheck_backlog = max(0, len(due) - MAX_RECHECKS_PER_CYCLE)
        for item in due[:MAX_RECHECKS_PER_CYCLE]:
            row = self.verify(item.proposal_id, item.run_id, item.attempt, kind="recheck")
            if row is None:
                continue
            self.counts.retry_attempted += 1
            if row.converged and row.exhausted:
                self.counts.retry_exhausted += 1
            elif row.converged:
                self.counts.retry_verified += 1

    # -- step 6: executions ---------------------------------------------------------------

    def execute(self) -> None:
        """Start and run up to 3 approved proposals, fewer while rechecks are backlogged.

        Every run may need `VERIFICATION_RETRY_MAX_ATTEMPTS - 1` rechecks but a cycle makes
        at most 3; each due recheck left over takes the place of a new run, so the pending
        runs stay bounded however many proposals wait.
        """
        loop = self.loop
        loop.catch_up()
        limit = max(0, MAX_EXECUTIONS_PER_CYCLE - self.recheck_backlog)
        taken = 0
        for item in loop.agenda.executable():
            if taken >= limit:
                break
            if not canary_admits(item.id, self.flags.executor_canary_percent):
                self.counts.canary_skipped += 1
                continue
            started = self.start_run(item.id)
            if started is None:
                continue
            taken += 1
            self.run_one(*started)

    def start_run(self, proposal_id: str) -> tuple[Proposal, Run] | None:
        """Decide the mode and record the run's start (with its admission) in one save."""
        loop = self.loop
        flags = self.flags

        def attempt() -> tuple[Proposal, Run] | None:
            proposal = loop.load_proposal(proposal_id)
            if proposal.status != "approved" or proposal.open_run is not None:
                return None
            at = loop.now()
            guard = loop.guardrail(at)
            decision = decide_mode(
                flags=flags,
                cooldown_until=guard.cooldown_until,
                admissions=guard.admissions,
                risk_level=proposal.risk_level,
                priority=proposal.priority,
                now=at,
            )
            run_id = str(uuid5(NAMESPACE_URL, f"selflearn/run/{proposal_id}/{len(proposal.runs)}"))
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
                loop.app.save(proposal, guard)
            else:
                loop.app.save(proposal)
            return proposal, proposal.runs[run_id]

        return loop.retry(attempt, what=f"start a run of {proposal_id}")

    def run_one(self, proposal: Proposal, run: Run) -> None:
        """Baseline, patches, execute, verify attempt 1; host errors close the run as failed."""
        loop = self.loop
        pid = str(proposal.id)
        self.counts.executed += 1
        if run.mode == "normal":
            self.counts.normal_mode_runs += 1
        else:
            self.counts.safe_mode_runs += 1
            if run.mode_reason != "default_safe_mode":
                self.counts.canary_blocked += 1
        loop.log.info(
            "run.started", proposal_id=pid, run_id=run.id, mode=run.mode, reason=run.mode_reason
        )
        view = proposal_view(proposal, self.flags.verification_retry_interval_seconds)
        try:
            if loop.probe is None:
                raise ValidationError(
                    "no probe was given to the loop: the baseline cannot be measured"
                )
            with loop.host_call():
                measured = loop.probe.measure(view)
            baseline = check_metrics(measured, "the probe")
        except Exception as exc:
            self.failed(pid, run, "baseline_probe_error", host_error(exc), {})
            return
        if not realapply.before_execution(self, pid, run, baseline):
            return
        try:
            if loop.executor is None:
                raise ValidationError("no executor was given to the loop")
            with loop.host_call():
                result = loop.executor.execute(view, run.mode)
        except Exception as exc:
            self.failed(pid, run, "executor_error", host_error(exc), {"baseline": baseline})
            return
        if not isinstance(result, ExecutionResult):
            error = f"the executor returned {type(result).__name__}, expected ExecutionResult"
            self.failed(pid, run, "executor_bad_result", error, {"baseline": baseline})
            return
        if result.status == "failed":
            detail = {"baseline": baseline, "result": _result_dict(result)}
            self.failed(
                pid, run, "executor_failed", result.error or "the executor reported failure", detail
            )
            return
        if not self.record_execution(pid, run.id, baseline, result):
            self.rows.append(
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
        row = self.verify(pid, run.id, 1, kind="execution")
        if row is None:
            self.rows.append(_row(pid, run, kind="execution"))

    def failed(self, pid: str, run: Run, reason: str, error: str, detail: dict[str, Any]) -> None:
        self.loop.log.warning(
            "run.failed", proposal_id=pid, run_id=run.id, reason=reason, error=error
        )
        closed = self.fail_run(pid, run.id, reason=reason, error=error, detail=detail)
        self.record_failure(pid, closed or run, error)
        realapply.roll_back_after_close(self.loop, pid, run.id, f"run failed: {reason}")

    def record_failure(self, pid: str, run: Run, error: str) -> None:
        self.counts.failed += 1
        self.rows.append(_row(pid, run, kind="execution", error=error))

    def fail_run(
        self,
        pid: str,
        run_id: str,
        *,
        reason: str,
        error: str,
        detail: dict[str, Any],
        only_if_overdue: bool = False,
    ) -> Run | None:
        """Close a run as failed; if it is closed already, keep the late news as ignored."""
        loop = self.loop

        def attempt() -> Run | None:
            proposal = loop.load_proposal(pid)
            run = proposal.run(run_id)
            at = loop.now()
            if only_if_overdue and (run.closed or run.executed or run.lease_until >= at):
                return None
            if only_if_overdue and realapply.files_at_stake(run):
                return None  # its files are reconciled first (realapply.interrupt)
            if run.closed:
                proposal.ignore_late_result(
                    at=at, run_id=run_id, stage=reason, detail={"error": error, **detail}
                )
                loop.app.save(proposal)
                return None
            proposal.fail_run(at=at, run_id=run_id, reason=reason, error=error, detail=detail)
            loop.app.save(proposal)
            return proposal.runs[run_id]

        return loop.retry(attempt, what=f"close run {run_id} as failed")

    def record_execution(
        self, pid: str, run_id: str, baseline: dict[str, Any], result: ExecutionResult
    ) -> bool:
        loop = self.loop

        def attempt() -> bool:
            proposal = loop.load_proposal(pid)
            at = loop.now()
            if proposal.run(run_id).closed:
                detail = {"baseline": baseline, "result": _result_dict(result)}
                proposal.ignore_late_result(at=at, run_id=run_id, stage="execution", detail=detail)
                loop.app.save(proposal)
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
            loop.app.save(proposal)
            return True

        return loop.retry(attempt, what=f"record the execution of run {run_id}")

    # -- verification (first attempt and rechecks) -----------------------------------------

    def measure(self, proposal: Proposal, run: Run, number: int) -> _Attempt:
        """Measure "after" and judge it; a probe or verifier error is an inconclusive attempt."""
        loop = self.loop
        before = dict(run.baseline or {})
        result = run.result or {}
        execution = ExecutionResult(
            status=result.get("status", "completed"),
            cost_usd=result.get("cost_usd", 0.0),
            duration_ms=result.get("duration_ms", 0.0),
            artifacts=result.get("artifacts", {}),
            error=result.get("error"),
        )
        view = proposal_view(proposal, self.flags.verification_retry_interval_seconds)
        after: dict[str, Any] = {}
        try:
            if loop.probe is None:
                raise ValidationError("no probe was given to the loop")
            with loop.host_call():
                measured = loop.probe.measure(view)
            after = check_metrics(measured, "the probe")
            with loop.host_call():
                verdict = loop.verifier.verify(before, after, execution)
            if not isinstance(verdict, Verdict):
                raise ValidationError(
                    f"the verifier returned {type(verdict).__name__}, expected Verdict"
                )
        except Exception as exc:
            error = host_error(exc)
            loop.log.warning("host.verification.error", run_id=run.id, attempt=number, error=error)
            verdict = Verdict(
                kind="inconclusive",
                confidence=0.0,
                pending_recheck=True,
                reasons=(f"verification error: {error}",),
            )
            return _Attempt(number, before, after, verdict, error)
        return _Attempt(number, before, after, verdict, None)

    def verify(self, pid: str, run_id: str, number: int, *, kind: RunKind) -> RunReport | None:
        """Measure, judge and record attempt `number` of a run; converge it when it is final."""
        loop = self.loop
        flags = self.flags
        proposal = loop.load_proposal(pid)
        run = proposal.runs.get(run_id)
        if run is None or run.closed or run.attempts != number - 1 or not run.executed:
            return None
        # If the maximum was lowered while the run waited, it has no attempt left: it is
        # finalized as exhausted without measuring again.
        over = number > flags.verification_retry_max_attempts
        measured = None if over else self.measure(proposal, run, number)
        kind_now: VerdictKind
        if measured is None:
            kind_now, confidence = "inconclusive", float(run.confidence or 0.0)
            exhausted = converges = True
        else:
            kind_now, confidence = measured.verdict.kind, float(measured.verdict.confidence)
            pending = measured.verdict.pending_recheck
            exhausted = pending and number >= flags.verification_retry_max_attempts
            converges = not pending or exhausted
        final = "inconclusive" if exhausted else kind_now

        def attempt() -> RunReport | None:
            proposal = loop.load_proposal(pid)
            run = proposal.runs.get(run_id)
            if run is None or run.closed or run.attempts != number - 1:
                return None  # another process recorded this attempt first
            at = loop.now()
            if measured is not None:
                verdict = measured.verdict
                proposal.record_attempt(
                    at=at,
                    run_id=run_id,
                    attempt=number,
                    before=measured.before,
                    after=measured.after,
                    delta=deltas(measured.before, measured.after) if measured.after else {},
                    signals=dict(verdict.signals),
                    verdict=verdict.kind,
                    confidence=confidence,
                    pending_recheck=verdict.pending_recheck and not exhausted,
                    reasons=list(verdict.reasons),
                    error=measured.error,
                )
            touched: list[Any] = [proposal]
            if converges:
                reason = (
                    "max_retries_exhausted"
                    if exhausted
                    else f"converged at attempt {number}: {final}"
                )
                touched += self.converge(
                    proposal,
                    run,
                    at=at,
                    verdict=final,
                    confidence=confidence,
                    exhausted=exhausted,
                    reason=reason,
                )
            loop.app.save(*touched)
            return _row(pid, proposal.runs[run_id], kind=kind, converged=converges)

        row = loop.retry(attempt, what=f"record attempt {number} of run {run_id}")
        if row is None:
            return None
        self.rows.append(row)
        if converges and final == "loss":
            realapply.roll_back_after_close(
                loop, pid, run_id, f"final verdict loss at attempt {number}"
            )
        if converges:
            self.counts.verified += 1
            if final == "win":
                self.counts.wins += 1
            elif final == "loss":
                self.counts.losses += 1
            else:
                self.counts.inconclusive += 1
        loop.log.info(
            "run.attempt",
            proposal_id=pid,
            run_id=run_id,
            attempt=number if measured is not None else None,
            verdict=kind_now,
            pending=row.pending_recheck,
            converged=converges,
        )
        return row

    def converge(
        self,
        proposal: Proposal,
        run: Run,
        *,
        at: datetime,
        verdict: VerdictKind,
        confidence: float,
        exhausted: bool,
        reason: str,
    ) -> list[Any]:
        """Give the run its final verdict: bandit credit, cooldown after a normal-mode loss.

        Returns the other aggregates changed, to be saved with the proposal.
        """
        loop, flags, pid = self.loop, self.flags, str(proposal.id)
        touched: list[Any] = []
        credited: dict[str, str] = {}
        if flags.enable_policy_bandit and verdict in ("win", "loss") and proposal.policy_arms:
            policy = loop.policy(at)
            credited = policy.credit(
                at=at, proposal_id=pid, run_id=run.id, verdict=verdict, arms=proposal.policy_arms
            )
            if credited:
                touched.append(policy)
        cooldown_until: datetime | None = None
        if verdict == "loss" and run.mode == "normal":
            guard = loop.guardrail(at)
            cooldown_until = cooldown_end(
                guard.cooldown_until, at, flags.normal_mode_cooldown_seconds
            )
            guard.start_cooldown(at=at, proposal_id=pid, run_id=run.id, until=cooldown_until)
            touched.append(guard)
        proposal.converge(
            at=at,
            run_id=run.id,
            verdict=verdict,
            confidence=confidence,
            exhausted=exhausted,
            reason=reason,
            credited_arms=credited,
            cooldown_until=cooldown_until,
        )
        return touched

    # -- step 7: self-check and synthetic opportunities -------------------------------------

    def self_check(self) -> None:
        loop = self.loop
        flags = self.flags
        c = self.counts
        improvement_open = bool(c.created or c.approved or c.executed or c.verified)
        improvement_progress = c.wins > 0

        def attempt() -> None:
            at = loop.now()
            check = loop.self_check(at)
            after = next_streaks(
                check.streaks,
                windowed=flags.enable_windowed_self_check,
                learning_open=self.learning_open,
                learning_progress=self.learning_progress,
                improvement_open=improvement_open,
                improvement_progress=improvement_progress,
            )
            check.check_cycle(
                at=at,
                cursor=self.cursor,
                windowed=flags.enable_windowed_self_check,
                learning_window_open=self.learning_open,
                learning_progress=self.learning_progress,
                improvement_window_open=improvement_open,
                improvement_progress=improvement_progress,
                after=after,
                host_errors=self.host_errors,
            )
            if (
                flags.enable_synthetic_opportunities
                and after.no_opportunity_iterations >= flags.synthetic_opportunity_threshold
            ):
                self.open_synthetic(check, at)
            loop.app.save(check)

        loop.retry(attempt, what="record the cycle's self-check")

    def open_synthetic(self, check: Any, at: datetime) -> None:
        """Bundle recent unproposed learning events into one opportunity for the proposer."""
        loop = self.loop
        loop.catch_up()
        events: tuple[LearningEventView, ...] = tuple(
            e.event for e in loop.agenda.synthetic_candidates(at)
        )
        # Derived from the self-check's version, so processes racing to open it agree on it.
        opportunity_id = f"synthetic:{uuid5(SYNTHETIC_NAMESPACE, str(check.version))}"
        created: list[str] = []
        if events:
            opportunity = Opportunity(id=opportunity_id, kind="synthetic", events=events, at=at)
            created = self.create_drafts(opportunity, [e.id for e in events])
        check.open_synthetic(
            at=at,
            opportunity_id=opportunity_id,
            event_ids=[e.id for e in events],
            proposal_ids=created,
        )
        self.synthetic_opened = True
        loop.log.info("synthetic.opened", events=len(events), proposals=len(created))


def _result_dict(result: ExecutionResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "cost_usd": result.cost_usd,
        "duration_ms": result.duration_ms,
        "artifacts": dict(result.artifacts),
        "error": result.error,
    }


def _row(
    pid: str, run: Run, *, kind: RunKind, converged: bool = False, error: str | None = None
) -> RunReport:
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


__all__ = ["Cycle", "ProposalView", "Streaks"]
