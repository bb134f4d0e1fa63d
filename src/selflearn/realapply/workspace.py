"""The host's workspace, read and written safely for real apply.

Anchored: a `Workspace` opens its root directory once and every later operation starts
from that descriptor, walking each path component by component with `O_NOFOLLOW`
(`dir_fd`), so neither a symlink swapped in after the plan was checked nor an ancestor
directory swapped for another can redirect a read or a write. Writes are atomic: a
temporary file with a short random name in the same directory, fsync, rename, fsync of
the directory. A replaced file keeps its mode, owner and extended attributes (so its
ACLs); when this process could not give them to the new file, the patch is refused before
anything is written. Files larger than the size limit are never read: their size is
looked at first.

Backups are content-addressed, in the loop's own state directory (`StateDir`), outside
the workspace, beside the workspace ids; without one (the older layout) they live under
`<workspace>/.selflearn/`. Every change to the workspace happens under an exclusive
`flock` of the workspace directory, so selflearn processes sharing a workspace take turns.
POSIX only.

No store here: the cycle records the events (`selflearn.realapply.steps`).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import posixpath
import re
import secrets
import stat
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from selflearn.config import DEFAULT_MAX_FILE_BYTES
from selflearn.events.patching import Found, classify
from selflearn.ports import VCS_DIRECTORIES
from selflearn.realapply.patches import FilePlan, PatchError, protected_within, sha256_of

# The older layout, inside the workspace, used when no state directory is given.
STATE_DIR: Final = ".selflearn"
BACKUP_DIR: Final = ".selflearn/backups"
ID_FILE: Final = ".selflearn/workspace-id"
# Temporary files: "." + 16 hex digits + this suffix (24 bytes, whatever the file's name).
TMP_SUFFIX: Final = ".sl-tmp"
LOCK_TIMEOUT_SECONDS: Final = 30.0
MAX_SYMLINKS: Final = 40
# How `created` names what lives in the state directory (the rest is workspace-relative).
STATE_TAG: Final = "@state/"
_DIGEST: Final = re.compile(r"[0-9a-f]{64}")

_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK: Final = 1 << 20


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


# -- file metadata -------------------------------------------------------------------------


@attrs.frozen
class FileMeta:
    """What a file is besides its bytes: permission bits, owner, extended attributes (ACLs
    are the `system.posix_acl_*` attributes)."""

    mode: int
    uid: int
    gid: int
    xattrs: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, fd: int) -> FileMeta:
        st = os.fstat(fd)
        return cls(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, _xattrs(fd))

    def to_json(self) -> str:
        xattrs = {name: base64.b64encode(value).decode("ascii") for name, value in self.xattrs}
        return json.dumps({"mode": self.mode, "uid": self.uid, "gid": self.gid, "xattrs": xattrs})

    @classmethod
    def from_json(cls, text: str) -> FileMeta:
        data = json.loads(text)
        xattrs = tuple((name, base64.b64decode(value)) for name, value in data["xattrs"].items())
        return cls(int(data["mode"]), int(data["uid"]), int(data["gid"]), xattrs)


def _xattrs(fd: int) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return ()
        raise
    return tuple(sorted((name, os.getxattr(fd, name)) for name in names))


class _MetaError(Exception):
    def __init__(self, what: str, exc: OSError) -> None:
        super().__init__(what)
        self.what = what
        self.exc = exc


def _give_meta(fd: int, meta: FileMeta) -> None:
    """Make the file of `fd` carry `meta`: extended attributes first (while this process
    owns it), then the owner, then the mode (a change of owner clears set-id bits)."""
    wanted = dict(meta.xattrs)
    for name, value in meta.xattrs:
        try:
            os.setxattr(fd, name, value)
        except OSError as exc:
            raise _MetaError(f"extended attribute {name}", exc) from None
    for name, _ in _xattrs(fd):
        if name not in wanted:  # inherited from a default ACL the original did not carry
            try:
                os.removexattr(fd, name)
            except OSError as exc:
                raise _MetaError(f"extended attribute {name}", exc) from None
    st = os.fstat(fd)
    if (st.st_uid, st.st_gid) != (meta.uid, meta.gid):
        try:
            os.fchown(fd, meta.uid, meta.gid)
        except OSError as exc:
            raise _MetaError(f"owner (uid {meta.uid}, gid {meta.gid})", exc) from None
    try:
        os.fchmod(fd, meta.mode)
    except OSError as exc:
        raise _MetaError(f"mode {meta.mode:o}", exc) from None


# -- descriptors: walking, reading, writing ------------------------------------------------


@contextlib.contextmanager
def _walk(anchor: int, path: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
    """The open directory holding `path` under the directory `anchor` (each component
    opened with O_NOFOLLOW) and the file's name. `create` makes missing directories 0700."""
    parts = posixpath.normpath(path).split("/")
    if any(part in ("", ".", "..") for part in parts) or path.startswith("/"):
        raise PatchError(f"{path} is not a plain relative path")
    fd = os.dup(anchor)
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


def _open_regular(parent: int, name: str, path: str) -> int | None:
    """A read descriptor of regular file `name`, never through a symlink; None if absent."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PatchError(_path_problem(path, path, exc, parent, name)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PatchError(f"{path} is not a regular file")
    return fd


def _read_fd(fd: int, path: str, limit: int | None) -> bytes:
    """The bytes of `fd`; its size is looked at first, and a file over `limit` is not read."""
    size = os.fstat(fd).st_size
    if limit is not None and size > limit:
        raise PatchError(_too_large(path, limit))
    chunks, total = [], 0
    while chunk := os.read(fd, _CHUNK):
        total += len(chunk)
        if limit is not None and total > limit:  # it grew while being read
            raise PatchError(_too_large(path, limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(path: str, limit: int) -> str:
    return (
        f"{path} is larger than {limit} bytes, the most real apply reads or writes "
        "(EXECUTOR_REAL_APPLY_MAX_FILE_BYTES)"
    )


def _read_at(parent: int, name: str, path: str, limit: int | None) -> bytes | None:
    fd = _open_regular(parent, name, path)
    if fd is None:
        return None
    try:
        return _read_fd(fd, path, limit)
    finally:
        os.close(fd)


def _hash_at(parent: int, name: str, path: str) -> str | None:
    """The SHA-256 of a regular file, read in chunks (no size limit, nothing kept)."""
    fd = _open_regular(parent, name, path)
    if fd is None:
        return None
    try:
        digest = hashlib.sha256()
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


def _temporary(parent: int, mode: int) -> tuple[str, int]:
    """A new temporary file beside the target: a short random name, created exclusively."""
    for _ in range(8):
        name = f".{secrets.token_hex(8)}{TMP_SUFFIX}"
        try:
            return name, os.open(name, _CREATE_FLAGS, mode, dir_fd=parent)
        except FileExistsError:
            continue
    raise PatchError("no free temporary name in the directory")  # pragma: no cover


def _write_file(
    hooks: Hooks, parent: int, name: str, data: bytes, *, meta: FileMeta | None, private: bool
) -> None:
    """Write `data` to a temporary file beside `name`, fsync it, rename it over `name`.

    `meta` is given to the new file; without it, the file gets 0600 when `private`, else
    the mode the umask (or a default ACL) gives a new file.
    """
    tmp, fd = _temporary(parent, 0o600 if meta is not None or private else 0o666)
    try:
        try:
            hooks.write(fd, data)
            if meta is not None:
                _give_meta(fd, meta)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=parent)  # ours: created exclusively above
        raise
    os.fsync(parent)


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


def _open_dir(path: str | os.PathLike[str], what: str) -> tuple[Path, int]:
    real = os.path.realpath(path)
    try:
        fd = os.open(real, _DIR_FLAGS)
    except OSError:
        raise PatchError(f"{what} {os.fspath(path)!r} is not an existing directory") from None
    return Path(real), fd


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


# -- the loop's state directory --------------------------------------------------------------


class StateDir:
    """The loop's own directory: backups (`backups/<sha256>`), the metadata of files a
    patch deletes (`backups/<sha256>.<key>.meta`) and the ids of workspaces
    (`workspaces/<key>`). Created 0700 if missing; anchored like a workspace.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise PatchError(
                f"state directory {os.fspath(path)!r} cannot be created: {exc.strerror}"
            ) from None
        self.path, self._fd = _open_dir(path, "state directory")
        self._closer = weakref.finalize(self, os.close, self._fd)

    @property
    def fd(self) -> int:
        return self._fd

    def close(self) -> None:
        self._closer()

    def prune_backups(
        self,
        prunable: Iterable[str],
        *,
        grace_seconds: float = 3600.0,
        now: float | None = None,
    ) -> list[str]:
        """Remove the backups of `prunable` digests (see `selflearn.events.patching.
        backups_to_prune`), with their metadata files; returns the digests removed.

        A backup written or reused less than `grace_seconds` ago (file time) is kept: an
        apply may be using it before its intent is recorded. Nothing but the loop's own
        backup files is ever removed.
        """
        now = time.time() if now is None else now
        removed: list[str] = []
        try:
            folder = os.open("backups", _DIR_FLAGS, dir_fd=self._fd)
        except FileNotFoundError:
            return removed
        try:
            names = os.listdir(folder)
            for digest in sorted(set(prunable)):
                if not _DIGEST.fullmatch(digest) or digest not in names:
                    continue
                st = os.stat(digest, dir_fd=folder, follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode) or st.st_mtime > now - grace_seconds:
                    continue
                os.unlink(digest, dir_fd=folder)
                for name in names:
                    if name.startswith(f"{digest}.") and name.endswith(".meta"):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(name, dir_fd=folder)
                removed.append(digest)
            if removed:
                os.fsync(folder)
        finally:
            os.close(folder)
        return removed


# -- the workspace ---------------------------------------------------------------------------


class Workspace:
    """A workspace root on disk, opened once (see the module's docstring).

    `state` is the loop's state directory (backups and ids live there; without it, in
    `<workspace>/.selflearn/`). `max_file_bytes` is the largest file read or written.
    `protected` are paths (absolute, or relative to the current directory) that are never
    patched even when they lie inside the workspace: the store, the state directory, the
    v1 file, the evidence directory. `hooks` are test seams (see `Hooks`).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        hooks: Hooks = DEFAULT_HOOKS,
        *,
        state: StateDir | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        protected: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        self.root, self._fd = _open_dir(root, "workspace")
        self._closer = weakref.finalize(self, os.close, self._fd)
        self.hooks = hooks
        self.state = state
        self.max_file_bytes = max_file_bytes
        if state is not None and (_inside(state.path, self.root) or _inside(self.root, state.path)):
            self.close()
            raise PatchError(
                f"the state directory {state.path} and the workspace {self.root} may not "
                "contain one another: backups must survive whatever happens to the workspace"
            )
        self.protected = protected_within(
            os.fspath(self.root), [os.path.realpath(path) for path in protected]
        )

    def close(self) -> None:
        """Close the workspace's descriptor (also done when the object is collected)."""
        self._closer()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- locking -------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold an exclusive flock of the workspace directory (no lock file is written)."""
        timeout = self.hooks.lock_timeout if timeout is None else timeout
        try:  # a description of its own, so the lock is this holder's alone
            fd = os.open(".", _DIR_FLAGS, dir_fd=self._fd)
        except OSError as exc:
            raise PatchError(f"workspace {self.root} cannot be opened: {exc.strerror}") from None
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

    # -- paths ---------------------------------------------------------------------------

    def resolve(self, path: str) -> str:
        """The real relative path of `path`, its symlinks resolved under the anchored root.

        Refused: a path leading outside the workspace, into selflearn's own `.selflearn/`,
        into version-control metadata or onto a protected path. Errors never give a
        symlink's target.
        """
        todo = [part for part in path.split("/") if part not in ("", ".")]
        done: list[str] = []
        links = 0
        while todo:
            name = todo.pop(0)
            if name == "..":
                if not done:
                    raise PatchError(f"{path} resolves outside the workspace")
                done.pop()
                continue
            try:
                with _walk(self._fd, "/".join([*done, name])) as (parent, leaf):
                    st = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
                    target = os.readlink(leaf, dir_fd=parent) if stat.S_ISLNK(st.st_mode) else ""
            except (FileNotFoundError, MissingDirectory):
                done.append(name)
                done.extend(part for part in todo if part != "..")
                if ".." in todo:
                    raise PatchError(
                        f"{path} goes through a directory that does not exist"
                    ) from None
                break
            if not target:
                done.append(name)
                continue
            links += 1
            if links > MAX_SYMLINKS:
                raise PatchError(f"{path}: too many levels of symlinks")
            if target.startswith("/"):
                real_root = os.fspath(self.root)
                if target != real_root and not target.startswith(real_root + "/"):
                    raise PatchError(f"{path} is a symlink leading outside the workspace")
                done = []
                target = target[len(real_root) :]
            todo = [part for part in target.split("/") if part not in ("", ".")] + todo
        if not done:
            raise PatchError(f"{path} resolves to the workspace itself")
        real = "/".join(done)
        self.check_target(real, asked=path)
        return real

    def check_target(self, real: str, *, asked: str | None = None) -> None:
        """Refuse a real path inside `.selflearn/`, VCS metadata or a protected path."""
        shown = real if asked is None or asked == real else f"{asked} (really {real})"
        names = real.split("/")
        if names[0].casefold() == STATE_DIR:
            raise PatchError(f"{shown} is inside selflearn's own {STATE_DIR}/")
        if any(name.casefold().rstrip(". ") in VCS_DIRECTORIES for name in names):
            raise PatchError(f"{shown} is inside version-control metadata")
        for protected in self.protected:
            if real == protected or real.startswith(protected + "/"):
                raise PatchError(f"{shown} is selflearn's own file or directory ({protected})")

    # -- reading -------------------------------------------------------------------------

    def read(self, path: str) -> bytes | None:
        """The bytes of regular file `path`, None if it (or its directory) does not exist;
        `PatchError` if it is larger than `max_file_bytes` (it is not read then)."""
        try:
            with _walk(self._fd, path) as (parent, name):
                return _read_at(parent, name, path, self.max_file_bytes)
        except MissingDirectory:
            return None

    def hash_of(self, path: str) -> str | None:
        """The SHA-256 of `path` (None if absent), read in chunks whatever its size."""
        try:
            with _walk(self._fd, path) as (parent, name):
                return _hash_at(parent, name, path)
        except MissingDirectory:
            return None

    def check_writable(self, path: str, exists: bool) -> FileMeta | None:
        """Refuse a file that cannot be replaced as it is; return its metadata.

        Refused: a read-only or hard-linked file; a file whose mode, owner or extended
        attributes this process could not give a new file (tried on an empty temporary
        file, removed at once); a new file whose directory is missing or read-only.
        """
        with _walk(self._fd, path) as (parent, name):
            if not exists:
                if not os.access(".", os.W_OK, dir_fd=parent):
                    raise PatchError(f"{path}: its directory is not writable")
                return None
            fd = _open_regular(parent, name, path)
            if fd is None:
                raise PatchError(f"{path} does not exist")
            try:
                st = os.fstat(fd)
                meta = FileMeta.of(fd)
            finally:
                os.close(fd)
            if not st.st_mode & stat.S_IWUSR or not os.access(
                name, os.W_OK, dir_fd=parent, follow_symlinks=False
            ):
                raise PatchError(f"{path} is read-only (mode {stat.filemode(st.st_mode)})")
            if st.st_nlink > 1:
                raise PatchError(
                    f"{path} has {st.st_nlink} hard links: replacing it would leave its "
                    "other names (maybe outside the workspace) with the old content"
                )
            _try_meta(parent, path, meta)
            return meta

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

    def replace(
        self, path: str, data: bytes | None, *, expect: str | None, meta: FileMeta | None = None
    ) -> None:
        """Atomically make `path` hold `data` (None: delete it), if it still holds `expect`.

        The current content is read again, without following symlinks, right before the
        rename: a file changed, deleted or swapped for a symlink since the plan is refused.
        A replaced file keeps its metadata; a new one gets `meta`, or the umask's mode.
        """
        self.check_target(path)
        if data is not None and len(data) > self.max_file_bytes:
            raise PatchError(_too_large(path, self.max_file_bytes))
        with _walk(self._fd, path) as (parent, name):
            fd = _open_regular(parent, name, path)
            current_meta = None
            try:
                found = None
                if fd is not None:
                    current_meta = FileMeta.of(fd)
                    digest = hashlib.sha256()
                    while chunk := os.read(fd, _CHUNK):
                        digest.update(chunk)
                    found = digest.hexdigest()
            finally:
                if fd is not None:
                    os.close(fd)
            if found != expect:
                raise PatchError(
                    f"{path} changed since it was checked: it no longer holds "
                    + ("no file" if expect is None else f"the content of sha256 {expect}")
                )
            if data is None:
                os.unlink(name, dir_fd=parent)
                os.fsync(parent)
                return
            try:
                _write_file(
                    self.hooks,
                    parent,
                    name,
                    data,
                    meta=current_meta if current_meta is not None else meta,
                    private=False,
                )
            except _MetaError as exc:
                raise PatchError(_meta_problem(path, exc)) from None

    # -- backups and identity ------------------------------------------------------------

    def _area(self, relative: str) -> tuple[int, str, str]:
        """Where a file of selflearn's own lives: (anchor, path under it, `created` tag)."""
        if self.state is not None:
            return self.state.fd, relative, STATE_TAG + relative
        legacy = f"{STATE_DIR}/{relative}"
        return self._fd, legacy, legacy

    def identity(self, created: list[str]) -> str:
        """The workspace's id (created on first use; what was created is added to `created`).

        With a state directory, the id is kept there with the root's device and inode, so
        nothing in the workspace can remove or change it; an id found in the older layout
        is adopted.
        """
        if self.state is None:
            self._note_dirs(created)
            with _walk(self._fd, ID_FILE, create=True) as (parent, name):
                text = _read_at(parent, name, ID_FILE, 4096)
                if text is not None:
                    return text.decode("ascii", "replace").strip()
                ident = str(uuid.uuid4())
                _write_file(
                    self.hooks, parent, name, f"{ident}\n".encode(), meta=None, private=True
                )
                created.append(ID_FILE)
                return ident
        found = self.read_identity()
        if found is not None:
            return found
        anchor, relative, tag = self._area(f"workspaces/{self._key()}")
        st = os.fstat(self._fd)
        with _walk(anchor, relative, create=True) as (parent, name):
            existed = _hash_at(parent, name, relative) is not None
            ident = self._legacy_identity() or str(uuid.uuid4())
            record = {"id": ident, "root": os.fspath(self.root), "dev": st.st_dev, "ino": st.st_ino}
            _write_file(
                self.hooks, parent, name, json.dumps(record).encode(), meta=None, private=True
            )
        if not existed:
            created.append(tag)
        return ident

    def read_identity(self) -> str | None:
        """The workspace's id, None if it has none (or the directory at its path is another)."""
        if self.state is None:
            return self._legacy_identity()
        anchor, relative, _ = self._area(f"workspaces/{self._key()}")
        try:
            with _walk(anchor, relative) as (parent, name):
                data = _read_at(parent, name, relative, 4096)
        except MissingDirectory:
            data = None
        if data is None:
            return self._legacy_identity()
        try:
            record = json.loads(data)
            st = os.fstat(self._fd)
            if (record["dev"], record["ino"]) != (st.st_dev, st.st_ino):
                return None
            return str(record["id"])
        except (ValueError, KeyError, TypeError):
            return None

    def _legacy_identity(self) -> str | None:
        try:
            data = self.read(ID_FILE)
        except PatchError:
            return None
        return None if data is None else data.decode("ascii", "replace").strip()

    def _key(self) -> str:
        return hashlib.sha256(os.fsencode(self.root)).hexdigest()[:32]

    def backup(self, data: bytes, created: list[str]) -> str:
        """Keep `data` as `backups/<sha256>`; return where (relative to the state directory,
        or to the workspace in the older layout).

        An existing backup with the right content is reused (and its time refreshed, so a
        prune leaves it alone); a new one is added to `created`.
        """
        digest = sha256_of(data)
        assert digest is not None
        anchor, relative, tag = self._area(f"backups/{digest}")
        self._note_dirs(created)
        with _walk(anchor, relative, create=True) as (parent, name):
            existing = _hash_at(parent, name, relative)
            if existing == digest:
                os.utime(name, dir_fd=parent, follow_symlinks=False)
                return relative
            existed = existing is not None
            _write_file(self.hooks, parent, name, data, meta=None, private=True)
            if not existed:
                created.append(tag)
        return relative

    def keep_meta(self, path: str, digest: str, meta: FileMeta, created: list[str]) -> None:
        """Keep the metadata of `path` (holding `digest`) for its restore after a delete."""
        anchor, relative, tag = self._area(f"backups/{digest}.{_path_key(path)}.meta")
        self._note_dirs(created)
        with _walk(anchor, relative, create=True) as (parent, name):
            existed = _hash_at(parent, name, relative) is not None
            _write_file(self.hooks, parent, name, meta.to_json().encode(), meta=None, private=True)
        if not existed:
            created.append(tag)

    def kept_meta(self, path: str, digest: str) -> FileMeta | None:
        """The metadata kept by `keep_meta`, None if there is none."""
        anchor, relative, _ = self._area(f"backups/{digest}.{_path_key(path)}.meta")
        try:
            with _walk(anchor, relative) as (parent, name):
                data = _read_at(parent, name, relative, 1 << 20)
        except MissingDirectory:
            return None
        if data is None:
            return None
        try:
            return FileMeta.from_json(data.decode("utf-8"))
        except (ValueError, KeyError, TypeError):
            return None

    def read_backup(self, digest: str) -> bytes:
        """The backed-up content with SHA-256 `digest`; `PatchError` if missing or damaged.

        With a state directory, a backup taken in the older layout (inside the workspace)
        is still found there, and checked like any other.
        """
        places = [self._area(f"backups/{digest}")[:2]]
        if self.state is not None:
            places.append((self._fd, f"{BACKUP_DIR}/{digest}"))
        for anchor, relative in places:
            try:
                with _walk(anchor, relative) as (parent, name):
                    data = _read_at(parent, name, relative, None)
            except MissingDirectory:
                continue
            if data is None:
                continue
            if sha256_of(data) != digest:
                raise PatchError(f"backup {relative} is damaged (it no longer has that sha256)")
            return data
        raise PatchError(f"backup backups/{digest} is missing")

    def _note_dirs(self, created: list[str]) -> None:
        # Directories about to be created are noted first, so an abandoned apply removes them.
        if self.state is not None:
            return
        for directory in (STATE_DIR, BACKUP_DIR):
            if directory in created:
                continue
            try:
                with _walk(self._fd, directory) as (parent, name):
                    os.stat(name, dir_fd=parent, follow_symlinks=False)
            except (FileNotFoundError, MissingDirectory):
                created.append(directory)

    def discard(self, created: Sequence[str]) -> None:
        """Remove what an abandoned apply created (backups, the id, their directories)."""
        for entry in reversed(created):
            if entry.startswith(STATE_TAG):
                if self.state is None:
                    continue
                anchor, path = self.state.fd, entry[len(STATE_TAG) :]
            else:
                anchor, path = self._fd, entry
            with contextlib.suppress(OSError, PatchError), _walk(anchor, path) as (parent, name):
                if entry in (STATE_DIR, BACKUP_DIR):
                    os.rmdir(name, dir_fd=parent)  # only if empty
                else:
                    os.unlink(name, dir_fd=parent)


def _path_key(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]


def _try_meta(parent: int, path: str, meta: FileMeta) -> None:
    """Give `meta` to an empty temporary file beside `path`; refuse the patch if it fails."""
    tmp, fd = _temporary(parent, 0o600)
    try:
        _give_meta(fd, meta)
    except _MetaError as exc:
        raise PatchError(
            _meta_problem(path, exc) + "; refused before anything was written"
        ) from None
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=parent)


def _meta_problem(path: str, exc: _MetaError) -> str:
    return f"{path}: its {exc.what} cannot be kept by this process ({exc.exc.strerror or exc.exc})"


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
    """Check each file can be written keeping its metadata, take the backups (with the
    metadata of files to delete) and the workspace's id (under the lock)."""
    metas = {
        plan.path: workspace.check_writable(plan.path, exists=plan.before is not None)
        for plan in files
    }
    created: list[str] = []
    try:
        ident = workspace.identity(created)
        backups = {}
        for plan in files:
            if plan.before is None:
                continue
            backups[plan.path] = workspace.backup(plan.before, created)
            meta = metas[plan.path]
            if plan.after is None and meta is not None:
                assert plan.before_sha256 is not None
                workspace.keep_meta(plan.path, plan.before_sha256, meta, created)
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
            if workspace.hash_of(plan.path) != plan.after_sha256:
                raise PatchError(
                    f"{plan.path} does not read back as written (sha256 {plan.after_sha256})"
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
    A write that fails stops the restore; `restored` tells how far it got. A deleted file
    comes back with the mode, owner and extended attributes it had.
    """
    paths = [record["path"] for record in files]
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
            f"{found.conflict} was changed by someone else since the apply: it holds "
            f"neither the applied sha256 {found.expected} nor the original; "
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
    metas: dict[str, FileMeta | None] = {}
    for path in found.to_restore:
        before = by_path[path]["before_sha256"]
        try:
            originals[path] = None if before is None else workspace.read_backup(before)
        except PatchError as exc:
            return Restore(found, (), blocked=str(exc), blocked_path=path, expected=before)
        metas[path] = None
        if before is not None and by_path[path]["after_sha256"] is None:
            # Deleted by the apply: it comes back as it was (0600 if that was not kept).
            metas[path] = workspace.kept_meta(path, before) or _private_meta()
    restored: list[str] = []
    for path in found.to_restore:
        record = by_path[path]
        try:
            workspace.replace(
                path, originals[path], expect=record["after_sha256"], meta=metas[path]
            )
            if workspace.hash_of(path) != record["before_sha256"]:
                raise PatchError(f"{path} does not read back as its original after restoring")
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


def _private_meta() -> FileMeta:
    return FileMeta(0o600, os.geteuid(), os.getegid())
