"""Real apply inside the cycle: check, apply, roll back and reconcile patches.

The order is always the same: take the workspace's lock, load the proposal fresh, do the
file I/O (no transaction open), then save the events in one load-decide-save attempt run
by `LearningLoop.retry`, still under the lock. Every write to a workspace and the event
that records it therefore happen while no other selflearn process can touch its files,
and the state an attempt decides on is the state the files are in.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from selflearn.events.patching import (
    APPLIED,
    BLOCKED,
    INTENDED,
    decide_patch_action,
)
from selflearn.events.proposal import Proposal, Run
from selflearn.exceptions import IllegalTransition, NotFound, ValidationError
from selflearn.ports import Patch
from selflearn.realapply.patches import PatchError, check_patches, from_stored, paths_to_read, plan
from selflearn.realapply.workspace import (
    DEFAULT_HOOKS,
    ApplyFailed,
    Hooks,
    Restore,
    RestoreFailed,
    Workspace,
    prepare,
    restore_files,
    write_files,
)

if TYPE_CHECKING:
    from selflearn.cycle import Cycle
    from selflearn.loop import LearningLoop

REAL_APPLY_FAILED = "real_apply_failed"
# What planning may raise about a workspace or a stored patch: it refuses the patches.
# (A stored patch is validated again: rules may have tightened since it was proposed.)
REFUSALS = (PatchError, ValidationError, OSError)
Settled = Literal["done", "skipped", "blocked"]


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


def before_execution(cycle: Cycle, pid: str, run: Run, baseline: dict[str, Any]) -> bool:
    """Check or apply the proposal's patches; False when the run failed (recorded)."""
    loop = cycle.loop
    stored = loop.load_proposal(pid).patches
    decision = decide_patch_action(
        flags=cycle.flags,
        mode=run.mode,
        patch_count=len(stored),
        workspace_given=loop.workspace is not None,
    )
    if decision.action == "none":
        return True
    if decision.action == "check":
        dry_run(cycle, pid, run.id, decision.reason)
        return True
    if decision.action == "refuse":
        cycle.failed(
            pid,
            run,
            REAL_APPLY_FAILED,
            "real apply is on but no workspace was given to the loop "
            "(LearningLoop(workspace=...)): the patches were not applied",
            {"baseline": baseline, "stage": "workspace"},
        )
        return False
    return apply(cycle, pid, run, baseline)


def dry_run(cycle: Cycle, pid: str, run_id: str, reason: str) -> None:
    """Would the patches apply cleanly to the workspace as it is? Record it; write nothing."""
    loop = cycle.loop
    outcome, files, error = "clean", [], None
    stored = loop.load_proposal(pid).patches
    checked = len(stored)
    if loop.workspace is None:
        outcome, error = "unchecked", "no workspace was given to the loop"
    else:
        try:
            patches = _patches(loop.load_proposal(pid))
            workspace = Workspace(loop.workspace)
            contents, aliases = workspace.contents(paths_to_read(patches))
            files = plan(patches, contents, aliases=aliases).records()
        except REFUSALS as exc:
            outcome, error = "conflict", _text(exc)

    def attempt() -> None:
        proposal = loop.load_proposal(pid)
        if proposal.run(run_id).closed:
            return
        proposal.record_patch_check(
            at=loop.now(),
            run_id=run_id,
            outcome=outcome,
            reason=reason,
            checked=checked,
            files=files,
            error=error,
        )
        loop.app.save(proposal)

    loop.retry(attempt, what=f"record the patch check of run {run_id}")
    loop.log.info("patches.checked", run_id=run_id, outcome=outcome, reason=reason)


def apply(cycle: Cycle, pid: str, run: Run, baseline: dict[str, Any]) -> bool:
    """Apply up to EXECUTOR_REAL_APPLY_MAX_PATCHES patches; False when the run failed."""
    loop = cycle.loop
    assert loop.workspace is not None
    limit = cycle.flags.executor_real_apply_max_patches
    detail: dict[str, Any] = {"baseline": baseline}
    try:
        workspace = Workspace(loop.workspace, loop.apply_hooks)
    except PatchError as exc:
        cycle.failed(pid, run, REAL_APPLY_FAILED, str(exc), {**detail, "stage": "workspace"})
        return False
    outcome: bool | str
    try:
        with workspace.locked():
            outcome = _apply_locked(cycle, workspace, pid, run, limit=limit, detail=detail)
    except PatchError as exc:  # the lock was not obtained in time
        outcome = str(exc)
    if isinstance(outcome, str):
        cycle.failed(pid, run, REAL_APPLY_FAILED, outcome, {**detail, "stage": "plan"})
        return False
    return outcome is True


def _apply_locked(
    cycle: Cycle, workspace: Workspace, pid: str, run: Run, *, limit: int, detail: dict[str, Any]
) -> bool | str:
    """Plan, back up, record the intent, write, record the outcome (under the lock).

    True when applied; False when the run was closed meanwhile or the write failed (both
    recorded); a text when the patches were refused before anything was written.
    """
    loop = cycle.loop
    loop.sync()  # fresh under the lock: a cycle's cached proposal may predate the wait
    proposal = loop.load_proposal(pid)
    if proposal.run(run.id).closed:
        return False  # closed by another process while this one waited for the lock
    try:
        patches = _patches(proposal)
        contents, aliases = workspace.contents(paths_to_read(patches, limit))
        planned = plan(patches, contents, limit=limit, aliases=aliases)
        prepared = prepare(workspace, planned.files)
    except REFUSALS as exc:
        return _text(exc)
    files = planned.records()
    for record in files:
        record["backup"] = prepared.backups.get(record["path"])

    def intend() -> bool:
        proposal = loop.load_proposal(pid)
        if proposal.run(run.id).closed:
            return False
        proposal.intend_apply(
            at=loop.now(),
            run_id=run.id,
            workspace={"root": os.fspath(workspace.root), "id": prepared.workspace_id},
            files=files,
            patches=list(planned.applied),
            skipped=list(planned.skipped),
            max_patches=limit,
        )
        loop.app.save(proposal)
        return True

    try:
        intended = loop.retry(intend, what=f"record the apply intent of run {run.id}")
    except BaseException:
        workspace.discard(prepared.created)
        raise
    if not intended:
        workspace.discard(prepared.created)
        return False
    loop.log.info("patches.intended", run_id=run.id, files=len(files))
    workspace.hooks.on_step("intended")
    try:
        write_files(workspace, prepared)
    except ApplyFailed as exc:
        _apply_failed(
            cycle,
            workspace,
            pid=pid,
            run=run,
            exc=exc,
            created=prepared.created,
            detail=detail,
        )
        return False

    def applied() -> None:
        proposal = loop.load_proposal(pid)
        proposal.record_applied(at=loop.now(), run_id=run.id, files=files)
        loop.app.save(proposal)

    loop.retry(applied, what=f"record the applied patches of run {run.id}")
    loop.log.info("patches.applied", run_id=run.id, files=len(files), skipped=len(planned.skipped))
    return True


def _apply_failed(
    cycle: Cycle,
    workspace: Workspace,
    *,
    pid: str,
    run: Run,
    exc: ApplyFailed,
    created: tuple[str, ...],
    detail: dict[str, Any],
) -> None:
    """Record a failed write: restored (`ApplyAbandoned`) or not (`RollbackBlocked`)."""
    loop = cycle.loop
    restore = exc.restore
    error = f"writing the patches failed: {exc.error}"
    if not isinstance(exc, RestoreFailed):
        # Backups this apply took are no longer needed: every file holds its pre-image.
        workspace.discard([path for path in created if path.startswith(".selflearn/backups")])

    def attempt() -> Run:
        proposal = loop.load_proposal(pid)
        at = loop.now()
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
        loop.app.save(proposal)
        return proposal.runs[run.id]

    closed = loop.retry(attempt, what=f"record the failed apply of run {run.id}")
    loop.log.warning("run.failed", proposal_id=pid, run_id=run.id, reason=REAL_APPLY_FAILED)
    cycle.record_failure(pid, closed, error)


# -- bringing files back: loss, failure, interruption, operator ----------------------------


def settle(
    loop: LearningLoop,
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
    run = loop.load_proposal(pid).run(run_id)
    if run.apply_state not in (INTENDED, APPLIED, BLOCKED):
        return SettleResult("skipped", message=f"run {run_id}'s patches are not applied")
    workspace, problem = open_recorded(run, loop.apply_hooks)
    if workspace is None:
        loop.log.warning("patches.workspace_unreachable", run_id=run_id, problem=problem)
        return SettleResult("skipped", message=problem)
    try:
        with workspace.locked():
            result, found = _settle_locked(
                loop,
                workspace,
                pid,
                run_id,
                actor=actor,
                reason=reason,
                should=should,
                interrupt=interrupt,
            )
    except PatchError as exc:  # the lock was not obtained in time: next cycle
        loop.log.warning("patches.workspace_busy", run_id=run_id, error=str(exc))
        return SettleResult("skipped", message=str(exc))
    if result.outcome == "skipped":
        return result
    log = loop.log.warning if result.outcome == "blocked" else loop.log.info
    log("patches.settled", run_id=run_id, outcome=result.outcome, found=found)
    return result


def _settle_locked(
    loop: LearningLoop,
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
    loop.sync()  # fresh under the lock: a cycle's cached proposal may predate the wait
    run = loop.load_proposal(pid).run(run_id)
    if run.apply_state not in (INTENDED, APPLIED, BLOCKED) or not should(run, loop.now()):
        return SettleResult("skipped", message=f"run {run_id} needs no restore now"), ""
    seen = run.apply_state
    restore = restore_files(workspace, run.apply_files)

    def attempt() -> SettleResult:
        # The files were restored: that is recorded whatever else changed meanwhile
        # (under the lock only the run's other events can have moved on).
        proposal = loop.load_proposal(pid)
        current = proposal.run(run_id)
        at = loop.now()
        if restore.blocked is not None:
            _record_blocked(
                proposal, run_id=run_id, at=at, actor=actor, reason=reason, restore=restore
            )
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
        if interrupt is not None and _overdue(current, at):
            proposal.fail_run(
                at=at,
                run_id=run_id,
                reason="interrupted",
                error=interrupt,
                detail={"lease_until": current.lease_until.isoformat()},
            )
        loop.app.save(proposal)
        outcome: Settled = "blocked" if restore.blocked is not None else "done"
        return SettleResult(
            outcome,
            proposal.runs[run_id],
            restore.blocked or "",
            restore.restored,
            restore.files,
        )

    result = loop.retry(attempt, what=f"record the restore of run {run_id}")
    return result, restore.found.state


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


def _overdue(run: Run, now: datetime) -> bool:
    return not run.closed and not run.executed and run.lease_until < now


def interrupted_with_files(run: Run, now: datetime) -> bool:
    """An open, unexecuted run past its lease whose patches may be in the workspace."""
    return _overdue(run, now) and run.apply_state in (INTENDED, APPLIED)


def closed_with_files(run: Run, now: datetime) -> bool:
    """A closed run that failed or lost with patches still applied (or an intent open)."""
    if not run.closed or run.apply_state not in (INTENDED, APPLIED):
        return False
    return run.apply_state == INTENDED or run.failure_reason is not None or run.verdict == "loss"


def files_at_stake(run: Run) -> bool:
    """Whether the run's patches may be in the workspace (applied, or an intent open)."""
    return run.apply_state in (INTENDED, APPLIED)


def has_files(loop: LearningLoop, pid: str, run_id: str) -> bool:
    return files_at_stake(loop.load_proposal(pid).run(run_id))


def interrupt(loop: LearningLoop, pid: str, run_id: str, error: str) -> Run | None:
    """Close a run past its lease as interrupted, its files restored first.

    An intent without an outcome is resolved from the file hashes (`ApplyReconciled`:
    applied, not applied or torn); applied patches are rolled back. The run failed, so
    in every case the workspace ends as it was before the apply.
    """
    result = settle(
        loop,
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


def settle_closed(loop: LearningLoop) -> None:
    """Restore the files of closed runs that still hold patches (a crash between the run's
    close and its rollback, or a rollback that could not reach the workspace before)."""
    for entry in loop.agenda.runs_to_settle():
        reason = (
            "final verdict loss"
            if entry.verdict == "loss"
            else "run failed"
            if entry.failed
            else "intent without an outcome"
        )
        settle(
            loop,
            entry.proposal_id,
            entry.run_id,
            actor="loop",
            reason=f"{reason} (reconciled at the start of a cycle)",
            should=closed_with_files,
        )


def roll_back_after_close(loop: LearningLoop, pid: str, run_id: str, reason: str) -> None:
    """A run that failed or lost: restore its files if it applied any (no-op otherwise)."""
    result = settle(loop, pid, run_id, actor="loop", reason=reason, should=closed_with_files)
    if result.outcome == "blocked":
        loop.log.warning("patches.rollback_blocked", run_id=run_id, error=result.message)


def operator_rollback(loop: LearningLoop, run_id: str, reason: str) -> SettleResult:
    """`LearningLoop.rollback`: restore an applied run's files on an operator's word."""
    loop.sync()
    entry = loop.agenda.applied_run(run_id)
    if entry is None:
        raise NotFound(
            f"no run {run_id!r} applied patches (unknown run id, or a run without real apply)"
        )
    run = loop.load_proposal(entry.proposal_id).run(run_id)
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

    result = settle(loop, entry.proposal_id, run_id, actor="operator", reason=reason, should=may)
    if result.outcome == "skipped":
        raise IllegalTransition(f"run {run_id}: {result.message}")
    if result.outcome == "blocked":
        raise IllegalTransition(
            f"rollback of run {run_id} stopped: {result.message} (recorded as RollbackBlocked)"
        )
    return result


def proposal_of(loop: LearningLoop, run_id: str) -> str:
    entry = loop.agenda.applied_run(run_id)
    if entry is None:
        raise NotFound(f"no run {run_id!r} applied patches")
    return entry.proposal_id


def _text(exc: BaseException) -> str:
    if isinstance(exc, (PatchError, ValidationError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
