"""Patches on proposals: unified diffs (parsed and applied by whatthepatch) and whole-file edits.

Pure: parsing, validation, the stored form and the *plan* of a real apply — which files a
list of patches turns into which contents, with their SHA-256 before and after. Reading
and writing a workspace is `apply`'s job; this module never touches a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs
import whatthepatch

from selflearn.exceptions import SelflearnError, ValidationError
from selflearn.ports import FileEdit, Patch, check_relative_path

DEV_NULL: Final = "/dev/null"
# Characters str.splitlines() breaks on besides "\n" and "\r\n": whatthepatch splits a diff
# with splitlines() and cuts every line at the first of them, which would silently change
# what a diff says. A diff holding one is refused; files are split on "\n" only.
_LINE_BREAKS: Final = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_NO_NEWLINE_MARKER: Final = "\\ "


class PatchError(SelflearnError):
    """A patch cannot be applied to the workspace as it is (the message says why)."""


def sha256_of(data: bytes | None) -> str | None:
    """The hex SHA-256 of `data`, or None for a file that does not exist."""
    return None if data is None else hashlib.sha256(data).hexdigest()


# -- parsing and validation (at propose() time) ------------------------------------------


def parse_diff(text: str) -> list[Any]:
    """The file diffs of a unified diff, each path checked; `ValidationError` if it cannot parse."""
    if any(c in _LINE_BREAKS for c in text.replace("\r\n", "\n")):
        raise ValidationError(
            "patch holds a line-break character other than \\n or \\r\\n "
            "(\\r, \\v, \\f, \\x1c-\\x1e, \\x85, \\u2028, \\u2029): it cannot be applied faithfully"
        )
    if _is_binary(text):
        raise ValidationError("patch is a binary patch; only text diffs are supported")
    try:
        diffs = list(whatthepatch.parse_patch(text))
    except Exception as exc:  # the library's own parse errors, whatever their class
        detail = str(exc) or type(exc).__name__
        raise ValidationError(f"patch cannot be parsed as a unified diff: {detail}") from None
    if not diffs or any(d.header is None or not d.changes for d in diffs):
        raise ValidationError("patch cannot be parsed as a unified diff: no file header or no hunk")
    for diff in diffs:
        if not any(line.startswith("@@ -") for line in diff.text.splitlines()):
            raise ValidationError(
                f"patch of {diff.header.new_path!r} is not a unified diff (no '@@ -' hunk header)"
            )
        old, new = diff.header.old_path, diff.header.new_path
        for path in (old, new):
            if path != DEV_NULL:
                check_relative_path(path)
        if old == DEV_NULL and new == DEV_NULL:
            raise ValidationError("patch names /dev/null on both sides")
        if DEV_NULL not in (old, new) and check_relative_path(old) != check_relative_path(new):
            raise ValidationError(
                f"patch renames {old!r} to {new!r}; renames are not supported "
                "(delete and create instead)"
            )
    return diffs


def _is_binary(text: str) -> bool:
    return any(line.startswith(("Binary files ", "GIT binary patch")) for line in text.splitlines())


def diff_paths(text: str) -> list[str]:
    """The workspace paths a unified diff touches."""
    return [_diff_path(diff) for diff in parse_diff(text)]


def _diff_path(diff: Any) -> str:
    path = diff.header.new_path if diff.header.new_path != DEV_NULL else diff.header.old_path
    return check_relative_path(path)


def patch_paths(patch: Patch) -> list[str]:
    """The workspace paths one patch touches, in order."""
    if isinstance(patch, str):
        return diff_paths(patch)
    return [check_relative_path(patch.path)]


def check_patches(patches: Iterable[Patch]) -> None:
    """Raise `ValidationError` unless every patch parses, stays inside the workspace and
    holds text.

    These checks run when a proposal is made, not when a stored one is loaded, so that
    stricter rules never make a recorded proposal unreadable.
    """
    for patch in patches:
        for path in patch_paths(patch):
            if path.split("/")[0].casefold() == ".selflearn":
                raise ValidationError(f"patch path {path!r} targets .selflearn/ (in any case)")
        if isinstance(patch, FileEdit) and "\x00" in patch.after_text:
            raise ValidationError(
                f"FileEdit.after_text of {patch.path!r} holds a NUL byte: binary content "
                "is not supported"
            )


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


# -- planning (pure: contents in, contents out) ------------------------------------------


@attrs.frozen
class FilePlan:
    """One file of a plan: its content before and after (None: the file does not exist)."""

    path: str
    before: bytes | None
    after: bytes | None

    @property
    def before_sha256(self) -> str | None:
        return sha256_of(self.before)

    @property
    def after_sha256(self) -> str | None:
        return sha256_of(self.after)

    def record(self) -> dict[str, Any]:
        """The file as events record it: its path and both hashes."""
        return {
            "path": self.path,
            "before_sha256": self.before_sha256,
            "after_sha256": self.after_sha256,
        }


@attrs.frozen
class Plan:
    """What applying patches `applied` (indices) does; `skipped` are beyond the per-run limit.

    `files` holds only the files whose content changes, in the order they were first touched.
    """

    files: tuple[FilePlan, ...]
    applied: tuple[int, ...]
    skipped: tuple[int, ...]

    def records(self) -> list[dict[str, Any]]:
        return [f.record() for f in self.files]


def selected(count: int, limit: int | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The indices applied and skipped when at most `limit` of `count` patches may apply."""
    cut = count if limit is None else min(count, max(limit, 0))
    return tuple(range(cut)), tuple(range(cut, count))


def paths_to_read(patches: Sequence[Patch], limit: int | None = None) -> list[str]:
    """Every workspace path the first `limit` patches touch (the files a plan needs), in order."""
    applied, _ = selected(len(patches), limit)
    seen: dict[str, None] = {}
    for index in applied:
        for path in patch_paths(patches[index]):
            seen.setdefault(path, None)
    return list(seen)


def plan(
    patches: Sequence[Patch],
    contents: Mapping[str, bytes | None],
    *,
    limit: int | None = None,
    aliases: Mapping[str, str] | None = None,
) -> Plan:
    """Apply the first `limit` patches, in order, to `contents` (path → bytes, None if absent).

    `aliases` maps a patch's path to the path it really is (a symlink resolved inside the
    workspace); `contents` is keyed by real paths. Raises `PatchError` naming the patch,
    the file and what does not match; never touches a file.
    """
    aliases = aliases or {}
    applied, skipped = selected(len(patches), limit)
    state: dict[str, bytes | None] = {}
    order: list[str] = []

    def current(path: str) -> bytes | None:
        if path not in state:
            if path not in contents:
                raise PatchError(f"{path}: its content was not read before planning")
            state[path] = contents[path]
            order.append(path)
        return state[path]

    for index in applied:
        patch = patches[index]
        if isinstance(patch, FileEdit):
            path = aliases.get(patch.path, patch.path)
            state[path] = _edit(index, patch, path, current(path))
            continue
        for diff in parse_diff(patch):
            path = aliases.get(_diff_path(diff), _diff_path(diff))
            state[path] = _apply_diff(index, diff, path, current(path))
    files = tuple(
        FilePlan(path, contents[path], state[path])
        for path in order
        if state[path] != contents[path]
    )
    return Plan(files=files, applied=applied, skipped=skipped)


def _edit(index: int, edit: FileEdit, path: str, content: bytes | None) -> bytes:
    label = f"patch {index + 1} (edit of {path})"
    found = sha256_of(content)
    if edit.before_sha256 is None and content is not None:
        raise PatchError(f"{label}: the file already exists (sha256 {found}); the edit creates it")
    if edit.before_sha256 is not None:
        if content is None:
            raise PatchError(f"{label}: the file does not exist")
        _text(content, label)
        if found != edit.before_sha256:
            raise PatchError(
                f"{label}: pre-image sha256 mismatch: expected {edit.before_sha256}, found {found}"
            )
    return edit.after_text.encode("utf-8")


def _text(content: bytes, label: str) -> str:
    """The content as text; a binary file (NUL byte or not UTF-8) is refused."""
    if b"\x00" in content:
        raise PatchError(f"{label}: the file is binary (it holds NUL bytes)")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        raise PatchError(f"{label}: the file is binary (not UTF-8 text)") from None


def _split(text: str, label: str) -> tuple[list[str], str, bool]:
    """Lines (split on the file's newline only), that newline, and whether it ends with it."""
    newline = "\r\n" if "\r\n" in text else "\n"
    if newline == "\r\n" and "\n" in text.replace("\r\n", ""):
        raise PatchError(f"{label}: the file mixes \\r\\n and \\n line endings")
    final = text.endswith(newline) or text == ""
    body = text[: -len(newline)] if text.endswith(newline) else text
    return (body.split(newline) if text else []), newline, final


def _eof_markers(diff_text: str) -> tuple[bool, bool]:
    """Whether the diff says the old / the new file ends without a newline.

    whatthepatch drops "\\ No newline at end of file"; the line before the marker tells which
    side it belongs to ("-" old, "+" new, " " both).
    """
    old = new = False
    previous = ""
    for line in diff_text.split("\n"):
        if line.startswith(_NO_NEWLINE_MARKER) and previous[:1] in ("-", "+", " "):
            old = old or previous[:1] in ("-", " ")
            new = new or previous[:1] in ("+", " ")
        previous = line
    return old, new


def _apply_diff(index: int, diff: Any, path: str, content: bytes | None) -> bytes | None:
    label = f"patch {index + 1} (diff of {path})"
    creates = diff.header.old_path == DEV_NULL
    deletes = diff.header.new_path == DEV_NULL
    if creates:
        if content is not None:
            raise PatchError(f"{label}: the diff creates the file, but it already exists")
        lines: list[str] = []
        newline, final = "\n", True
    else:
        if content is None:
            raise PatchError(f"{label}: the file does not exist")
        lines, newline, final = _split(_text(content, label), label)
    old_marker, new_marker = _eof_markers(diff.text)
    if not creates:
        touches_last = any(c.old == len(lines) for c in diff.changes if c.old is not None)
        if old_marker and final:
            raise PatchError(
                f"{label}: context does not match: the diff says the file ends without a "
                "newline, but it ends with one"
            )
        if touches_last and not final and not old_marker:
            raise PatchError(
                f"{label}: context does not match: the file ends without a newline, "
                "but the diff expects one"
            )
    try:
        result = list(whatthepatch.apply_diff(diff, lines))
    except Exception as exc:  # HunkApplyException and whatever a malformed hunk raises
        raise PatchError(f"{label}: context does not match: {exc}") from None
    if deletes:
        if result:
            raise PatchError(
                f"{label}: the diff deletes the file but leaves {len(result)} line(s) in it"
            )
        return None
    ends_with_newline = False if new_marker else (True if old_marker else final)
    if not result:
        return b""
    return (newline.join(result) + (newline if ends_with_newline else "")).encode("utf-8")
