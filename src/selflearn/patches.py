"""Patches on proposals: unified diffs (parsed by whatthepatch) and whole-file edits.

Pure: parsing, path validation and the stored form. Writing to a workspace is `apply`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import whatthepatch

from selflearn.exceptions import ValidationError
from selflearn.ports import FileEdit, Patch, check_relative_path

DEV_NULL = "/dev/null"


def parse_diff(text: str) -> list[Any]:
    """The file diffs of a unified diff, each path checked; `ValidationError` if it cannot parse."""
    try:
        diffs = list(whatthepatch.parse_patch(text))
    except Exception as exc:  # the library's own parse errors, whatever their class
        raise ValidationError(f"patch cannot be parsed as a unified diff: {exc}") from None
    if not diffs or any(d.header is None or not d.changes for d in diffs):
        raise ValidationError("patch cannot be parsed as a unified diff: no file header or no hunk")
    for diff in diffs:
        for path in (diff.header.old_path, diff.header.new_path):
            if path != DEV_NULL:
                check_relative_path(path)
    return diffs


def diff_paths(text: str) -> list[str]:
    """The workspace paths a unified diff touches."""
    paths: list[str] = []
    for diff in parse_diff(text):
        path = diff.header.new_path if diff.header.new_path != DEV_NULL else diff.header.old_path
        paths.append(check_relative_path(path))
    return paths


def check_patches(patches: Iterable[Patch]) -> None:
    """Raise `ValidationError` unless every patch parses and stays inside the workspace."""
    for patch in patches:
        if isinstance(patch, str):
            parse_diff(patch)
        else:
            check_relative_path(patch.path)


def to_stored(patch: Patch) -> dict[str, Any]:
    """The form a patch takes inside a `Proposed` event."""
    if isinstance(patch, str):
        return {"kind": "diff", "diff": patch}
    return {
        "kind": "file_edit",
        "path": patch.path,
        "before_sha256": patch.before_sha256,
        "after_text": patch.after_text,
    }


def from_stored(data: Mapping[str, Any]) -> Patch:
    """A patch back from its stored form."""
    if data["kind"] == "diff":
        return str(data["diff"])
    return FileEdit(data["path"], data["before_sha256"], data["after_text"])
