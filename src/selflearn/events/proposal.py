"""The proposal aggregate: its states, its runs and their verification attempts.

Public methods check the rules and raise `IllegalTransition`; the private `@event`
methods only change state, because they run again every time the proposal is loaded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID

import attrs
from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from selflearn.config import Mode, RiskLevel
from selflearn.events.migration import upcast_v1_state
from selflearn.events.patching import APPLIED, BLOCKED, INTENDED, RESTORED, needs_settling
from selflearn.events.rules import MAX_FAILED_RUNS, lease_expired, recheck_due_at
from selflearn.exceptions import IllegalTransition
from selflearn.ports import ExecutionStatus, RunStatus, VerdictKind

STATUSES: Final = ("pending_approval", "approved", "executed", "verified", "rejected")
TERMINAL: Final = frozenset({"verified", "rejected"})
TRANSITIONS: Final = {
    "pending_approval": frozenset({"approved", "rejected"}),
    "approved": frozenset({"executed", "rejected"}),
    "executed": frozenset({"approved", "verified"}),
    "verified": frozenset(),
    "rejected": frozenset(),
}


@attrs.define
class Run:
    """One execution of the proposal, as the events tell it."""

    id: str
    mode: Mode
    mode_reason: str
    started_at: datetime
    lease_until: datetime
    execution_status: RunStatus = "running"
    baseline: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    executed_at: datetime | None = None
    attempts: int = 0
    last_attempt_at: datetime | None = None
    pending_recheck: bool = False
    verdict: VerdictKind | None = None
    confidence: float | None = None
    exhausted: bool = False
    finished_at: datetime | None = None
    failure_reason: str | None = None
    error: str | None = None
    # Real apply: the dry-run outcome, or the state of the patches in the workspace.
    patch_check: str | None = None
    apply_state: str | None = None
    apply_files: list[dict[str, Any]] = attrs.Factory(list)
    apply_workspace: dict[str, str] = attrs.Factory(dict)
    apply_blocked: dict[str, Any] | None = None

    @property
    def closed(self) -> bool:
        """A failed, interrupted or converged run takes no further events."""
        return self.finished_at is not None

    @property
    def executed(self) -> bool:
        return self.execution_status in ("completed", "no_changes")

    def overdue(self, now: datetime) -> bool:
        """Open, its execution never recorded, and its lease run out before `now`."""
        return lease_expired(
            closed=self.closed, executed=self.executed, lease_until=self.lease_until, now=now
        )

    def recheck_due_at(self, interval_seconds: int) -> datetime | None:
        """When the run's next verification attempt is due, if one is."""
        return recheck_due_at(
            closed=self.closed,
            executed=self.executed,
            attempts=self.attempts,
            lease_until=self.lease_until,
            pending_recheck=self.pending_recheck,
            last_attempt_at=self.last_attempt_at,
            interval_seconds=interval_seconds,
        )

    @property
    def files_at_stake(self) -> bool:
        """Whether the run's patches may be in the workspace (applied, or an intent open)."""
        return self.apply_state in (INTENDED, APPLIED)

    @property
    def files_need_restoring(self) -> bool:
        """A closed run that failed or lost with patches applied, or left an intent open."""
        return needs_settling(
            state=self.apply_state,
            closed=self.closed,
            failed=self.failure_reason is not None,
            verdict=self.verdict,
            blocked=self.apply_state == BLOCKED,
        )


class Proposal(Aggregate):
    """A candidate improvement and everything that happened to it."""

    class Event(Aggregate.Event):
        """The base of this aggregate's events (declared here, so that eventsourcing need
        not redefine each event class under it)."""

    class Proposed(Event, Aggregate.Created):
        """The proposal was created (schema v2; v1 is the earlier system's row, upcast on load)."""

        class_version = 2
        at: datetime
        title: str
        hypothesis: str
        plan_steps: list[str]
        expected_impact: str
        risk_level: str
        confidence: float
        priority: float
        signature: str
        metadata: dict[str, Any]
        patches: list[Any]
        origin_event_ids: list[str]
        status: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 row, imported as it was, becomes the v2 shape by the v1 mapping table."""
            upcast_v1_state(state, aggregate_topic=get_topic(Proposal))

    @event(Proposed)
    def __init__(
        self,
        *,
        id: UUID,
        at: datetime,
        title: str,
        hypothesis: str,
        plan_steps: list[str],
        expected_impact: str,
        risk_level: RiskLevel,
        confidence: float,
        priority: float,
        signature: str,
        metadata: dict[str, Any],
        patches: list[Any],
        origin_event_ids: list[str],
        status: str,
    ) -> None:
        self.created_at = at
        self.title = title
        self.hypothesis = hypothesis
        self.plan_steps = list(plan_steps)
        self.expected_impact = expected_impact
        self.risk_level = risk_level
        self.confidence = confidence
        self.priority = priority
        self.signature = signature
        self.metadata = dict(metadata)
        self.patches = list(patches)
        self.origin_event_ids = list(origin_event_ids)
        self.status = status
        self.status_reason = "proposed"
        self.policy_arms: dict[str, str] = {}
        self.runs: dict[str, Run] = {}
        self.failed_runs = 0
        self.verdict: VerdictKind | None = None
        self.verdict_confidence: float | None = None
        self.exhausted = False

    # -- queries ---------------------------------------------------------------------

    @property
    def open_run(self) -> Run | None:
        """The run that has started and is not closed yet, if any."""
        for run in self.runs.values():
            if not run.closed:
                return run
        return None

    def run(self, run_id: str) -> Run:
        try:
            return self.runs[run_id]
        except KeyError:
            raise IllegalTransition(f"proposal {self.id} has no run {run_id}") from None

    def check_transition(self, to: str) -> None:
        """Raise `IllegalTransition` unless the proposal may move to `to` now."""
        if to not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"proposal {self.id} is {self.status}; it cannot become {to}")

    # -- approval --------------------------------------------------------------------

    class Approved(Event):
        at: datetime
        actor: str
        reason: str
        policy_arms: dict[str, str]

    def approve(
        self, *, at: datetime, actor: str, reason: str, policy_arms: dict[str, str]
    ) -> None:
        self.check_transition("approved")
        if self.status != "pending_approval":
            raise IllegalTransition(
                f"proposal {self.id} is {self.status}; only a pending proposal is approved"
            )
        self._approved(at=at, actor=actor, reason=reason, policy_arms=dict(policy_arms))

    @event(Approved)
    def _approved(
        self, *, at: datetime, actor: str, reason: str, policy_arms: dict[str, str]
    ) -> None:
        self.status = "approved"
        self.status_reason = reason
        self.policy_arms = dict(policy_arms)

    class Rejected(Event):
        at: datetime
        actor: str
        reason: str

    def reject(self, *, at: datetime, actor: str, reason: str) -> None:
        self.check_transition("rejected")
        self._rejected(at=at, actor=actor, reason=reason)

    @event(Rejected)
    def _rejected(self, *, at: datetime, actor: str, reason: str) -> None:
        self.status = "rejected"
        self.status_reason = reason

    # -- runs ------------------------------------------------------------------------

    class RunStarted(Event):
        """A run was started in `mode`; `decision` holds the facts the mode was decided on."""

        at: datetime
        run_id: str
        mode: str
        mode_reason: str
        decision: dict[str, Any]
        lease_until: datetime

    def start_run(
        self,
        *,
        at: datetime,
        run_id: str,
        mode: Mode,
        mode_reason: str,
        decision: dict[str, Any],
        lease_until: datetime,
    ) -> None:
        self.check_transition("executed")
        if self.open_run is not None:
            raise IllegalTransition(f"proposal {self.id} already has run {self.open_run.id} open")
        self._run_started(
            at=at,
            run_id=run_id,
            mode=mode,
            mode_reason=mode_reason,
            decision=dict(decision),
            lease_until=lease_until,
        )

    @event(RunStarted)
    def _run_started(
        self,
        *,
        at: datetime,
        run_id: str,
        mode: Mode,
        mode_reason: str,
        decision: dict[str, Any],
        lease_until: datetime,
    ) -> None:
        self.runs[run_id] = Run(
            id=run_id, mode=mode, mode_reason=mode_reason, started_at=at, lease_until=lease_until
        )
        self.status = "executed"
        self.status_reason = f"run {run_id} started in {mode} mode ({mode_reason})"

    class RunExecuted(Event):
        """The host executed the run; `baseline` was measured just before."""

        at: datetime
        run_id: str
        baseline: dict[str, Any]
        status: str
        cost_usd: float
        duration_ms: float
        artifacts: dict[str, Any]
        error: str | None

    def record_execution(
        self,
        *,
        at: datetime,
        run_id: str,
        baseline: dict[str, Any],
        status: ExecutionStatus,
        cost_usd: float,
        duration_ms: float,
        artifacts: dict[str, Any],
        error: str | None,
    ) -> None:
        run = self._check_running(run_id)
        if run.executed:
            raise IllegalTransition(f"run {run_id} already has its execution recorded")
        self._run_executed(
            at=at,
            run_id=run_id,
            baseline=dict(baseline),
            status=status,
            cost_usd=cost_usd,
            duration_ms=duration_ms,
            artifacts=dict(artifacts),
            error=error,
        )

    @event(RunExecuted)
    def _run_executed(
        self,
        *,
        at: datetime,
        run_id: str,
        baseline: dict[str, Any],
        status: ExecutionStatus,
        cost_usd: float,
        duration_ms: float,
        artifacts: dict[str, Any],
        error: str | None,
    ) -> None:
        run = self.runs[run_id]
        run.execution_status = status
        run.baseline = dict(baseline)
        run.result = {
            "status": status,
            "cost_usd": cost_usd,
            "duration_ms": duration_ms,
            "artifacts": dict(artifacts),
            "error": error,
        }
        run.executed_at = at

    class RunFailed(Event):
        """The run was closed without a verdict (a failed run); the proposal is approved again."""

        at: datetime
        run_id: str
        reason: str
        error: str | None
        detail: dict[str, Any]

    def fail_run(
        self, *, at: datetime, run_id: str, reason: str, error: str | None, detail: dict[str, Any]
    ) -> None:
        """Close a run that produced no verdict; the third failed run rejects the proposal."""
        self._check_running(run_id)
        self._run_failed(at=at, run_id=run_id, reason=reason, error=error, detail=dict(detail))
        if self.failed_runs >= MAX_FAILED_RUNS:
            self._rejected(at=at, actor="loop", reason="execution_failed")

    @event(RunFailed)
    def _run_failed(
        self, *, at: datetime, run_id: str, reason: str, error: str | None, detail: dict[str, Any]
    ) -> None:
        run = self.runs[run_id]
        run.execution_status = "interrupted" if reason == "interrupted" else "failed"
        run.failure_reason = reason
        run.error = error
        run.finished_at = at
        self.failed_runs += 1
        self.status = "approved"
        self.status_reason = f"run {run_id} failed: {reason}"

    class LateResultIgnored(Event):
        """A host finished a run after it had been closed; its result is kept but not used."""

        at: datetime
        run_id: str
        stage: str
        detail: dict[str, Any]

    def ignore_late_result(
        self, *, at: datetime, run_id: str, stage: str, detail: dict[str, Any]
    ) -> None:
        run = self.run(run_id)
        if not run.closed:
            raise IllegalTransition(f"run {run_id} is still open; its result is not late")
        self._late_result_ignored(at=at, run_id=run_id, stage=stage, detail=dict(detail))

    @event(LateResultIgnored)
    def _late_result_ignored(
        self, *, at: datetime, run_id: str, stage: str, detail: dict[str, Any]
    ) -> None:
        pass

    # -- verification ------------------------------------------------------------------

    class AttemptVerified(Event):
        """One verification attempt of a run: the measurements and the verdict."""

        at: datetime
        run_id: str
        attempt: int
        before: dict[str, Any]
        after: dict[str, Any]
        delta: dict[str, float]
        signals: dict[str, Any]
        verdict: str
        confidence: float
        pending_recheck: bool
        reasons: list[str]
        error: str | None

    def record_attempt(
        self,
        *,
        at: datetime,
        run_id: str,
        attempt: int,
        before: dict[str, Any],
        after: dict[str, Any],
        delta: dict[str, float],
        signals: dict[str, Any],
        verdict: VerdictKind,
        confidence: float,
        pending_recheck: bool,
        reasons: list[str],
        error: str | None,
    ) -> None:
        run = self._check_running(run_id)
        if not run.executed:
            raise IllegalTransition(f"run {run_id} has no recorded execution to verify")
        if attempt != run.attempts + 1:
            raise IllegalTransition(
                f"run {run_id} expects attempt {run.attempts + 1}, not {attempt}"
            )
        self._attempt_verified(
            at=at,
            run_id=run_id,
            attempt=attempt,
            before=dict(before),
            after=dict(after),
            delta=dict(delta),
            signals=dict(signals),
            verdict=verdict,
            confidence=confidence,
            pending_recheck=pending_recheck,
            reasons=list(reasons),
            error=error,
        )

    @event(AttemptVerified)
    def _attempt_verified(
        self,
        *,
        at: datetime,
        run_id: str,
        attempt: int,
        before: dict[str, Any],
        after: dict[str, Any],
        delta: dict[str, float],
        signals: dict[str, Any],
        verdict: VerdictKind,
        confidence: float,
        pending_recheck: bool,
        reasons: list[str],
        error: str | None,
    ) -> None:
        run = self.runs[run_id]
        run.attempts = attempt
        run.last_attempt_at = at
        run.pending_recheck = pending_recheck
        run.verdict = verdict
        run.confidence = confidence

    class RunConverged(Event):
        """The run has its final verdict; the proposal is verified."""

        at: datetime
        run_id: str
        verdict: str
        confidence: float
        exhausted: bool
        reason: str
        credited_arms: dict[str, str]
        cooldown_until: datetime | None

    def converge(
        self,
        *,
        at: datetime,
        run_id: str,
        verdict: VerdictKind,
        confidence: float,
        exhausted: bool,
        reason: str,
        credited_arms: dict[str, str],
        cooldown_until: datetime | None,
    ) -> None:
        run = self._check_running(run_id)
        if run.attempts == 0:
            raise IllegalTransition(f"run {run_id} has no verification attempt to converge on")
        self.check_transition("verified")
        self._run_converged(
            at=at,
            run_id=run_id,
            verdict=verdict,
            confidence=confidence,
            exhausted=exhausted,
            reason=reason,
            credited_arms=dict(credited_arms),
            cooldown_until=cooldown_until,
        )

    @event(RunConverged)
    def _run_converged(
        self,
        *,
        at: datetime,
        run_id: str,
        verdict: VerdictKind,
        confidence: float,
        exhausted: bool,
        reason: str,
        credited_arms: dict[str, str],
        cooldown_until: datetime | None,
    ) -> None:
        run = self.runs[run_id]
        run.verdict = verdict
        run.confidence = confidence
        run.exhausted = exhausted
        run.pending_recheck = False
        run.finished_at = at
        self.status = "verified"
        self.status_reason = reason
        self.verdict = verdict
        self.verdict_confidence = confidence
        self.exhausted = exhausted

    # -- real apply ---------------------------------------------------------------------
    #
    # A run's patches go INTENDED → APPLIED | RESTORED | BLOCKED, APPLIED → RESTORED |
    # BLOCKED, BLOCKED → RESTORED | BLOCKED. Every event names the files with their hashes.

    class PatchesChecked(Event):
        """The patches were only checked, never written: would they apply cleanly?

        `outcome` is `clean`, `conflict` (with `error`) or `unchecked` (no workspace);
        `reason` says why they were not applied (safe_mode, real_apply_disabled, …).
        """

        at: datetime
        run_id: str
        outcome: str
        reason: str
        checked: int
        files: list[dict[str, Any]]
        error: str | None

    def record_patch_check(
        self,
        *,
        at: datetime,
        run_id: str,
        outcome: str,
        reason: str,
        checked: int,
        files: list[dict[str, Any]],
        error: str | None,
    ) -> None:
        run = self._check_running(run_id)
        if run.executed or run.patch_check is not None or run.apply_state is not None:
            raise IllegalTransition(f"run {run_id} already had its patches checked or applied")
        self._patches_checked(
            at=at,
            run_id=run_id,
            outcome=outcome,
            reason=reason,
            checked=checked,
            files=list(files),
            error=error,
        )

    @event(PatchesChecked)
    def _patches_checked(
        self,
        *,
        at: datetime,
        run_id: str,
        outcome: str,
        reason: str,
        checked: int,
        files: list[dict[str, Any]],
        error: str | None,
    ) -> None:
        self.runs[run_id].patch_check = outcome

    class ApplyIntended(Event):
        """Recorded before any file is touched: each file's pre-image and expected post-image.

        `workspace` holds the resolved root and the workspace's id; `patches` are the
        indices applied, `skipped` those beyond `max_patches` (never applied).
        """

        at: datetime
        run_id: str
        workspace: dict[str, str]
        files: list[dict[str, Any]]
        patches: list[int]
        skipped: list[int]
        max_patches: int

    def intend_apply(
        self,
        *,
        at: datetime,
        run_id: str,
        workspace: dict[str, str],
        files: list[dict[str, Any]],
        patches: list[int],
        skipped: list[int],
        max_patches: int,
    ) -> None:
        run = self._check_running(run_id)
        if run.mode != "normal":
            raise IllegalTransition(f"run {run_id} is a {run.mode}-mode run; only normal applies")
        if run.executed or run.apply_state is not None or run.patch_check is not None:
            raise IllegalTransition(f"run {run_id} already had its patches checked or applied")
        self._apply_intended(
            at=at,
            run_id=run_id,
            workspace=dict(workspace),
            files=[dict(f) for f in files],
            patches=list(patches),
            skipped=list(skipped),
            max_patches=max_patches,
        )

    @event(ApplyIntended)
    def _apply_intended(
        self,
        *,
        at: datetime,
        run_id: str,
        workspace: dict[str, str],
        files: list[dict[str, Any]],
        patches: list[int],
        skipped: list[int],
        max_patches: int,
    ) -> None:
        run = self.runs[run_id]
        run.apply_state = INTENDED
        run.apply_files = [dict(f) for f in files]
        run.apply_workspace = dict(workspace)

    class PatchesApplied(Event):
        """Every file of the intent holds its post-image (hashes read back after writing)."""

        at: datetime
        run_id: str
        files: list[dict[str, Any]]

    def record_applied(self, *, at: datetime, run_id: str, files: list[dict[str, Any]]) -> None:
        run = self._check_running(run_id)
        self._check_apply_state(run, INTENDED)
        self._patches_applied(at=at, run_id=run_id, files=[dict(f) for f in files])

    @event(PatchesApplied)
    def _patches_applied(self, *, at: datetime, run_id: str, files: list[dict[str, Any]]) -> None:
        self.runs[run_id].apply_state = APPLIED

    class ApplyAbandoned(Event):
        """Applying failed part-way; the files already written were restored and verified."""

        at: datetime
        run_id: str
        error: str
        restored: list[str]

    def abandon_apply(self, *, at: datetime, run_id: str, error: str, restored: list[str]) -> None:
        self._check_apply_state(self.run(run_id), INTENDED)
        self._apply_abandoned(at=at, run_id=run_id, error=error, restored=list(restored))

    @event(ApplyAbandoned)
    def _apply_abandoned(
        self, *, at: datetime, run_id: str, error: str, restored: list[str]
    ) -> None:
        self.runs[run_id].apply_state = RESTORED

    class ApplyReconciled(Event):
        """An intent left without an outcome (a crash), resolved from the file hashes.

        `found` is `applied`, `not_applied` or `torn`; the run failed, so the files found
        at their post-image (`restored`) were restored from the backups and verified.
        """

        at: datetime
        run_id: str
        found: str
        restored: list[str]
        files: list[dict[str, Any]]

    def reconcile_apply(
        self,
        *,
        at: datetime,
        run_id: str,
        found: str,
        restored: list[str],
        files: list[dict[str, Any]],
    ) -> None:
        self._check_apply_state(self.run(run_id), INTENDED)
        self._apply_reconciled(
            at=at, run_id=run_id, found=found, restored=list(restored), files=list(files)
        )

    @event(ApplyReconciled)
    def _apply_reconciled(
        self,
        *,
        at: datetime,
        run_id: str,
        found: str,
        restored: list[str],
        files: list[dict[str, Any]],
    ) -> None:
        run = self.runs[run_id]
        run.apply_state = RESTORED
        run.apply_blocked = None

    class PatchesRolledBack(Event):
        """The run's files hold their pre-images again, restored from the backups and verified.

        `actor` is `loop` (a loss, a failed or interrupted run) or `operator`; `files` gives
        each file's hashes and `restored` the files this rollback wrote.
        """

        at: datetime
        run_id: str
        actor: str
        reason: str
        restored: list[str]
        files: list[dict[str, Any]]

    def roll_back(
        self,
        *,
        at: datetime,
        run_id: str,
        actor: str,
        reason: str,
        restored: list[str],
        files: list[dict[str, Any]],
    ) -> None:
        self._check_apply_state(self.run(run_id), APPLIED, BLOCKED)
        self._patches_rolled_back(
            at=at,
            run_id=run_id,
            actor=actor,
            reason=reason,
            restored=list(restored),
            files=list(files),
        )

    @event(PatchesRolledBack)
    def _patches_rolled_back(
        self,
        *,
        at: datetime,
        run_id: str,
        actor: str,
        reason: str,
        restored: list[str],
        files: list[dict[str, Any]],
    ) -> None:
        run = self.runs[run_id]
        run.apply_state = RESTORED
        run.apply_blocked = None

    class RollbackBlocked(Event):
        """A restore stopped and overwrote nothing more: `path` holds neither recorded image
        (someone else changed it), its backup is unusable, or writing it failed (`error`).

        `restored` lists the files restored before it stopped; an operator decides next.
        """

        at: datetime
        run_id: str
        actor: str
        reason: str
        path: str
        expected_sha256: str | None
        found_sha256: str | None
        error: str
        restored: list[str]

    def block_rollback(
        self,
        *,
        at: datetime,
        run_id: str,
        actor: str,
        reason: str,
        path: str,
        expected_sha256: str | None,
        found_sha256: str | None,
        error: str,
        restored: list[str],
    ) -> None:
        self._check_apply_state(self.run(run_id), INTENDED, APPLIED, BLOCKED)
        self._rollback_blocked(
            at=at,
            run_id=run_id,
            actor=actor,
            reason=reason,
            path=path,
            expected_sha256=expected_sha256,
            found_sha256=found_sha256,
            error=error,
            restored=list(restored),
        )

    @event(RollbackBlocked)
    def _rollback_blocked(
        self,
        *,
        at: datetime,
        run_id: str,
        actor: str,
        reason: str,
        path: str,
        expected_sha256: str | None,
        found_sha256: str | None,
        error: str,
        restored: list[str],
    ) -> None:
        run = self.runs[run_id]
        run.apply_state = BLOCKED
        run.apply_blocked = {
            "at": at.isoformat(),
            "path": path,
            "error": error,
            "restored": list(restored),
        }

    @staticmethod
    def _check_apply_state(run: Run, *allowed: str) -> None:
        if run.apply_state not in allowed:
            state = run.apply_state or "no patches applied"
            raise IllegalTransition(
                f"run {run.id}'s patches are {state}; expected {' or '.join(allowed)}"
            )

    def _check_running(self, run_id: str) -> Run:
        run = self.run(run_id)
        if run.closed:
            raise IllegalTransition(f"run {run_id} is already closed ({run.execution_status})")
        return run
