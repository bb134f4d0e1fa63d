"""Workspaces for the real-apply tests: a small project on disk, and snapshots of trees."""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from selflearn.realapply.workspace import write_all

APP = "conf/app.ini"
APP_V1 = b"[app]\nworkers=2\ntimeout=30\n"
APP_V2 = b"[app]\nworkers=4\ntimeout=30\n"
README_V1 = b"# service\n\nRun it.\n"
APP_DIFF = (
    "--- a/conf/app.ini\n+++ b/conf/app.ini\n@@ -1,3 +1,3 @@\n"
    " [app]\n-workers=2\n+workers=4\n timeout=30\n"
)
README_DIFF = "--- a/README.md\n+++ b/README.md\n@@ -3 +3 @@\n-Run it.\n+Run it with care.\n"
README_V2 = b"# service\n\nRun it with care.\n"

Tree = dict[str, tuple[str, object]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_workspace(root: Path) -> Path:
    """A workspace with a config file, a README and a binary file."""
    (root / "conf").mkdir(parents=True)
    (root / APP).write_bytes(APP_V1)
    (root / "README.md").write_bytes(README_V1)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    return root


def tree(root: Path, *, skip: tuple[str, ...] = ()) -> Tree:
    """Every entry under `root`: files with their bytes and mode, symlinks, directories."""
    entries: Tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if rel.startswith(skip):
                continue
            st = full.lstat()
            if full.is_symlink():
                entries[rel] = ("symlink", os.readlink(full))
            elif full.is_dir():
                entries[rel] = ("dir", oct(st.st_mode))
            else:
                entries[rel] = ("file", (full.read_bytes(), oct(st.st_mode)))
    return entries


def outside_selflearn(root: Path) -> Tree:
    """The tree without selflearn's own directory (backups and the workspace id)."""
    return tree(root, skip=(".selflearn",))


class DiskFull:
    """A writer that fails with ENOSPC on its `fail_at`-th call (1-based), and after it if
    `stay_full`; other calls write normally."""

    def __init__(self, fail_at: int, *, stay_full: bool = False) -> None:
        self.fail_at = fail_at
        self.stay_full = stay_full
        self.calls = 0

    def __call__(self, fd: int, data: bytes) -> None:
        self.calls += 1
        if self.calls == self.fail_at or (self.stay_full and self.calls > self.fail_at):
            write_all(fd, data[: len(data) // 2])  # a partial write, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_all(fd, data)


class OnStep:
    """A step hook calling `action` once, at the step named `when`."""

    def __init__(self, when: str, action: Callable[[], None]) -> None:
        self.when = when
        self.action = action
        self.steps: list[str] = []

    def __call__(self, step: str) -> None:
        self.steps.append(step)
        if step == self.when:
            self.action()
