"""Real apply inside the cycle: check, apply, roll back and reconcile patches.

The order is always the same: take the workspace's lock, load the proposal fresh, do the
file I/O (no transaction open), then save the events in one load-decide-save attempt run
by `Session.retry`, still under the lock. Every write to a workspace and the event that
records it therefore happen while no other selflearn process can touch its files, and
the state an attempt decides on is the state the files are in.

These steps take the session (and the workspace and its hooks) and return what happened;
the cycle decides what that means for the run (`BeforeExecution`, `SettleResult`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import attrs

from selflearn.config import Flags
from selflearn.events.patching import (
    APPLIED,
    BLOCKED,
    INTENDED,
    decide_patch_action,
)
from selflearn.events.proposal import Proposal, Run
from selflearn.exceptions import IllegalTransition, NotFound, ValidationError
from selflearn.ports import Patch
from selflearn.realapply.patches import (
    PatchError,
    Plan,
    check_patches,
    from_stored,
    paths_to_read,
    plan,
)
from selflearn.realapply.workspace import (
    DEFAULT_HOOKS,
    ApplyFailed,
    Hooks,
    Prepared,
    Restore,
    RestoreFailed,
    Workspace,
    prepare,
    restore_files,
    write_files,
)
from selflearn.reports import RollbackReport
from selflearn.session import Session

REAL_APPLY_FAILED = "real_apply_failed"
# What planning may raise about a workspace or a stored patch: it refuses the patches.
# (A stored patch is validated again: rules may have tightened since it was proposed.)
REFUSALS = (PatchError, ValidationError, OSError)
Settled = Literal["done", "skipped", "blocked"]


@attrs.frozen
class BeforeExecution:
    """What real apply says before the executor runs.

    - `go`: run the executor (nothing to apply, a dry run recorded, or the patches applied);
    - `stop`: the run was closed by another process meanwhile: nothing more to do;
    - `fail`: the run must be closed as failed (`REAL_APPLY_FAILED`) with `error` and
      `detail`; nothing was written to the workspace;
    - `failed`: writing failed and was recorded here, the run closed as failed (`run`).
    """

    kind: Literal["go", "stop", "fail", "failed"]
    error: str = ""
    detail: Mapping[str, Any] = attrs.field(factory=dict)
    run: Run | None = None


GO = BeforeExecution("go")


@attrs.frozen
class SettleResult:
    """What settling a run's files did: `done`, `skipped` (nothing to do, or not ours) or
    `blocked` (a file holds neither image; recorded). `run` is the run after the save."""

    outcome: Settled
    run: Run | None = None
    message: str = ""
    restored: tuple[str, ...] = ()
    files: tuple[dict[str, Any], ...] = ()


def _patches(proposal: Proposal) -> list[Patch]:
    """The proposal's patches, checked again by today's rules (`ValidationError`)."""
    patches = [from_stored(p) for p in proposal.patches]
    check_patches(patches)
    return patches


# -- before the executor: check or apply ---------------------------------------------------


def before_execution(
    session: Session,
    flags: Flags,
    *,
    workspace: Path | None,
    hooks: Hooks,
    pid: str,
    run: Run,
    baseline: dict[str, Any],
) -> BeforeExecution:
    """Check or apply the proposal's patches, as `flags` and the run's mode decide."""
    stored = session.load_proposal(pid).patches
    decision = decide_patch_action(
        flags=flags,
        mode=run.mode,
        patch_count=len(stored),
        workspace_given=workspace is not None,
    )
    if decision.action == "none":
        return GO
    if decision.action == "check":
        dry_run(session, workspace, pid, run.id, decision.reason)
        return GO
    if decision.action == "refuse":
        return BeforeExecution(
            "fail",
            "real apply is on but no workspace was given to the loop "
            "(LearningLoop(workspace=...)): the patches were not applied",
            {"baseline": baseline, "stage": "workspace"},
        )
    assert workspace is not None
    return apply(
        session,
        workspace,
        hooks,
        pid=pid,
        run=run,
        baseline=baseline,
        limit=flags.executor_real_apply_max_patches,
    )


def dry_run(
    session: Session, workspace_root: Path | None, pid: str, run_id: str, reason: str
) -> None:
    """Would the patches apply cleanly to the workspace as it is? Record it; write nothing."""
    outcome, files, error = "clean", [], None
    stored = session.load_proposal(pid).patches
    checked = len(stored)
    if workspace_root is None:
        outcome, error = "unchecked", "no workspace was given to the loop"
    else:
        try:
            patches = _patches(session.load_proposal(pid))
            workspace = Workspace(workspace_root)
            contents, aliases = workspace.contents(paths_to_read(patches))
            files = plan(patches, contents, aliases=aliases).records()
        except REFUSALS as exc:
            outcome, error = "conflict", _text(exc)

    def attempt() -> None:
        proposal = session.load_proposal(pid)
        if proposal.run(run_id).closed:
            return
        proposal.record_patch_check(
            at=session.now(),
            run_id=run_id,
            outcome=outcome,
            reason=reason,
            checked=checked,
            files=files,
            error=error,
        )
        session.save(proposal)

    session.retry(attempt, what=f"record the patch check of run {run_id}")
    session.logger(__name__).info("patches.checked", run_id=run_id, outcome=outcome, reason=reason)


def apply(
    session: Session,
    root: Path,
    hooks: Hooks,
    *,
    pid: str,
    run: Run,
    baseline: dict[str, Any],
    limit: int,
) -> BeforeExecution:
    """Apply up to `limit` patches (`EXECUTOR_REAL_APPLY_MAX_PATCHES`) to the workspace at
    `root`, under its lock."""
    detail: dict[str, Any] = {"baseline": baseline}
    try:
        workspace = Workspace(root, hooks)
    except PatchError as exc:
        return BeforeExecution("fail", str(exc), {**detail, "stage": "workspace"})
    try:
        with workspace.locked():
            return _apply_locked(session, workspace, pid, run, limit=limit, detail=detail)
    except PatchError as exc:  # the lock was not obtained in time
        return BeforeExecution("fail", str(exc), {**detail, "stage": "plan"})


def _apply_locked(
    session: Session,
    workspace: Workspace,
    pid: str,
    run: Run,
    *,
    limit: int,
    detail: dict[str, Any],
) -> BeforeExecution:
    """Plan, back up, record the intent, write, record the outcome (under the lock).

    `go` when applied; `stop` when the run was closed meanwhile; `failed` when the write
    failed (recorded); `fail` when the patches were refused before anything was written.
    """
    log = session.logger(__name__)
    session.sync()  # fresh under the lock: a cycle's cached proposal may predate the wait
    proposal = session.load_proposal(pid)
    if proposal.run(run.id).closed:
        return BeforeExecution("stop")  # closed by another process while this one waited
    try:
        patches = _patches(proposal)
        contents, aliases = workspace.contents(paths_to_read(patches, limit))
        planned = plan(patches, contents, limit=limit, aliases=aliases)
        prepared = prepare(workspace, planned.files)
    except REFUSALS as exc:
        return BeforeExecution("fail", _text(exc), {**detail, "stage": "plan"})
    files = planned.records()
    for record in files:
        record["backup"] = prepared.backups.get(record["path"])
    try:
        intended = _record_intent(
            session,
            workspace,
            pid,
            run.id,
            files=files,
            planned=planned,
            prepared=prepared,
            limit=limit,
        )
    except BaseException:
        workspace.discard(prepared.created)
        raise
    if not intended:
        workspace.discard(prepared.created)
        return BeforeExecution("stop")
    log.info("patches.intended", run_id=run.id, files=len(files))
    workspace.hooks.on_step("intended")
    try:
        write_files(workspace, prepared)
    except ApplyFailed as exc:
        return _apply_failed(
            session, workspace, pid=pid, run=run, exc=exc, created=prepared.created, detail=detail
        )
    _record_applied(session, pid, run.id, files)
    log.info("patches.applied", run_id=run.id, files=len(files), skipped=len(planned.skipped))
    return GO


def _record_intent(
    session: Session,
    workspace: Workspace,
    pid: str,
    run_id: str,
    *,
    files: list[dict[str, Any]],
    planned: Plan,
    prepared: Prepared,
    limit: int,
) -> bool:
    """Record what is about to be written (`ApplyIntended`); False if the run closed."""

    def attempt() -> bool:
        proposal = session.load_proposal(pid)
        if proposal.run(run_id).closed:
            return False
        proposal.intend_apply(
            at=session.now(),
            run_id=run_id,
            workspace={"root": os.fspath(workspace.root), "id": prepared.workspace_id},
            files=files,
            patches=list(planned.applied),
            skipped=list(planned.skipped),
            max_patches=limit,
        )
        session.save(proposal)
        return True

    return session.retry(attempt, what=f"record the apply intent of run {run_id}")


def _record_applied(session: Session, pid: str, run_id: str, files: list[dict[str, Any]]) -> None:
    """Record that every file holds its post-image (`PatchesApplied`)."""

    def attempt() -> None:
        proposal = session.load_proposal(pid)
        proposal.record_applied(at=session.now(), run_id=run_id, files=files)
        session.save(proposal)

    session.retry(attempt, what=f"record the applied patches of run {run_id}")


def _apply_failed(
    session: Session,
    workspace: Workspace,
    *,
    pid: str,
    run: Run,
    exc: ApplyFailed,
    created: tuple[str, ...],
    detail: dict[str, Any],
) -> BeforeExecution:
    """Record a failed write: restored (`ApplyAbandoned`) or not (`RollbackBlocked`)."""
    restore = exc.restore
    error = f"writing the patches failed: {exc.error}"
    if not isinstance(exc, RestoreFailed):
        # Backups this apply took are no longer needed: every file holds its pre-image.
        workspace.discard([path for path in created if path.startswith(".selflearn/backups")])

    def attempt() -> Run:
        proposal = session.load_proposal(pid)
        at = session.now()
        if isinstance(exc, RestoreFailed):
            _record_blocked(
                proposal,
                run_id=run.id,
                at=at,
                actor="loop",
                reason=f"apply failed: {exc.error}",
                restore=restore,
            )
        else:
            proposal.abandon_apply(
                at=at, run_id=run.id, error=exc.error, restored=list(restore.restored)
            )
        proposal.fail_run(
            at=at,
            run_id=run.id,
            reason=REAL_APPLY_FAILED,
            error=error,
            detail={**detail, "stage": "write", "restored": list(restore.restored)},
        )
        session.save(proposal)
        return proposal.runs[run.id]

    closed = session.retry(attempt, what=f"record the failed apply of run {run.id}")
    session.logger(__name__).warning(
        "run.failed", proposal_id=pid, run_id=run.id, reason=REAL_APPLY_FAILED
    )
    return BeforeExecution("failed", error, run=closed)


# -- bringing files back: loss, failure, interruption, operator ----------------------------


def settle(
    session: Session,
    hooks: Hooks,
    pid: str,
    run_id: str,
    *,
    actor: str,
    reason: str,
    should: Callable[[Run, datetime], bool],
    interrupt: str | None = None,
) -> SettleResult:
    """Bring a run's files back to their pre-image and record it.

    `should(run, now)` is checked on the state loaded under the workspace lock; when it
    says no, nothing is done. With `interrupt`, the run is also closed as interrupted in
    the same save, with that text as its error. A run whose workspace is not reachable from
    this process (another machine, a missing directory) is skipped and left for one that is.
    """
    log = session.logger(__name__)
    run = session.load_proposal(pid).run(run_id)
    if run.apply_state not in (INTENDED, APPLIED, BLOCKED):
        return SettleResult("skipped", message=f"run {run_id}'s patches are not applied")
    workspace, problem = open_recorded(run, hooks)
    if workspace is None:
        log.warning("patches.workspace_unreachable", run_id=run_id, problem=problem)
        return SettleResult("skipped", message=problem)
    try:
        with workspace.locked():
            result, found = _settle_locked(
                session,
                workspace,
                pid,
                run_id,
                actor=actor,
                reason=reason,
                should=should,
                interrupt=interrupt,
            )
    except PatchError as exc:  # the lock was not obtained in time: next cycle
        log.warning("patches.workspace_busy", run_id=run_id, error=str(exc))
        return SettleResult("skipped", message=str(exc))
    if result.outcome == "skipped":
        return result
    say = log.warning if result.outcome == "blocked" else log.info
    say("patches.settled", run_id=run_id, outcome=result.outcome, found=found)
    return result


def _settle_locked(
    session: Session,
    workspace: Workspace,
    pid: str,
    run_id: str,
    *,
    actor: str,
    reason: str,
    should: Callable[[Run, datetime], bool],
    interrupt: str | None,
) -> tuple[SettleResult, str]:
    """`settle`'s work under the workspace lock: fresh state, restore, one save."""
    session.sync()  # fresh under the lock: a cycle's cached proposal may predate the wait
    run = session.load_proposal(pid).run(run_id)
    if run.apply_state not in (INTENDED, APPLIED, BLOCKED) or not should(run, session.now()):
        return SettleResult("skipped", message=f"run {run_id} needs no restore now"), ""
    seen = run.apply_state
    restore = restore_files(workspace, run.apply_files)

    def attempt() -> SettleResult:
        # The files were restored: that is recorded whatever else changed meanwhile
        # (under the lock only the run's other events can have moved on).
        proposal = session.load_proposal(pid)
        _record_restore(
            proposal,
            run_id,
            restore,
            at=session.now(),
            actor=actor,
            reason=reason,
            seen=seen,
            interrupt=interrupt,
        )
        session.save(proposal)
        outcome: Settled = "blocked" if restore.blocked is not None else "done"
        return SettleResult(
            outcome,
            proposal.runs[run_id],
            restore.blocked or "",
            restore.restored,
            restore.files,
        )

    result = session.retry(attempt, what=f"record the restore of run {run_id}")
    return result, restore.found.state


def _record_restore(
    proposal: Proposal,
    run_id: str,
    restore: Restore,
    *,
    at: datetime,
    actor: str,
    reason: str,
    seen: str | None,
    interrupt: str | None,
) -> None:
    """Record what restoring the run's files did: blocked, an intent reconciled (`seen` was
    `intended`) or patches rolled back; and with `interrupt`, the overdue run closed."""
    current = proposal.run(run_id)
    if restore.blocked is not None:
        _record_blocked(proposal, run_id=run_id, at=at, actor=actor, reason=reason, restore=restore)
    elif seen == INTENDED:
        proposal.reconcile_apply(
            at=at,
            run_id=run_id,
            found=restore.found.state,
            restored=list(restore.restored),
            files=list(restore.files),
        )
    else:
        proposal.roll_back(
            at=at,
            run_id=run_id,
            actor=actor,
            reason=reason,
            restored=list(restore.restored),
            files=list(restore.files),
        )
    if interrupt is not None and current.overdue(at):
        proposal.fail_run(
            at=at,
            run_id=run_id,
            reason="interrupted",
            error=interrupt,
            detail={"lease_until": current.lease_until.isoformat()},
        )


def _record_blocked(
    proposal: Proposal, *, run_id: str, at: datetime, actor: str, reason: str, restore: Restore
) -> None:
    assert restore.blocked is not None
    assert restore.blocked_path is not None
    proposal.block_rollback(
        at=at,
        run_id=run_id,
        actor=actor,
        reason=reason,
        path=restore.blocked_path,
        expected_sha256=restore.expected,
        found_sha256=restore.found_sha256,
        error=restore.blocked,
        restored=list(restore.restored),
    )


def open_recorded(run: Run, hooks: Hooks = DEFAULT_HOOKS) -> tuple[Workspace | None, str]:
    """The workspace the run applied to, if this process sees the same one (same id)."""
    root, ident = run.apply_workspace.get("root", ""), run.apply_workspace.get("id")
    try:
        workspace = Workspace(root, hooks)
        found = workspace.read_identity()
    except (PatchError, OSError) as exc:
        return None, f"run {run.id} applied its patches to {root}, not reachable here: {exc}"
    if found != ident:
        return None, (
            f"run {run.id} applied its patches to workspace {ident} at {root}; the directory "
            f"there is workspace {found or '(none)'}: settle it on the machine that holds it"
        )
    return workspace, ""


def interrupted_with_files(run: Run, now: datetime) -> bool:
    """An overdue run whose patches may be in the workspace."""
    return run.overdue(now) and run.files_at_stake


def closed_with_files(run: Run, now: datetime) -> bool:
    """A closed run that failed or lost with patches still applied (or an intent open)."""
    return run.files_need_restoring


def interrupt(session: Session, hooks: Hooks, pid: str, run_id: str, error: str) -> Run | None:
    """Close a run past its lease as interrupted, its files restored first.

    An intent without an outcome is resolved from the file hashes (`ApplyReconciled`:
    applied, not applied or torn); applied patches are rolled back. The run failed, so
    in every case the workspace ends as it was before the apply.
    """
    result = settle(
        session,
        hooks,
        pid,
        run_id,
        actor="loop",
        reason=f"run interrupted: {error}",
        should=interrupted_with_files,
        interrupt=error,
    )
    if result.run is not None and result.run.closed:
        return result.run
    return None


def settle_closed(session: Session, hooks: Hooks) -> None:
    """Restore the files of closed runs that still hold patches (a crash between the run's
    close and its rollback, or a rollback that could not reach the workspace before)."""
    for entry in session.agenda.runs_to_settle():
        reason = (
            "final verdict loss"
            if entry.verdict == "loss"
            else "run failed"
            if entry.failed
            else "intent without an outcome"
        )
        settle(
            session,
            hooks,
            entry.proposal_id,
            entry.run_id,
            actor="loop",
            reason=f"{reason} (reconciled at the start of a cycle)",
            should=closed_with_files,
        )


def roll_back_after_close(
    session: Session, hooks: Hooks, pid: str, run_id: str, reason: str
) -> None:
    """A run that failed or lost: restore its files if it applied any (no-op otherwise)."""
    result = settle(
        session,
        hooks,
        pid,
        run_id,
        actor="loop",
        reason=reason,
        should=closed_with_files,
    )
    if result.outcome == "blocked":
        session.logger(__name__).warning(
            "patches.rollback_blocked", run_id=run_id, error=result.message
        )


def rollback(session: Session, hooks: Hooks, run_id: str, reason: str) -> RollbackReport:
    """`LearningLoop.rollback`: restore an applied run's files on an operator's word."""
    session.sync()
    entry = session.agenda.applied_run(run_id)
    if entry is None:
        raise NotFound(
            f"no run {run_id!r} applied patches (unknown run id, or a run without real apply)"
        )
    run = session.load_proposal(entry.proposal_id).run(run_id)
    if run.apply_state == INTENDED:
        raise IllegalTransition(
            f"run {run_id} is still applying its patches (an intent without an outcome); "
            "it is reconciled at the first cycle after its lease"
        )
    if run.apply_state not in (APPLIED, BLOCKED):
        raise IllegalTransition(f"run {run_id}'s patches are already rolled back or restored")
    _, problem = open_recorded(run)
    if problem:
        raise ValidationError(problem)

    def may(run: Run, now: datetime) -> bool:
        return run.apply_state in (APPLIED, BLOCKED)

    result = settle(
        session,
        hooks,
        entry.proposal_id,
        run_id,
        actor="operator",
        reason=reason,
        should=may,
    )
    if result.outcome == "skipped":
        raise IllegalTransition(f"run {run_id}: {result.message}")
    if result.outcome == "blocked":
        raise IllegalTransition(
            f"rollback of run {run_id} stopped: {result.message} (recorded as RollbackBlocked)"
        )
    assert result.run is not None
    return RollbackReport(
        run_id=result.run.id,
        proposal_id=entry.proposal_id,
        reason=reason,
        restored=result.restored,
        files=tuple(dict(f) for f in result.files),
    )


def _text(exc: BaseException) -> str:
    if isinstance(exc, (PatchError, ValidationError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
