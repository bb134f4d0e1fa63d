"""The workspace on disk: confinement, atomic writes, backups, restores."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from selflearn.realapply.patches import FilePlan, PatchError, plan
from selflearn.realapply.workspace import (
    ApplyFailed,
    Hooks,
    Workspace,
    prepare,
    restore_files,
    write_files,
)
from tests.workspaces import (
    APP,
    APP_DIFF,
    APP_V1,
    APP_V2,
    README_DIFF,
    README_V1,
    README_V2,
    DiskFull,
    make_workspace,
    outside_selflearn,
    sha,
    tree,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_bytes(b"do not touch\n")
    return secret


def planned(ws: Workspace, *patches: str) -> tuple[FilePlan, ...]:
    from selflearn.realapply.patches import paths_to_read

    contents, aliases = ws.contents(paths_to_read(list(patches)))
    return plan(list(patches), contents, aliases=aliases).files


# -- confinement ---------------------------------------------------------------------------


def test_a_symlink_pointing_outside_is_refused(root: Path, outside: Path) -> None:
    """A path whose symlink resolves outside the workspace is refused; nothing is read there."""
    (root / "link.txt").symlink_to(outside)
    (root / "dirlink").symlink_to(outside.parent)
    ws = Workspace(root)
    for path in ("link.txt", "dirlink/secret.txt"):
        with pytest.raises(PatchError, match="outside the workspace"):
            ws.resolve(path)


def test_a_symlink_into_selflearn_is_refused(root: Path) -> None:
    """A symlink leading into selflearn's own directory is refused."""
    (root / ".selflearn").mkdir()
    (root / "state").symlink_to(root / ".selflearn")
    with pytest.raises(PatchError, match=r"inside selflearn's own \.selflearn/"):
        Workspace(root).resolve("state/backups/x")


def test_a_symlink_inside_resolves_to_its_real_file(root: Path) -> None:
    """A symlink to a file inside the workspace resolves to that file's real path."""
    (root / "app.ini").symlink_to(root / APP)
    ws = Workspace(root)
    assert APP == ws.resolve("app.ini")
    contents, aliases = ws.contents(["app.ini"])
    assert ({APP: APP_V1}, {"app.ini": APP}) == (contents, aliases)


def test_reading_refuses_symlinks_and_special_files(root: Path, outside: Path) -> None:
    """Reads never follow a symlink (even one swapped in after resolving) or open a FIFO."""
    ws = Workspace(root)
    os.mkfifo(root / "pipe")
    with pytest.raises(PatchError, match="not a regular file"):
        ws.read("pipe")
    (root / "conf" / "swapped.ini").symlink_to(outside)
    with pytest.raises(PatchError, match="is a symlink"):
        ws.read("conf/swapped.ini")
    assert ws.read("missing/dir/file.txt") is None
    assert ws.read("conf/none.ini") is None


def test_workspace_must_be_a_directory(tmp_path: Path) -> None:
    """A workspace that is not an existing directory is refused."""
    with pytest.raises(PatchError, match="not an existing directory"):
        Workspace(tmp_path / "nope")


def test_a_workspace_that_vanishes_is_a_clear_error(root: Path) -> None:
    """A root moved away after it was opened gives PatchError, not a raw OSError."""
    ws = Workspace(root)
    root.rename(root.with_name("moved"))
    with pytest.raises(PatchError, match="cannot be opened"):
        ws.read(APP)
    with pytest.raises(PatchError, match="cannot be opened"), ws.locked():
        pass


# -- writing -------------------------------------------------------------------------------


def test_replace_is_atomic_and_keeps_the_mode(root: Path) -> None:
    """A replaced file has the new bytes, its old mode, and no temporary file is left."""
    (root / APP).chmod(0o640)
    ws = Workspace(root)
    ws.replace(APP, APP_V2, expect=sha(APP_V1))
    assert APP_V2 == (root / APP).read_bytes()
    assert 0o640 == stat.S_IMODE((root / APP).stat().st_mode)
    assert ["app.ini"] == sorted(os.listdir(root / "conf"))


def test_replace_refuses_a_file_changed_since_the_plan(root: Path) -> None:
    """The pre-image is read again right before the rename; a changed file is not written."""
    ws = Workspace(root)
    (root / APP).write_bytes(b"changed\n")
    with pytest.raises(PatchError, match="changed since it was checked"):
        ws.replace(APP, APP_V2, expect=sha(APP_V1))
    assert b"changed\n" == (root / APP).read_bytes()


def test_replace_refuses_a_symlink_swapped_in(root: Path, outside: Path) -> None:
    """A file or directory swapped for a symlink after the plan is refused at write time."""
    ws = Workspace(root)
    (root / APP).unlink()
    (root / APP).symlink_to(outside)
    with pytest.raises(PatchError, match="is a symlink"):
        ws.replace(APP, APP_V2, expect=sha(APP_V1))
    (root / APP).unlink()
    (root / "conf").rename(root / "conf.orig")
    (root / "conf").symlink_to(outside.parent)
    (outside.parent / "app.ini").write_bytes(APP_V1)
    with pytest.raises(PatchError, match="conf is a symlink"):
        ws.replace(APP, APP_V2, expect=sha(APP_V1))
    assert APP_V1 == (outside.parent / "app.ini").read_bytes()
    assert b"do not touch\n" == outside.read_bytes()


def test_read_only_files_are_refused(root: Path) -> None:
    """A file without write permission is not replaced, even by a process that could."""
    (root / APP).chmod(0o444)
    with pytest.raises(PatchError, match="read-only"):
        Workspace(root).check_writable(APP, exists=True)


def test_hard_linked_files_are_refused(root: Path, outside: Path) -> None:
    """A file with another name (here, outside the workspace) is not replaced."""
    os.link(outside, root / "linked.txt")
    with pytest.raises(PatchError, match="2 hard links"):
        Workspace(root).check_writable("linked.txt", exists=True)


def test_a_symlinked_selflearn_directory_is_never_written(root: Path, outside: Path) -> None:
    """Backups are refused when .selflearn is a symlink; nothing is written through it."""
    (root / ".selflearn").symlink_to(outside.parent)
    before = tree(outside.parent)
    with pytest.raises(PatchError, match=r"\.selflearn is a symlink"):
        Workspace(root).backup(APP_V1, [])
    assert before == tree(outside.parent)


def test_new_files_need_an_existing_directory(root: Path) -> None:
    """Real apply does not create directories."""
    with pytest.raises(PatchError, match="does not exist"):
        Workspace(root).check_writable("new/dir/file.txt", exists=False)


# -- backups, writes and restores ----------------------------------------------------------


def test_backups_are_content_addressed_and_private(root: Path) -> None:
    """A backup lives at .selflearn/backups/<sha256>, mode 0600, and is reused."""
    ws = Workspace(root)
    created: list[str] = []
    path = ws.backup(APP_V1, created)
    assert f".selflearn/backups/{sha(APP_V1)}" == path
    assert APP_V1 == (root / path).read_bytes()
    assert 0o600 == stat.S_IMODE((root / path).stat().st_mode)
    assert [".selflearn", ".selflearn/backups", path] == created
    again: list[str] = []
    assert path == ws.backup(APP_V1, again)
    assert [] == again
    assert APP_V1 == ws.read_backup(sha(APP_V1))


def test_prepare_then_write_then_restore_byte_for_byte(root: Path) -> None:
    """Files written from a plan are restored byte for byte from their backups."""
    before = outside_selflearn(root)
    ws = Workspace(root)
    prepared = prepare(ws, planned(ws, APP_DIFF, README_DIFF))
    assert [APP, "README.md"] == write_files(ws, prepared)
    assert (APP_V2, README_V2) == ((root / APP).read_bytes(), (root / "README.md").read_bytes())
    restore = restore_files(ws, [f.record() for f in prepared.files])
    assert ("applied", (APP, "README.md"), None) == (
        restore.found.state,
        restore.restored,
        restore.blocked,
    )
    assert [sha(APP_V1), sha(README_V1)] == [f["restored_sha256"] for f in restore.files]
    assert before == outside_selflearn(root)


def test_disk_full_mid_write_restores_what_was_written(root: Path) -> None:
    """A full disk on the second file restores the first; no temporary file is left."""
    before = outside_selflearn(root)
    ws = Workspace(root, Hooks(write=DiskFull(fail_at=5)))  # id, 2 backups, 1st file, 2nd file
    prepared = prepare(ws, planned(ws, APP_DIFF, README_DIFF))
    with pytest.raises(ApplyFailed, match="no space left") as caught:
        write_files(ws, prepared)
    assert (APP,) == caught.value.restore.restored
    assert before == outside_selflearn(root)


def test_disk_full_while_taking_backups_leaves_nothing(root: Path) -> None:
    """A full disk while backing up removes what was created: the tree is as it was."""
    before = tree(root)
    ws = Workspace(root, Hooks(write=DiskFull(fail_at=3)))  # id, 1st backup, 2nd backup
    with pytest.raises(OSError, match="No space left"):
        prepare(ws, planned(ws, APP_DIFF, README_DIFF))
    assert before == tree(root)


def test_restore_stops_at_a_file_changed_by_someone_else(root: Path) -> None:
    """A file holding neither image is not overwritten, and nothing else is written."""
    ws = Workspace(root)
    prepared = prepare(ws, planned(ws, APP_DIFF, README_DIFF))
    write_files(ws, prepared)
    (root / "README.md").write_bytes(b"edited by hand\n")
    restore = restore_files(ws, [f.record() for f in prepared.files])
    assert ("README.md", ()) == (restore.blocked_path, restore.restored)
    assert "changed by someone else" in (restore.blocked or "")
    assert APP_V2 == (root / APP).read_bytes()
    assert b"edited by hand\n" == (root / "README.md").read_bytes()


def test_restore_stops_when_a_backup_is_damaged(root: Path) -> None:
    """A backup whose hash is wrong is never used to restore."""
    ws = Workspace(root)
    prepared = prepare(ws, planned(ws, APP_DIFF))
    write_files(ws, prepared)
    (root / prepared.backups[APP]).write_bytes(b"rotten\n")
    restore = restore_files(ws, [f.record() for f in prepared.files])
    assert "damaged" in (restore.blocked or "")
    assert APP_V2 == (root / APP).read_bytes()


def test_the_lock_excludes_a_second_holder(root: Path) -> None:
    """While one holder has the workspace lock, another times out with a clear error."""
    ws = Workspace(root)
    with ws.locked(), pytest.raises(PatchError, match="stayed locked"), ws.locked(timeout=0.2):
        pass
    with ws.locked():
        pass  # released: free again
