"""Pure rules of real apply: what a run does with its patches, and what file hashes say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import selflearn as sl
from selflearn.events.patching import (
    BackupUse,
    backups_settled,
    backups_to_prune,
    classify,
    decide_patch_action,
    needs_settling,
)

ON = sl.Flags(enable_executor_real_apply=True)


@pytest.mark.parametrize(
    ("flags", "mode", "count", "workspace", "expected"),
    [
        (ON, "normal", 0, True, ("none", "no_patches")),
        (sl.Flags(), "normal", 2, True, ("check", "real_apply_disabled")),
        (ON, "safe", 2, True, ("check", "safe_mode")),
        (ON, "normal", 2, False, ("refuse", "no_workspace")),
        (
            sl.Flags(enable_executor_real_apply=True, executor_real_apply_max_patches=0),
            "normal",
            2,
            True,
            ("check", "max_patches_zero"),
        ),
        (ON, "normal", 2, True, ("apply", "real_apply")),
        (sl.Flags(), "safe", 1, False, ("check", "real_apply_disabled")),
    ],
)
def test_patch_action(
    flags: sl.Flags, mode: str, count: int, workspace: bool, expected: tuple[str, str]
) -> None:
    """Patches are applied only with real apply on, in normal mode, with a workspace."""
    decision = decide_patch_action(
        flags=flags, mode=mode, patch_count=count, workspace_given=workspace
    )
    assert expected == (decision.action, decision.reason)


FILES: list[dict[str, Any]] = [
    {"path": "a", "before_sha256": "a0", "after_sha256": "a1"},
    {"path": "b", "before_sha256": None, "after_sha256": "b1"},
]


@pytest.mark.parametrize(
    ("current", "state", "to_restore", "conflict"),
    [
        ({"a": "a1", "b": "b1"}, "applied", ("a", "b"), None),
        ({"a": "a0", "b": None}, "not_applied", (), None),
        ({"a": "a1", "b": None}, "torn", ("a",), None),
        ({"a": "a0", "b": "b1"}, "torn", ("b",), None),
        ({"a": "zz", "b": "b1"}, "conflict", (), "a"),
        ({"a": "a1", "b": "zz"}, "conflict", ("a",), "b"),
    ],
)
def test_classify(
    current: dict[str, str | None],
    state: str,
    to_restore: tuple[str, ...],
    conflict: str | None,
) -> None:
    """Each file is at its pre-image, its post-image, or neither (a conflict names it)."""
    found = classify(FILES, current)
    assert (state, to_restore, conflict) == (found.state, found.to_restore, found.conflict)


@pytest.mark.parametrize(
    ("state", "closed", "failed", "verdict", "expected"),
    [
        ("applied", False, False, None, False),
        ("applied", True, True, None, True),
        ("applied", True, False, "loss", True),
        ("applied", True, False, "win", False),
        ("applied", True, False, "inconclusive", False),
        ("intended", True, True, None, True),
        ("intended", False, False, None, False),
        ("restored", True, True, None, False),
        ("blocked", True, False, "loss", False),
    ],
)
def test_needs_settling(
    state: str, closed: bool, failed: bool, verdict: str | None, expected: bool
) -> None:
    """Closed runs that failed or lost are rolled back; a blocked one waits for an operator."""
    assert expected == needs_settling(
        state=state, closed=closed, failed=failed, verdict=verdict, blocked=state == "blocked"
    )


T0 = datetime(2026, 1, 1, tzinfo=UTC)
A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.mark.parametrize(
    ("state", "closed", "failed", "verdict", "expected"),
    [
        ("restored", True, True, None, True),
        ("restored", False, False, None, True),
        ("applied", True, False, "win", True),
        ("applied", True, False, "inconclusive", True),
        ("applied", True, False, "loss", False),
        ("applied", True, True, None, False),
        ("applied", False, False, None, False),
        ("intended", True, True, None, False),
        ("blocked", True, False, "loss", False),
        (None, True, False, "win", False),
    ],
)
def test_backups_settled(
    state: str | None, closed: bool, failed: bool, verdict: str | None, expected: bool
) -> None:
    """Backups are settled once the files are restored or a change is kept for good."""
    assert expected == backups_settled(state=state, closed=closed, failed=failed, verdict=verdict)


def test_backups_to_prune() -> None:
    """Only backups needed by runs settled longer ago than the retention go; a backup
    shared with an unsettled or recent run stays."""
    now = T0 + timedelta(days=40)
    uses = [
        BackupUse((A, B), T0),  # settled 40 days ago
        BackupUse((B,), None),  # not settled: B stays
        BackupUse((C,), now - timedelta(days=29)),  # settled recently
    ]
    assert frozenset({A}) == backups_to_prune(uses, now=now)
    assert frozenset({A, C}) == backups_to_prune(uses, now=now, keep_for=timedelta(days=1))
    exactly = [BackupUse((A,), now - timedelta(days=30))]
    assert frozenset({A}) == backups_to_prune(exactly, now=now)
    assert frozenset() == backups_to_prune([], now=now)
