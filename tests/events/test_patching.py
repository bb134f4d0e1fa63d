"""Pure rules of real apply: what a run does with its patches, and what file hashes say."""

from __future__ import annotations

from typing import Any

import pytest

import selflearn as sl
from selflearn.events.patching import classify, decide_patch_action, needs_settling

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
