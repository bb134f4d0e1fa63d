"""The workspace on disk: confinement, atomic writes, backups, restores."""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import unidiff

import selflearn
from selflearn.realapply.patches import FilePlan, PatchError, plan
from selflearn.realapply.workspace import (
    ApplyFailed,
    Hooks,
    StateDir,
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


def test_operations_stay_anchored_when_an_ancestor_is_swapped(tmp_path: Path) -> None:
    """A workspace writes through the directory it opened: an ancestor renamed and replaced
    by another directory (or a symlink out) after the open never receives a write."""
    parent = tmp_path / "projects"
    root = make_workspace(parent / "ws")
    ws = Workspace(root)
    parent.rename(tmp_path / "moved")
    impostor = make_workspace(tmp_path / "elsewhere" / "ws")
    (tmp_path / "projects").symlink_to(impostor.parent)
    ws.replace(APP, APP_V2, expect=sha(APP_V1))
    assert APP_V2 == (tmp_path / "moved" / "ws" / APP).read_bytes()
    assert APP_V1 == (impostor / APP).read_bytes()
    assert APP_V2 == ws.read(APP)
    with ws.locked():
        pass


def test_a_workspace_path_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    """Opening a workspace needs an existing directory at its path."""
    (tmp_path / "file").write_bytes(b"x")
    for path in (tmp_path / "nope", tmp_path / "file"):
        with pytest.raises(PatchError, match="not an existing directory"):
            Workspace(path)


def test_symlink_targets_never_reach_an_error(root: Path, outside: Path) -> None:
    """A symlink leading out is refused without naming where it leads."""
    (root / "key").symlink_to(outside)
    (root / "rel").symlink_to("../outside/secret.txt")
    ws = Workspace(root)
    for path in ("key", "rel"):
        with pytest.raises(PatchError) as caught:
            ws.resolve(path)
        assert "outside" not in str(caught.value).replace("outside the workspace", "")
        assert os.fspath(outside.parent) not in str(caught.value)


def test_symlinks_into_vcs_metadata_or_protected_paths_are_refused(
    root: Path, tmp_path: Path
) -> None:
    """A path whose real file is VCS metadata or one of selflearn's own is refused."""
    (root / ".git").mkdir()
    (root / ".git" / "config").write_bytes(b"[core]\n")
    (root / "gitconfig").symlink_to(".git/config")
    (root / "data").mkdir()
    (root / "data" / "v1.json").write_bytes(b"{}")
    ws = Workspace(root, protected=[root / "data" / "v1.json", tmp_path / "elsewhere.db"])
    assert ("data/v1.json",) == ws.protected
    with pytest.raises(PatchError, match="version-control metadata"):
        ws.resolve("gitconfig")
    with pytest.raises(PatchError, match="selflearn's own file"):
        ws.resolve("data/v1.json")
    with pytest.raises(PatchError, match="selflearn's own file"):
        ws.replace("data/v1.json", b"{}", expect=sha(b"{}"))


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


# -- metadata --------------------------------------------------------------------------------

ACL_UNDEFINED = 0xFFFFFFFF


def acl(user: int) -> bytes:
    """An access ACL for mode 0640 that also lets `user` read (the kernel's xattr format)."""
    entries = [(0x01, 6, ACL_UNDEFINED), (0x02, 4, user), (0x04, 4, ACL_UNDEFINED)]
    entries += [(0x10, 4, ACL_UNDEFINED), (0x20, 0, ACL_UNDEFINED)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


def metadata(path: Path) -> tuple[str, int, int, dict[str, bytes]]:
    st = path.lstat()
    xattrs = {name: os.getxattr(path, name) for name in os.listxattr(path)}
    return oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid, xattrs


def decorate(path: Path) -> None:
    """Give `path` a user attribute and an ACL; skip where the file system refuses them."""
    try:
        os.setxattr(path, "user.origin", b"hand-made")
        os.setxattr(path, "system.posix_acl_access", acl(4242))
    except OSError as exc:
        pytest.skip(f"extended attributes or ACLs are not supported here: {exc}")


def test_a_replaced_file_keeps_mode_owner_xattrs_and_acl(root: Path) -> None:
    """Writing a post-image keeps the file's mode, owner, attributes and ACL."""
    target = root / APP
    decorate(target)
    if os.geteuid() == 0:
        os.chown(target, 1234, 5678)
    before = metadata(target)
    assert "user.origin" in before[3]
    ws = Workspace(root)
    prepare(ws, planned(ws, APP_DIFF))
    ws.replace(APP, APP_V2, expect=sha(APP_V1))
    assert APP_V2 == target.read_bytes()
    assert before == metadata(target)


def test_a_deleted_file_comes_back_as_it_was(root: Path, tmp_path: Path) -> None:
    """A 0600 file with attributes, deleted by a patch and restored, has them all again."""
    key = root / "id_rsa"
    key.write_bytes(b"-----BEGIN KEY-----\n")
    key.chmod(0o600)
    try:
        os.setxattr(key, "user.origin", b"ssh-keygen")
    except OSError as exc:
        pytest.skip(f"extended attributes are not supported here: {exc}")
    if os.geteuid() == 0:
        os.chown(key, 1234, 5678)
    before = metadata(key)
    for ws in (Workspace(root), Workspace(root, state=StateDir(tmp_path / "state"))):
        delete = "--- a/id_rsa\n+++ /dev/null\n@@ -1 +0,0 @@\n------BEGIN KEY-----\n"
        prepared = prepare(ws, planned(ws, delete))
        write_files(ws, prepared)
        assert not key.exists()
        restore = restore_files(ws, [f.record() for f in prepared.files])
        assert ("id_rsa",) == restore.restored
        assert before == metadata(key)


def test_a_created_file_gets_the_umask_mode(root: Path) -> None:
    """A new file is created with the mode the process's umask gives it."""
    ws = Workspace(root)
    old = os.umask(0o027)
    try:
        ws.replace("new.txt", b"x\n", expect=None)
    finally:
        os.umask(old)
    assert 0o640 == stat.S_IMODE((root / "new.txt").stat().st_mode)


def test_metadata_that_cannot_be_kept_refuses_the_patch_first(root: Path) -> None:
    """An attribute this process may not set refuses the patch before anything is written."""
    target = root / APP
    try:
        os.setxattr(target, "trusted.origin", b"x")
    except OSError as exc:
        pytest.skip(f"trusted attributes need privileges this test lacks: {exc}")
    ws = Workspace(root)
    before = tree(root)
    real_setxattr = os.setxattr

    def refuse_trusted(fd: Any, name: str, value: bytes, *args: Any) -> None:
        if name.startswith("trusted."):
            raise PermissionError(errno.EPERM, "Operation not permitted")
        real_setxattr(fd, name, value, *args)

    os.setxattr = refuse_trusted  # type: ignore[assignment]
    try:
        with pytest.raises(PatchError, match=r"extended attribute trusted.origin cannot be kept"):
            prepare(ws, planned(ws, APP_DIFF))
    finally:
        os.setxattr = real_setxattr
    assert before == tree(root)


UNPRIVILEGED_SCRIPT = """
import sys
from selflearn.realapply.patches import PatchError
from selflearn.realapply.workspace import Workspace, prepare
from selflearn.realapply.patches import plan, paths_to_read
root, diff = sys.argv[1], sys.argv[2]
ws = Workspace(root)
contents, aliases = ws.contents(paths_to_read([diff]))
try:
    prepare(ws, plan([diff], contents, aliases=aliases).files)
except PatchError as exc:
    print("refused:", exc)
    sys.exit(0)
for f in plan([diff], contents, aliases=aliases).files:
    ws.replace(f.path, f.after, expect=f.before_sha256)
print("written")
"""


def run_as_nobody(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `script` as the unprivileged user nobody (setpriv), with selflearn importable."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a process as another user")
    nobody = pwd.getpwnam("nobody")
    src = Path(selflearn.__file__).parent.parent
    deps = {Path(attrs.__file__).parent.parent, Path(unidiff.__file__).parent.parent}
    path = os.pathsep.join(str(p) for p in [src, *deps])
    command = [
        "setpriv",
        f"--reuid={nobody.pw_uid}",
        f"--regid={nobody.pw_gid}",
        "--clear-groups",
    ]
    for python in (sys.executable, shutil.which("python3") or ""):
        probe = subprocess.run(
            [*command, python, "-c", "import selflearn.realapply.workspace"],
            env={"PYTHONPATH": path},
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return subprocess.run(
                [*command, python, "-c", script, *args],
                env={"PYTHONPATH": path},
                capture_output=True,
                text=True,
                check=False,
            )
    pytest.skip("no Python interpreter the user nobody may run with selflearn importable")


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A workspace every user may enter and write in (outside pytest's private tmp)."""
    top = Path(tempfile.mkdtemp(prefix="selflearn-shared-"))
    top.chmod(0o755)
    root = make_workspace(top / "ws")
    for folder in (root, root / "conf"):
        folder.chmod(0o777)
    try:
        yield root
    finally:
        shutil.rmtree(top)


def test_an_owner_that_cannot_be_kept_refuses_the_patch(shared_root: Path) -> None:
    """As an unprivileged user, a writable file owned by another user is not replaced by a
    file of one's own: the patch is refused, the file and its owner untouched."""
    target = shared_root / APP
    target.chmod(0o666)
    before = metadata(target), target.read_bytes()
    done = run_as_nobody(UNPRIVILEGED_SCRIPT, str(shared_root), APP_DIFF)
    assert 0 == done.returncode, done.stderr
    assert done.stdout.startswith("refused:"), done.stdout
    assert "owner (uid 0, gid 0) cannot be kept" in done.stdout
    assert before == (metadata(target), target.read_bytes())
    assert ["app.ini"] == os.listdir(shared_root / "conf")


def test_an_unprivileged_user_keeps_its_own_files(shared_root: Path) -> None:
    """As an unprivileged user, replacing one's own file keeps its owner and mode."""
    nobody = pwd.getpwnam("nobody")
    target = shared_root / APP
    if os.geteuid() == 0:
        os.chown(target, nobody.pw_uid, nobody.pw_gid)
    target.chmod(0o600)
    done = run_as_nobody(UNPRIVILEGED_SCRIPT, str(shared_root), APP_DIFF)
    assert "written" == done.stdout.strip(), done.stdout + done.stderr
    assert APP_V2 == target.read_bytes()
    assert ("0o600", nobody.pw_uid, nobody.pw_gid) == metadata(target)[:3]


# -- limits and names ------------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_never_read(root: Path) -> None:
    """A 50 MB file is refused from its size alone: memory stays far below its size."""
    big = root / "big.log"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    expected = sha(b"\0" * (50 * 1024 * 1024))
    ws = Workspace(root)
    tracemalloc.start()
    try:
        with pytest.raises(PatchError, match=r"big\.log is larger than 1048576 bytes"):
            ws.contents(["big.log"])
        assert expected == ws.hash_of("big.log")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024
    small = Workspace(root, max_file_bytes=10)
    with pytest.raises(PatchError, match=r"conf/app\.ini is larger than 10 bytes"):
        small.read(APP)
    with pytest.raises(PatchError, match="larger than 10 bytes"):
        small.replace("new.txt", b"x" * 11, expect=None)


def test_files_with_the_longest_names_are_deleted_and_restored(root: Path) -> None:
    """Temporary names are short: a file with a 255-byte name is deleted and restored."""
    name = "n" * 251 + ".txt"
    (root / name).write_bytes(b"keep\n")
    ws = Workspace(root)
    delete = f"--- a/{name}\n+++ /dev/null\n@@ -1 +0,0 @@\n-keep\n"
    prepared = prepare(ws, planned(ws, delete))
    write_files(ws, prepared)
    assert not (root / name).exists()
    assert (name,) == restore_files(ws, [f.record() for f in prepared.files]).restored
    assert b"keep\n" == (root / name).read_bytes()
    rewrite = f"--- a/{name}\n+++ b/{name}\n@@ -1 +1 @@\n-keep\n+kept\n"
    write_files(ws, prepare(ws, planned(ws, rewrite)))
    assert b"kept\n" == (root / name).read_bytes()


def test_files_the_loop_did_not_create_are_never_deleted(root: Path) -> None:
    """A file named like an old temporary name survives applies and restores."""
    look_alike = root / "conf" / ".app.ini.selflearn-tmp"
    look_alike.write_bytes(b"mine\n")
    ws = Workspace(root)
    prepared = prepare(ws, planned(ws, APP_DIFF))
    write_files(ws, prepared)
    restore_files(ws, [f.record() for f in prepared.files])
    assert b"mine\n" == look_alike.read_bytes()
    assert [".app.ini.selflearn-tmp", "app.ini"] == sorted(os.listdir(root / "conf"))


# -- the state directory ---------------------------------------------------------------------


def test_with_a_state_directory_nothing_is_written_in_the_workspace(
    root: Path, tmp_path: Path
) -> None:
    """Backups, file metadata and the workspace id live in the state directory; the
    workspace holds nothing but the patched files."""
    state = StateDir(tmp_path / "state")
    assert 0o700 == stat.S_IMODE((tmp_path / "state").stat().st_mode)
    before = tree(root)
    ws = Workspace(root, state=state)
    prepared = prepare(ws, planned(ws, APP_DIFF, README_DIFF))
    assert {APP: f"backups/{sha(APP_V1)}", "README.md": f"backups/{sha(README_V1)}"} == dict(
        prepared.backups
    )
    assert APP_V1 == (tmp_path / "state" / "backups" / sha(APP_V1)).read_bytes()
    write_files(ws, prepared)
    restore_files(ws, [f.record() for f in prepared.files])
    assert before == tree(root)
    assert not (root / ".selflearn").exists()


def test_the_id_and_backups_survive_a_wiped_workspace(root: Path, tmp_path: Path) -> None:
    """`git clean -fdx` or an executor removing .selflearn/ changes neither the id nor the
    backups: the rollback still happens."""
    state = StateDir(tmp_path / "state")
    ws = Workspace(root, state=state)
    prepared = prepare(ws, planned(ws, APP_DIFF))
    write_files(ws, prepared)
    shutil.rmtree(root / ".selflearn", ignore_errors=True)
    (root / ".selflearn").mkdir()
    (root / ".selflearn" / "workspace-id").write_text("forged\n")
    again = Workspace(root, state=StateDir(tmp_path / "state"))
    assert prepared.workspace_id == again.read_identity()
    assert (APP,) == restore_files(again, [f.record() for f in prepared.files]).restored
    assert APP_V1 == (root / APP).read_bytes()


def test_another_directory_at_the_path_is_another_workspace(root: Path, tmp_path: Path) -> None:
    """A directory replaced at the workspace's path has no id (it is not the one patched)."""
    state = StateDir(tmp_path / "state")
    ws = Workspace(root, state=state)
    ident = ws.identity([])
    assert ident == ws.read_identity()
    ws.close()
    root.rename(tmp_path / "old")
    make_workspace(root)
    assert Workspace(root, state=state).read_identity() is None


def test_an_id_of_the_older_layout_is_adopted(root: Path, tmp_path: Path) -> None:
    """A workspace that has an id inside it keeps it when a state directory is given, and
    a backup taken inside it is still found."""
    old = Workspace(root)
    prepared = prepare(old, planned(old, APP_DIFF))
    write_files(old, prepared)
    ws = Workspace(root, state=StateDir(tmp_path / "state"))
    assert prepared.workspace_id == ws.read_identity() == ws.identity([])
    assert (APP,) == restore_files(ws, [f.record() for f in prepared.files]).restored


def test_a_state_directory_inside_the_workspace_is_refused(root: Path, tmp_path: Path) -> None:
    """Backups never live where a patch, an executor or `git clean` could reach them."""
    with pytest.raises(PatchError, match="may not contain one another"):
        Workspace(root, state=StateDir(root / "state"))
    with pytest.raises(PatchError, match="may not contain one another"):
        Workspace(root, state=StateDir(root.parent))


def test_prune_removes_only_prunable_old_backups(root: Path, tmp_path: Path) -> None:
    """Backups named prunable and older than the grace period go, with their metadata;
    anything else in the directory stays."""
    state = StateDir(tmp_path / "state")
    ws = Workspace(root, state=state)
    delete = "--- a/README.md\n+++ /dev/null\n@@ -1,3 +0,0 @@\n-# service\n-\n-Run it.\n"
    prepare(ws, planned(ws, APP_DIFF, delete))
    backups = tmp_path / "state" / "backups"
    (backups / "notes.txt").write_bytes(b"not a backup\n")
    assert 4 == len(os.listdir(backups))  # two backups, one metadata file, the notes
    now = time.time()
    assert [] == state.prune_backups([sha(APP_V1), sha(README_V1)], now=now)
    old = now - 7200
    os.utime(backups / sha(README_V1), (old, old))
    assert [sha(README_V1)] == state.prune_backups(
        [sha(README_V1), "not-a-digest", "../" + sha(APP_V1)], now=now
    )
    assert sorted([sha(APP_V1), "notes.txt"]) == sorted(os.listdir(backups))
    os.utime(backups / sha(APP_V1), (old, old))
    ws.backup(APP_V1, [])  # reused: its time is refreshed, so it is not pruned
    assert [] == state.prune_backups([sha(APP_V1)], now=now)
