"""Pure rules of real apply: what a run does with its patches, what a workspace's file
hashes say about an apply whose outcome is unknown, and which backups may be pruned.

No I/O: hashes are read by `selflearn.realapply.workspace` and passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import attrs

from selflearn.config import Flags

# The states of a run's patches in the workspace.
INTENDED: Final = "intended"  # an intent was recorded; the outcome is not (yet) known
APPLIED: Final = "applied"  # every file holds its post-image
RESTORED: Final = "restored"  # every file holds its pre-image again (or was never written)
BLOCKED: Final = "blocked"  # a restore stopped: a file holds neither image; an operator decides

PatchAction = Literal["none", "check", "apply", "refuse"]


@attrs.frozen
class PatchDecision:
    """What a run does with its proposal's patches, and why."""

    action: PatchAction
    reason: str


def decide_patch_action(
    *, flags: Flags, mode: str, patch_count: int, workspace_given: bool
) -> PatchDecision:
    """Apply only with real apply on, in normal mode, with a workspace; otherwise check or refuse.

    - no patches → `none`;
    - real apply off → `check` (`real_apply_disabled`), never a write;
    - a safe-mode run → `check` (`safe_mode`);
    - no workspace given → `refuse` (`no_workspace`): the run fails rather than run unpatched;
    - `EXECUTOR_REAL_APPLY_MAX_PATCHES` = 0 → `check` (`max_patches_zero`);
    - otherwise `apply` (`real_apply`).
    """
    if patch_count == 0:
        return PatchDecision("none", "no_patches")
    if not flags.enable_executor_real_apply:
        return PatchDecision("check", "real_apply_disabled")
    if mode != "normal":
        return PatchDecision("check", "safe_mode")
    if not workspace_given:
        return PatchDecision("refuse", "no_workspace")
    if flags.executor_real_apply_max_patches == 0:
        return PatchDecision("check", "max_patches_zero")
    return PatchDecision("apply", "real_apply")


@attrs.frozen
class Found:
    """What the workspace holds for an apply's files.

    `state` is `applied` (every file at its post-image), `not_applied` (every file at its
    pre-image), `torn` (some of each) or `conflict` (`conflict` names a file holding
    neither: someone else changed it). `to_restore` are the files at their post-image.
    """

    state: Literal["applied", "not_applied", "torn", "conflict"]
    to_restore: tuple[str, ...] = ()
    conflict: str | None = None
    expected: str | None = None
    found: str | None = None


def classify(files: Sequence[Mapping[str, Any]], current: Mapping[str, str | None]) -> Found:
    """Compare each file's current hash (None: absent) with its recorded pre- and post-image."""
    to_restore: list[str] = []
    at_before = 0
    for record in files:
        path = record["path"]
        now = current[path]
        if now == record["after_sha256"]:
            to_restore.append(path)
        elif now == record["before_sha256"]:
            at_before += 1
        else:
            return Found(
                "conflict",
                tuple(to_restore),
                conflict=path,
                expected=record["after_sha256"],
                found=now,
            )
    if not to_restore:
        return Found("not_applied")
    if at_before == 0:
        return Found("applied", tuple(to_restore))
    return Found("torn", tuple(to_restore))


def needs_settling(
    *, state: str | None, closed: bool, failed: bool, verdict: str | None, blocked: bool
) -> bool:
    """Whether a run's files must be brought back without an operator.

    An intent left without an outcome on a closed run is reconciled; applied patches of a
    run that failed or lost are rolled back. A blocked rollback waits for an operator.
    """
    if blocked or not closed:
        return False
    if state == INTENDED:
        return True
    return state == APPLIED and (failed or verdict == "loss")


# -- how long backups are kept ---------------------------------------------------------------

DEFAULT_BACKUP_RETENTION: Final = timedelta(days=30)


def backups_settled(*, state: str | None, closed: bool, failed: bool, verdict: str | None) -> bool:
    """Whether a run no longer needs its backups for a rollback the loop would do itself.

    Settled: its files were restored (`restored`), or the run closed with its change kept
    (`applied`, not failed, final verdict other than loss). An intent without an outcome,
    a blocked rollback, a run still open or one about to be rolled back is not settled.
    An operator may still roll back a kept change until its backups are pruned.
    """
    if state == RESTORED:
        return True
    return state == APPLIED and closed and not failed and verdict not in (None, "loss")


@attrs.frozen
class BackupUse:
    """The backups (by SHA-256) one run's files need, and when the run was settled (None
    while it is not)."""

    digests: tuple[str, ...]
    settled_at: datetime | None


def backups_to_prune(
    uses: Iterable[BackupUse], *, now: datetime, keep_for: timedelta = DEFAULT_BACKUP_RETENTION
) -> frozenset[str]:
    """The backups that may be removed: needed only by runs settled at or before
    `now - keep_for`. A backup shared with a run not settled, or settled more recently,
    is kept (backups are content-addressed: two runs may share one).
    """
    keep: set[str] = set()
    old: set[str] = set()
    for use in uses:
        if use.settled_at is None or use.settled_at > now - keep_for:
            keep.update(use.digests)
        else:
            old.update(use.digests)
    return frozenset(old - keep)
