"""The host's workspace, read and written safely for real apply.

Every path is resolved inside the workspace root and then opened component by component
relative to its parent directory with `O_NOFOLLOW`, so a symlink swapped in after the
plan was checked is refused at write time instead of followed. Writes are atomic: a
temporary file in the same directory, fsync, rename, fsync of the directory. Backups are
content-addressed under `<workspace>/.selflearn/backups/<sha256>`. Every change to the
workspace happens under an exclusive `flock` of the workspace directory, so selflearn
processes sharing a workspace take turns. POSIX only.

No store here: the cycle records the events (`selflearn.realapply.steps`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import posixpath
import stat
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from selflearn.events.patching import Found, classify
from selflearn.realapply.patches import FilePlan, PatchError, sha256_of

STATE_DIR: Final = ".selflearn"
BACKUP_DIR: Final = ".selflearn/backups"
ID_FILE: Final = ".selflearn/workspace-id"
TMP_SUFFIX: Final = ".selflearn-tmp"
LOCK_TIMEOUT_SECONDS: Final = 30.0

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of `data` to `fd` (the default writer)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _no_step(step: str) -> None:
    """The default step hook: nothing."""


@attrs.frozen
class Hooks:
    """Seams for tests: how bytes reach a file (to simulate a full disk), a call at each
    step of an apply (`intended` before the first write, `wrote:<path>` after each file),
    and how long to wait for the workspace lock.
    """

    write: Callable[[int, bytes], None] = write_all
    on_step: Callable[[str], None] = _no_step
    lock_timeout: float = LOCK_TIMEOUT_SECONDS


DEFAULT_HOOKS: Final = Hooks()


@attrs.frozen
class Restore:
    """The outcome of bringing files back to their pre-image.

    `found` is what the files held before (see `classify`); `restored` the files written.
    When `blocked` is set nothing more was written: it names the file and why.
    """

    found: Found
    restored: tuple[str, ...]
    files: tuple[dict[str, Any], ...] = ()
    blocked: str | None = None
    blocked_path: str | None = None
    expected: str | None = None
    found_sha256: str | None = None


class MissingDirectory(PatchError):
    """A directory on a path does not exist (real apply never creates directories)."""


class Workspace:
    """A workspace root on disk; `hooks` are test seams (see `Hooks`)."""

    def __init__(self, root: str | os.PathLike[str], hooks: Hooks = DEFAULT_HOOKS) -> None:
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            raise PatchError(f"workspace {os.fspath(root)!r} is not an existing directory")
        self.root = Path(real)
        self.hooks = hooks

    # -- locking -------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold an exclusive flock of the workspace directory (no lock file is written)."""
        timeout = self.hooks.lock_timeout if timeout is None else timeout
        fd = self._open_root()
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise PatchError(
                            f"workspace {self.root} stayed locked by another process "
                            f"for {timeout:.0f} s"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _open_root(self) -> int:
        try:
            return os.open(self.root, _DIR_FLAGS)
        except OSError as exc:
            raise PatchError(f"workspace {self.root} cannot be opened: {exc}") from None

    # -- paths ---------------------------------------------------------------------------

    def resolve(self, path: str) -> str:
        """The real relative path of `path`, with symlinks resolved; refused outside the root."""
        full = os.path.realpath(os.path.join(self.root, path))
        root = os.fspath(self.root)
        if os.path.commonpath([root, full]) != root or full == root:
            raise PatchError(f"{path} resolves to {full}, outside the workspace {root}")
        real = Path(full).relative_to(self.root).as_posix()
        if real.split("/")[0].casefold() == STATE_DIR:
            raise PatchError(f"{path} resolves to {real}, inside selflearn's own {STATE_DIR}/")
        return real

    @contextlib.contextmanager
    def _parent(self, path: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """The open directory holding `path` (walked with O_NOFOLLOW) and the file's name."""
        parts = posixpath.normpath(path).split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise PatchError(f"{path} is not a plain relative path")
        fd = self._open_root()
        try:
            for depth, name in enumerate(parts[:-1]):
                where = "/".join(parts[: depth + 1])
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise MissingDirectory(
                            f"{path}: directory {where} does not exist "
                            "(real apply does not create directories)"
                        ) from None
                    os.mkdir(name, 0o700, dir_fd=fd)
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise PatchError(_path_problem(path, where, exc, fd, name)) from None
                os.close(fd)
                fd = child
            yield fd, parts[-1]
        finally:
            os.close(fd)

    # -- reading -------------------------------------------------------------------------

    def read(self, path: str) -> bytes | None:
        """The bytes of regular file `path`, None if it (or its directory) does not exist."""
        try:
            with self._parent(path) as (parent, name):
                return _read_at(parent, name, path)
        except MissingDirectory:
            return None

    def hash_of(self, path: str) -> str | None:
        return sha256_of(self.read(path))

    def check_writable(self, path: str, exists: bool) -> None:
        """Refuse a read-only or hard-linked file, or a new file whose directory is missing
        or read-only."""
        with self._parent(path) as (parent, name):
            if exists:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                if not st.st_mode & stat.S_IWUSR or not os.access(
                    name, os.W_OK, dir_fd=parent, follow_symlinks=False
                ):
                    raise PatchError(f"{path} is read-only (mode {stat.filemode(st.st_mode)})")
                if st.st_nlink > 1:
                    raise PatchError(
                        f"{path} has {st.st_nlink} hard links: replacing it would leave its "
                        "other names (maybe outside the workspace) with the old content"
                    )
            elif not os.access(".", os.W_OK, dir_fd=parent):
                raise PatchError(f"{path}: its directory is not writable")

    def contents(self, paths: Sequence[str]) -> tuple[dict[str, bytes | None], dict[str, str]]:
        """The current content of each path (keyed by real path) and the symlinks resolved."""
        contents: dict[str, bytes | None] = {}
        aliases: dict[str, str] = {}
        for path in paths:
            real = self.resolve(path)
            if real != path:
                aliases[path] = real
            if real not in contents:
                contents[real] = self.read(real)
        return contents, aliases

    # -- writing -------------------------------------------------------------------------

    def replace(self, path: str, data: bytes | None, *, expect: str | None) -> None:
        """Atomically make `path` hold `data` (None: delete it), if it still holds `expect`.

        The current content is read again, without following symlinks, right before the
        rename: a file changed, deleted or swapped for a symlink since the plan is refused.
        """
        with self._parent(path) as (parent, name):
            current = _read_at(parent, name, path)
            found = sha256_of(current)
            if found != expect:
                raise PatchError(
                    f"{path} changed since it was checked: expected sha256 {expect}, found {found}"
                )
            if data is None:
                os.unlink(name, dir_fd=parent)
                os.fsync(parent)
                return
            mode, owner = 0o644, None
            if current is not None:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
                mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
            self._write_new(parent, name, data, mode=mode, owner=owner)

    def _write_new(
        self, parent: int, name: str, data: bytes, *, mode: int, owner: tuple[int, int] | None
    ) -> None:
        """Write `data` to a temporary file beside `name`, fsync it, rename it over `name`."""
        tmp = f".{name}{TMP_SUFFIX}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=parent)  # left by a process killed while writing
        fd = os.open(tmp, _CREATE_FLAGS, 0o600, dir_fd=parent)
        try:
            try:
                self.hooks.write(fd, data)
                if owner is not None and hasattr(os, "fchown"):
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, *owner)
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            raise
        os.fsync(parent)

    def remove_temporaries(self, paths: Sequence[str]) -> None:
        """Remove temporary files a killed process may have left beside `paths`."""
        for path in paths:
            with contextlib.suppress(PatchError, OSError), self._parent(path) as (parent, name):
                os.unlink(f".{name}{TMP_SUFFIX}", dir_fd=parent)

    # -- backups and identity ------------------------------------------------------------

    def identity(self, created: list[str]) -> str:
        """The workspace's id (created on first use; its path is added to `created`)."""
        self._note_dirs(created)
        with self._parent(ID_FILE, create=True) as (parent, name):
            text = _read_at(parent, name, ID_FILE)
            if text is not None:
                return text.decode("ascii", "replace").strip()
            ident = str(uuid.uuid4())
            self._write_new(parent, name, f"{ident}\n".encode(), mode=0o600, owner=None)
            created.append(ID_FILE)
            return ident

    def read_identity(self) -> str | None:
        data = self.read(ID_FILE)
        return None if data is None else data.decode("ascii", "replace").strip()

    def backup(self, data: bytes, created: list[str]) -> str:
        """Keep `data` under `.selflearn/backups/<sha256>`; return that path.

        An existing backup with the right content is reused; a new one is added to `created`.
        """
        digest = sha256_of(data)
        assert digest is not None
        path = f"{BACKUP_DIR}/{digest}"
        self._note_dirs(created)
        with self._parent(path, create=True) as (parent, name):
            existing = _read_at(parent, name, path)
            if existing is not None and sha256_of(existing) == digest:
                return path
            self._write_new(parent, name, data, mode=0o600, owner=None)
            if existing is None:
                created.append(path)
        return path

    def read_backup(self, digest: str) -> bytes:
        """The backed-up content with SHA-256 `digest`; `PatchError` if missing or damaged."""
        path = f"{BACKUP_DIR}/{digest}"
        data = self.read(path)
        if data is None:
            raise PatchError(f"backup {path} is missing")
        if sha256_of(data) != digest:
            raise PatchError(f"backup {path} is damaged (its sha256 is {sha256_of(data)})")
        return data

    def _note_dirs(self, created: list[str]) -> None:
        # Directories about to be created are noted first, so an abandoned apply removes them.
        for directory in (STATE_DIR, BACKUP_DIR):
            if directory not in created and not os.path.lexists(self.root / directory):
                created.append(directory)

    def discard(self, created: Sequence[str]) -> None:
        """Remove what an abandoned apply created (backups, the id, their directories)."""
        for path in reversed(created):
            full = self.root / path
            with contextlib.suppress(FileNotFoundError, OSError):
                if path in (STATE_DIR, BACKUP_DIR):
                    full.rmdir()  # only if empty
                else:
                    full.unlink()


def _read_at(parent: int, name: str, path: str) -> bytes | None:
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PatchError(_path_problem(path, path, exc, parent, name)) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PatchError(f"{path} is not a regular file")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _path_problem(path: str, where: str, exc: OSError, parent: int, name: str) -> str:
    with contextlib.suppress(OSError):
        # O_DIRECTORY | O_NOFOLLOW on a symlink fails with ENOTDIR on Linux: look at it.
        if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            return f"{path}: {where} is a symlink, and selflearn never writes through one"
    if exc.errno == errno.ELOOP:
        return f"{path}: {where} is a symlink, and selflearn never writes through one"
    if exc.errno == errno.ENOTDIR:
        return f"{path}: {where} is not a directory"
    return f"{path}: cannot open {where}: {exc.strerror or exc}"


# -- the operations of real apply ----------------------------------------------------------


@attrs.frozen
class Prepared:
    """A plan checked against the workspace and its backups taken; nothing written yet.

    `created` lists what taking the backups created, removed again if the apply is abandoned.
    """

    files: tuple[FilePlan, ...]
    backups: Mapping[str, str]
    workspace_id: str
    created: tuple[str, ...]


def prepare(workspace: Workspace, files: Sequence[FilePlan]) -> Prepared:
    """Check each file is writable, take the backups and the workspace's id (under the lock)."""
    for plan in files:
        workspace.check_writable(plan.path, exists=plan.before is not None)
    created: list[str] = []
    try:
        ident = workspace.identity(created)
        backups = {
            plan.path: workspace.backup(plan.before, created)
            for plan in files
            if plan.before is not None
        }
    except BaseException:
        workspace.discard(created)
        raise
    return Prepared(tuple(files), backups, ident, tuple(created))


def write_files(workspace: Workspace, prepared: Prepared) -> list[str]:
    """Write each file's post-image; on failure restore what was written, then re-raise.

    Returns the paths written. If restoring fails too, `RestoreFailed` carries both errors.
    """
    written: list[FilePlan] = []
    try:
        for plan in prepared.files:
            written.append(plan)  # a failure after its rename may leave it written
            workspace.replace(plan.path, plan.after, expect=plan.before_sha256)
            workspace.hooks.on_step(f"wrote:{plan.path}")
        for plan in prepared.files:
            found = workspace.hash_of(plan.path)
            if found != plan.after_sha256:
                raise PatchError(
                    f"{plan.path} reads back sha256 {found}, expected {plan.after_sha256}"
                )
    except (OSError, PatchError) as exc:
        restore = _undo(workspace, written)
        if restore.blocked is not None:
            raise RestoreFailed(_described(exc), restore) from None
        raise ApplyFailed(_described(exc), restore) from None
    return [plan.path for plan in written]


def _undo(workspace: Workspace, written: Sequence[FilePlan]) -> Restore:
    """Restore the files this apply wrote; a file it did not get to write is left alone."""
    ours = []
    for plan in written:
        try:
            if workspace.hash_of(plan.path) == plan.after_sha256:
                ours.append(plan.record())
        except PatchError:
            continue  # swapped for something else: not ours to touch
    if not ours:
        return Restore(Found("not_applied"), ())
    return restore_files(workspace, ours)


class ApplyFailed(Exception):
    """Writing failed part-way; every file written was restored (`restore`)."""

    def __init__(self, error: str, restore: Restore) -> None:
        super().__init__(error)
        self.error = error
        self.restore = restore


class RestoreFailed(ApplyFailed):
    """Writing failed part-way and restoring stopped too (`restore.blocked` says where)."""


def _described(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"no space left on the device while writing ({exc})"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    return str(exc)


def restore_files(workspace: Workspace, files: Sequence[Mapping[str, Any]]) -> Restore:
    """Bring every file back to its pre-image, from the backups, verified by hash.

    Files at their pre-image are left alone. If a file holds neither image (someone else
    changed it) or a backup is unusable, nothing is written and `blocked` says which file.
    A write that fails stops the restore; `restored` tells how far it got.
    """
    paths = [record["path"] for record in files]
    workspace.remove_temporaries(paths)
    current: dict[str, str | None] = {}
    for path in paths:
        try:
            current[path] = workspace.hash_of(path)
        except PatchError as exc:
            return Restore(
                Found("conflict", conflict=path), (), blocked=str(exc), blocked_path=path
            )
    found = classify(files, current)
    if found.state == "conflict":
        assert found.conflict is not None
        error = (
            f"{found.conflict} was changed by someone else since the apply: it holds sha256 "
            f"{found.found}, neither the applied {found.expected} nor the original; "
            "it was not overwritten"
        )
        return Restore(
            found,
            (),
            blocked=error,
            blocked_path=found.conflict,
            expected=found.expected,
            found_sha256=found.found,
        )
    by_path = {record["path"]: record for record in files}
    originals: dict[str, bytes | None] = {}
    for path in found.to_restore:
        before = by_path[path]["before_sha256"]
        try:
            originals[path] = None if before is None else workspace.read_backup(before)
        except PatchError as exc:
            return Restore(found, (), blocked=str(exc), blocked_path=path, expected=before)
    restored: list[str] = []
    for path in found.to_restore:
        record = by_path[path]
        try:
            workspace.replace(path, originals[path], expect=record["after_sha256"])
            check = workspace.hash_of(path)
            if check != record["before_sha256"]:
                raise PatchError(
                    f"{path} reads back sha256 {check} after restoring, "
                    f"expected {record['before_sha256']}"
                )
        except (OSError, PatchError) as exc:
            return Restore(
                found,
                tuple(restored),
                blocked=f"restoring {path} failed: {_described(exc)}",
                blocked_path=path,
                expected=record["before_sha256"],
            )
        restored.append(path)
    verified = tuple(
        {**dict(by_path[path]), "restored_sha256": workspace.hash_of(path)} for path in paths
    )
    return Restore(found, tuple(restored), files=verified)
