"""Patches on proposals: unified diffs and whole-file edits.

Pure: parsing, validation, the stored form and the *plan* of a real apply — which files a
list of patches turns into which contents, with their SHA-256 before and after. Reading
and writing a workspace is `selflearn.realapply.workspace`'s job; this module never
touches a file.

A diff is framed strictly here — one file per section, its `diff`/`Index:` line and its
`---`/`+++` lines naming the same file, every hunk holding exactly the lines its header
counts — and each section's hunks are then parsed by `unidiff`. Hunks are applied by this
module, at the lines they name (no fuzz, no offset), so that an error can say which hunk
and which line without ever quoting a line of the file.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

from selflearn.config import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILES
from selflearn.exceptions import ConfigError, SelflearnError, ValidationError
from selflearn.ports import FileEdit, Patch, check_relative_path

DEV_NULL: Final = "/dev/null"
# Characters other tools treat as line breaks besides "\n" and "\r\n" (str.splitlines()
# does): a diff holding one could read differently elsewhere, so it is refused. Diffs and
# files are split on "\n" only.
_LINE_BREAKS: Final = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_HUNK_HEADER: Final = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(?: .*)?")
# The file modes a git diff may name: regular files, executable or not.
_FILE_MODES: Final = frozenset({"100644", "100755"})
_GIT_INDEX: Final = re.compile(r"index [0-9a-f]+\.\.[0-9a-f]+(?: (\d+))?")


class PatchError(SelflearnError):
    """A patch cannot be applied to the workspace as it is (the message says why)."""


def sha256_of(data: bytes | None) -> str | None:
    """The hex SHA-256 of `data`, or None for a file that does not exist."""
    return None if data is None else hashlib.sha256(data).hexdigest()


# -- parsing and validation (at propose() time) ------------------------------------------


@attrs.frozen
class Hunk:
    """One hunk: where it applies, its lines as (" ", "-" or "+", text) and whether the
    old / the new side ends there without a newline ("\\ No newline at end of file")."""

    number: int
    old_start: int
    old_length: int
    new_start: int
    new_length: int
    lines: tuple[tuple[str, str], ...]
    old_no_newline: bool = False
    new_no_newline: bool = False

    @property
    def first_line(self) -> int:
        """The index (from 0) of the first old line it covers, or of the line it inserts at."""
        return self.old_start - 1 if self.old_length else self.old_start


@attrs.frozen
class FileDiff:
    """The section of a diff about one file: `old`/`new` are None for /dev/null."""

    old: str | None
    new: str | None
    hunks: tuple[Hunk, ...]

    @property
    def path(self) -> str:
        path = self.new if self.new is not None else self.old
        assert path is not None
        return path

    @property
    def creates(self) -> bool:
        return self.old is None

    @property
    def deletes(self) -> bool:
        return self.new is None


def parse_diff(text: str) -> list[FileDiff]:
    """The file sections of a unified diff, each path checked; `ValidationError` unless
    the diff is unambiguous (see the module's docstring)."""
    if not isinstance(text, str):
        raise ValidationError(f"a diff must be a string, got {type(text).__name__}")
    if any(c in _LINE_BREAKS for c in text.replace("\r\n", "\n")):
        raise ValidationError(
            "patch holds a line-break character other than \\n or \\r\\n "
            "(\\r, \\v, \\f, \\x1c-\\x1e, \\x85, \\u2028, \\u2029): it cannot be applied "
            "faithfully"
        )
    if _is_binary(text):
        raise ValidationError("patch is a binary patch; only text diffs are supported")
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    diffs = _Framer(lines).sections()
    seen: set[str] = set()
    for diff in diffs:
        if diff.path in seen:
            raise ValidationError(
                f"patch names {diff.path!r} in two sections; one section per file"
            )
        seen.add(diff.path)
    return diffs


def _is_binary(text: str) -> bool:
    return any(line.startswith(("Binary files ", "GIT binary patch")) for line in text.split("\n"))


class _Framer:
    """Walks the lines of a diff into file sections, refusing anything ambiguous."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.i = 0

    def fail(self, what: str, at: int | None = None) -> ValidationError:
        where = self.i if at is None else at
        return ValidationError(
            f"patch cannot be parsed as a unified diff: line {where + 1}: {what}"
        )

    def sections(self) -> list[FileDiff]:
        lines, found = self.lines, []
        while self.i < len(lines):
            line = lines[self.i]
            if line.startswith(("diff ", "--- ", "Index: ")):
                found.append(self._section())
            elif not line.strip():
                self.i += 1
            elif not found:  # free text before the first file (a commit message)
                if line.startswith(("+++ ", "@@")):
                    raise self.fail("a '+++' or '@@' line before any '---' line")
                self.i += 1
            elif line == "-- ":  # an e-mail signature closes a patch mail
                break
            else:
                raise self.fail(
                    "outside any hunk (does a hunk header count fewer lines than it holds?)"
                )
        if not found:
            raise ValidationError("patch cannot be parsed as a unified diff: no file section")
        return found

    def _section(self) -> FileDiff:
        lines = self.lines
        start = self.i
        index_line = diff_line = None
        extended: list[str] = []
        if lines[self.i].startswith("Index: "):
            index_line = lines[self.i]
            self.i += 1
            if self.i < len(lines) and lines[self.i] and set(lines[self.i]) == {"="}:
                self.i += 1
        if self.i < len(lines) and lines[self.i].startswith("diff "):
            diff_line = lines[self.i]
            self.i += 1
            while self.i < len(lines) and not lines[self.i].startswith(("--- ", "diff ")):
                extended.append(lines[self.i])
                self.i += 1
        if not (
            self.i + 1 < len(lines)
            and lines[self.i].startswith("--- ")
            and lines[self.i + 1].startswith("+++ ")
        ):
            raise self.fail("expected a '---' line and a '+++' line naming the file")
        old_raw = _file_name(lines[self.i][4:], self.fail)
        new_raw = _file_name(lines[self.i + 1][4:], self.fail)
        self.i += 2
        git = diff_line is not None and diff_line.startswith("diff --git ")
        old, new = _paths(old_raw, new_raw, git=git, fail=self.fail)
        path = new if new is not None else old
        assert path is not None
        if diff_line is not None and not _diff_line_agrees(diff_line, git, old_raw, new_raw, path):
            raise self.fail(
                f"its diff line names other files than its '---'/'+++' lines ({path!r})", start
            )
        if index_line is not None and index_line[len("Index: ") :].strip() not in (
            path,
            old_raw,
            new_raw,
        ):
            raise self.fail(f"its 'Index:' line names another file than {path!r}", start)
        _check_extended(extended, old, new, self.fail)
        hunks: list[Hunk] = []
        while self.i < len(lines) and lines[self.i].startswith("@@"):
            hunks.append(self._hunk(len(hunks) + 1, path))
        if not hunks:
            raise self.fail(f"the section of {path!r} has no hunk ('@@ -' header)")
        _check_numbers(hunks, path)
        _cross_check(lines[start : self.i], hunks, path)
        return FileDiff(old, new, tuple(hunks))

    def _hunk(self, number: int, path: str) -> Hunk:
        lines = self.lines
        header = _HUNK_HEADER.fullmatch(lines[self.i])
        if header is None:
            raise self.fail(f"malformed hunk header in the section of {path!r}")
        old_start, old_length = int(header[1]), 1 if header[2] is None else int(header[2])
        new_start, new_length = int(header[3]), 1 if header[4] is None else int(header[4])
        self.i += 1
        old_left, new_left = old_length, new_length
        body: list[tuple[str, str]] = []
        old_eof = new_eof = False

        def marker() -> None:
            nonlocal old_eof, new_eof
            if not body:
                raise self.fail(f"hunk {number} of {path!r} starts with a no-newline marker")
            kind = body[-1][0]
            old_eof = old_eof or kind in " -"
            new_eof = new_eof or kind in " +"
            self.i += 1

        while old_left > 0 or new_left > 0:
            if self.i >= len(lines):
                raise self.fail(f"hunk {number} of {path!r} ends before the lines it counts")
            line = lines[self.i]
            kind, text = (line[:1], line[1:]) if line else (" ", "")
            if kind == "\\":
                marker()
                continue
            if kind not in " -+":
                raise self.fail(f"hunk {number} of {path!r} holds fewer lines than it counts")
            old_left -= kind in " -"
            new_left -= kind in " +"
            if old_left < 0 or new_left < 0:
                raise self.fail(f"hunk {number} of {path!r} holds more lines than it counts")
            body.append((kind, text))
            self.i += 1
        while self.i < len(lines) and lines[self.i].startswith("\\"):
            marker()
        return Hunk(
            number, old_start, old_length, new_start, new_length, tuple(body), old_eof, new_eof
        )


def _check_numbers(hunks: list[Hunk], path: str) -> None:
    """Hunks come in order, do not overlap, and their new-side line numbers follow from
    their old-side ones and the hunks before (as diff writes them)."""
    end = shift = 0
    for hunk in hunks:
        where = f"patch cannot be parsed as a unified diff: hunk {hunk.number} of {path!r}"
        if hunk.first_line < end:
            raise ValidationError(f"{where} overlaps the hunk before it, or comes before it")
        expected = hunk.first_line + shift + (1 if hunk.new_length else 0)
        if hunk.new_start != expected:
            raise ValidationError(
                f"{where}: its header's line numbers disagree (the new side starts at "
                f"{hunk.new_start}, expected {expected})"
            )
        end = hunk.first_line + hunk.old_length
        shift += hunk.new_length - hunk.old_length


def _file_name(raw: str, fail: Any) -> str:
    name = raw.split("\t", 1)[0]
    if name.startswith('"'):
        raise fail("quoted file names are not supported (the name holds special characters)")
    if not name:
        raise fail("a '---' or '+++' line names no file")
    return name


def _paths(old_raw: str, new_raw: str, *, git: bool, fail: Any) -> tuple[str | None, str | None]:
    """The workspace paths of a section's `---`/`+++` names (None for /dev/null).

    `a/` and `b/` are dropped only as a pair (a git-style diff); a rename is refused.
    """
    old = None if old_raw == DEV_NULL else old_raw
    new = None if new_raw == DEV_NULL else new_raw
    if old is None and new is None:
        raise fail("patch names /dev/null on both sides")
    prefixed = (old is None or old.startswith("a/")) and (new is None or new.startswith("b/"))
    if git and not prefixed:
        raise fail("a git diff names its files a/… and b/…")
    if prefixed:
        old = None if old is None else old[2:]
        new = None if new is None else new[2:]
    old = None if old is None else check_relative_path(old)
    new = None if new is None else check_relative_path(new)
    if old is not None and new is not None and old != new:
        raise ValidationError(
            f"patch renames {old!r} to {new!r}; renames are not supported "
            "(delete and create instead)"
        )
    return old, new


def _diff_line_agrees(line: str, git: bool, old_raw: str, new_raw: str, path: str) -> bool:
    """Whether a section's `diff` line names the file its `---`/`+++` lines name."""
    if git:
        return line == f"diff --git a/{path} b/{path}"
    names = line.split()
    return len(names) >= 3 and names[-2:] == [old_raw, new_raw]


def _check_extended(extended: list[str], old: str | None, new: str | None, fail: Any) -> None:
    """Git's extended header lines: file modes must be plain files and agree with /dev/null."""
    for line in extended:
        mode = None
        if line.startswith("new file mode "):
            mode = line[len("new file mode ") :]
            if old is not None:
                raise fail("'new file mode' on a section whose '---' line is not /dev/null")
        elif line.startswith("deleted file mode "):
            mode = line[len("deleted file mode ") :]
            if new is not None:
                raise fail("'deleted file mode' on a section whose '+++' line is not /dev/null")
        elif (index := _GIT_INDEX.fullmatch(line)) is not None:
            mode = index[1]
        elif line.startswith(("old mode ", "new mode ")):
            raise fail("a change of file mode cannot be applied (only contents are)")
        elif line.startswith(("rename ", "copy ", "similarity index ", "dissimilarity index ")):
            raise fail("renames and copies are not supported (delete and create instead)")
        else:
            raise fail("an unknown line in the header of a file section")
        if mode is not None and mode not in _FILE_MODES:
            raise fail(
                f"file mode {mode} is not a regular file (symlinks and submodules are refused)"
            )


def _cross_check(section: list[str], hunks: list[Hunk], path: str) -> None:
    """unidiff's reading of the section must be the framer's: one file, the same hunks."""
    try:
        parsed = PatchSet("".join(f"{line}\n" for line in section))
    except UnidiffParseError as exc:
        raise ValidationError(
            f"patch cannot be parsed as a unified diff: the section of {path!r}: {exc}"
        ) from None
    ok = len(parsed) == 1 and len(parsed[0]) == len(hunks)
    if ok:
        for theirs, ours in zip(parsed[0], hunks, strict=True):
            lines = tuple(
                (line.line_type, line.value.rstrip("\n"))
                for line in theirs
                if line.line_type in (" ", "-", "+")
            )
            ok = ok and (
                (theirs.source_start, theirs.source_length, theirs.target_start)
                == (ours.old_start, ours.old_length, ours.new_start)
                and theirs.target_length == ours.new_length
                and lines == ours.lines
            )
    if not ok:
        raise ValidationError(
            f"patch cannot be parsed as a unified diff: the section of {path!r} reads "
            "ambiguously (two parsers disagree)"
        )


def diff_paths(text: str) -> list[str]:
    """The workspace paths a unified diff touches."""
    return [diff.path for diff in parse_diff(text)]


def patch_paths(patch: Patch) -> list[str]:
    """The workspace paths one patch touches, in order."""
    if isinstance(patch, str):
        return diff_paths(patch)
    return [check_relative_path(patch.path)]


def check_patches(
    patches: Iterable[Patch],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
) -> None:
    """Raise `ValidationError` unless every patch parses unambiguously, stays inside the
    workspace, holds UTF-8 text and fits the limits: a diff or an edit's text of at most
    `max_file_bytes` bytes, a patch of at most `max_files` files.

    These checks run when a proposal is made, not when a stored one is loaded, so that
    stricter rules never make a recorded proposal unreadable.
    """
    for number, patch in enumerate(patches, 1):
        what = f"patch {number}"
        if isinstance(patch, FileEdit):
            what = f"FileEdit.after_text of {patch.path!r}"
            text = patch.after_text
        elif isinstance(patch, str):
            text = patch
        else:
            raise ValidationError(
                f"{what} must be a unified-diff string or a FileEdit, got {type(patch).__name__}"
            )
        _check_size(what, text, max_file_bytes)
        paths = patch_paths(patch)
        if len(paths) > max_files:
            raise ValidationError(
                f"{what} touches {len(paths)} files; at most {max_files} may change in one "
                "run (EXECUTOR_REAL_APPLY_MAX_FILES)"
            )
        if isinstance(patch, FileEdit) and "\x00" in patch.after_text:
            raise ValidationError(
                f"FileEdit.after_text of {patch.path!r} holds a NUL byte: binary content "
                "is not supported"
            )


def _check_size(what: str, text: str, limit: int) -> None:
    # A character is at least one byte: a text longer than the limit is refused unencoded.
    if len(text) <= limit:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValidationError(
                f"{what} holds a lone surrogate: it cannot be written as UTF-8"
            ) from None
        if size <= limit:
            return
    raise ValidationError(
        f"{what} is larger than {limit} bytes (EXECUTOR_REAL_APPLY_MAX_FILE_BYTES)"
    )


# -- the workspace and selflearn's own files (pure: real, absolute paths in) ----------------


def _within(path: str, folder: str) -> bool:
    path, folder = posixpath.normpath(path), posixpath.normpath(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_workspace_root(
    workspace: str,
    *,
    home: str | None = None,
    store: str | None = None,
    state_dir: str | None = None,
) -> None:
    """Raise `ConfigError` for a workspace that real apply must never patch: `/`, the home
    directory, or a directory holding the loop's store or state directory (a patch could
    then rewrite the log or the backups that would undo it).

    Pure: the caller passes real, absolute paths (`os.path.realpath`); None for unknown.
    """
    root = posixpath.normpath(workspace)
    if root == "/":
        raise ConfigError("workspace '/' is not allowed: real apply patches a project, not a host")
    if home is not None and root == posixpath.normpath(home):
        raise ConfigError(
            f"workspace {root!r} is the home directory: give the project's own directory"
        )
    for what, path in (("store", store), ("state directory", state_dir)):
        if path is not None and _within(path, root):
            raise ConfigError(
                f"workspace {root!r} holds the loop's {what} ({path}): keep the {what} "
                "outside the workspace, so no patch can reach it"
            )


def protected_within(workspace: str, paths: Iterable[str]) -> tuple[str, ...]:
    """The workspace-relative forms of `paths` that lie inside `workspace` (the loop's own
    files there: its v1 file, evidence directory…); patches never touch them.

    Pure: real, absolute paths in.
    """
    root = posixpath.normpath(workspace)
    found = {
        posixpath.relpath(posixpath.normpath(path), root)
        for path in paths
        if _within(path, root) and posixpath.normpath(path) != root
    }
    return tuple(sorted(found))


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


def paths_to_read(
    patches: Sequence[Patch], limit: int | None = None, *, max_files: int = DEFAULT_MAX_FILES
) -> list[str]:
    """Every workspace path the first `limit` patches touch (the files a plan needs), in
    order; `PatchError` when they are more than `max_files` (nothing is read then)."""
    applied, _ = selected(len(patches), limit)
    seen: dict[str, None] = {}
    for index in applied:
        for path in patch_paths(patches[index]):
            seen.setdefault(path, None)
    _check_file_count(len(seen), max_files)
    return list(seen)


def _check_file_count(count: int, max_files: int) -> None:
    if count > max_files:
        raise PatchError(
            f"the patches touch {count} files; at most {max_files} may change in one run "
            "(EXECUTOR_REAL_APPLY_MAX_FILES)"
        )


def plan(
    patches: Sequence[Patch],
    contents: Mapping[str, bytes | None],
    *,
    limit: int | None = None,
    aliases: Mapping[str, str] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
) -> Plan:
    """Apply the first `limit` patches, in order, to `contents` (path → bytes, None if absent).

    `aliases` maps a patch's path to the path it really is (a symlink resolved inside the
    workspace); `contents` is keyed by real paths. Raises `PatchError` naming the patch,
    the file and what does not match — never a line, nor the hash of a file that does not
    hold what the patch names — and when a file before or after is larger than
    `max_file_bytes`, or more than `max_files` files are touched. Never touches a file.
    """
    aliases = aliases or {}
    applied, skipped = selected(len(patches), limit)
    state: dict[str, bytes | None] = {}
    order: list[str] = []

    def current(path: str) -> bytes | None:
        if path not in state:
            if path not in contents:
                raise PatchError(f"{path}: its content was not read before planning")
            content = contents[path]
            if content is not None and len(content) > max_file_bytes:
                raise PatchError(_too_large(path, max_file_bytes))
            state[path] = content
            order.append(path)
            _check_file_count(len(order), max_files)
        return state[path]

    for index in applied:
        patch = patches[index]
        if isinstance(patch, FileEdit):
            path = aliases.get(patch.path, patch.path)
            state[path] = _edit(index, patch, path, current(path))
        else:
            for diff in parse_diff(patch):
                path = aliases.get(diff.path, diff.path)
                state[path] = _apply_diff(index, diff, path, current(path))
        for path in order:
            after = state[path]
            if after is not None and len(after) > max_file_bytes:
                raise PatchError(
                    f"patch {index + 1}: {_too_large(path, max_file_bytes, 'would be')}"
                )
    files = tuple(
        FilePlan(path, contents[path], state[path])
        for path in order
        if state[path] != contents[path]
    )
    return Plan(files=files, applied=applied, skipped=skipped)


def _too_large(path: str, limit: int, verb: str = "is") -> str:
    return (
        f"{path} {verb} larger than {limit} bytes, the most real apply reads or writes "
        "(EXECUTOR_REAL_APPLY_MAX_FILE_BYTES)"
    )


def _edit(index: int, edit: FileEdit, path: str, content: bytes | None) -> bytes:
    # Errors never give the hash of what the file holds: an edit naming a file it does not
    # know would otherwise learn the hash of its content (an oracle for short secrets).
    label = f"patch {index + 1} (edit of {path})"
    if edit.before_sha256 is None and content is not None:
        raise PatchError(f"{label}: the file already exists; the edit creates it")
    if edit.before_sha256 is not None:
        if content is None:
            raise PatchError(f"{label}: the file does not exist")
        _text(content, label)
        if sha256_of(content) != edit.before_sha256:
            raise PatchError(
                f"{label}: pre-image sha256 mismatch: the file does not hold the content "
                f"of sha256 {edit.before_sha256}"
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


def _apply_diff(index: int, diff: FileDiff, path: str, content: bytes | None) -> bytes | None:
    label = f"patch {index + 1} (diff of {path})"
    if diff.creates:
        if content is not None:
            raise PatchError(f"{label}: the diff creates the file, but it already exists")
        lines: list[str] = []
        newline, final = "\n", True
    else:
        if content is None:
            raise PatchError(f"{label}: the file does not exist")
        lines, newline, final = _split(_text(content, label), label)
    result, ends_with_newline = _apply_hunks(label, diff.hunks, lines, final)
    if diff.deletes:
        if result:
            raise PatchError(
                f"{label}: the diff deletes the file but leaves {len(result)} line(s) in it"
            )
        return None
    if not result:
        return b""
    return (newline.join(result) + (newline if ends_with_newline else "")).encode("utf-8")


def _apply_hunks(
    label: str, hunks: Sequence[Hunk], lines: list[str], final: bool
) -> tuple[list[str], bool]:
    """The lines after the hunks, and whether the file ends with a newline.

    Each hunk applies exactly at the line its header names; its context and removed lines
    must be the file's. A mismatch names the hunk and the line, never their text.
    """
    out: list[str] = []
    pos = 0  # lines of the old file consumed so far
    ends_with_newline = final
    for hunk in hunks:
        start = hunk.first_line
        if start > len(lines):
            raise PatchError(f"{label}: context of hunk {hunk.number} does not match line {start}")
        out.extend(lines[pos:start])
        pos = start
        for kind, text in hunk.lines:
            if kind == "+":
                out.append(text)
                continue
            if pos >= len(lines) or lines[pos] != text:
                raise PatchError(
                    f"{label}: context of hunk {hunk.number} does not match line {pos + 1}"
                )
            if kind == " ":
                out.append(text)
            pos += 1
        if pos == len(lines):  # the hunk reaches the end of the file
            if hunk.old_no_newline and final and lines:
                raise PatchError(
                    f"{label}: context of hunk {hunk.number} does not match: the diff says "
                    "the file ends without a newline, but it ends with one"
                )
            if not final and not hunk.old_no_newline:
                raise PatchError(
                    f"{label}: context of hunk {hunk.number} does not match: the file ends "
                    "without a newline, but the diff expects one"
                )
            ends_with_newline = not hunk.new_no_newline
        elif hunk.old_no_newline or hunk.new_no_newline:
            raise PatchError(
                f"{label}: hunk {hunk.number} marks an end of file that is not the file's end"
            )
    out.extend(lines[pos:])
    return out, ends_with_newline
