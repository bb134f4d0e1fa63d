"""Patches: validation at propose() time and the pure plan of a real apply."""

from __future__ import annotations

import hashlib

import pytest

import selflearn as sl
from selflearn.realapply.patches import PatchError, check_patches, paths_to_read, plan, sha256_of

APP = "conf/app.ini"
APP_V1 = b"[app]\nworkers=2\ntimeout=30\n"
APP_V2 = b"[app]\nworkers=4\ntimeout=30\n"
DIFF = (
    "--- a/conf/app.ini\n+++ b/conf/app.ini\n@@ -1,3 +1,3 @@\n"
    " [app]\n-workers=2\n+workers=4\n timeout=30\n"
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ("not a diff", "unified diff"),
        ("--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n", "'..'"),
        ("--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n", "absolute"),
        ("--- a/.selflearn/x\n+++ b/.selflearn/x\n@@ -1 +1 @@\n-a\n+b\n", ".selflearn"),
        ("--- a/.SelfLearn/x\n+++ b/.SelfLearn/x\n@@ -1 +1 @@\n-a\n+b\n", ".selflearn"),
        (
            "diff --git a/logo.png b/logo.png\nindex 1234567..89abcde 100644\n"
            "Binary files a/logo.png and b/logo.png differ\n",
            "binary patch",
        ),
        (
            "diff --git a/blob.bin b/blob.bin\nindex 1234567..89abcde 100644\n"
            "GIT binary patch\nliteral 3\nKcmZQzWMT\n\nliteral 0\nKcmV+b0RR6000031\n\n",
            "binary",
        ),
        ("--- a/old.txt\n+++ b/new.txt\n@@ -1 +1 @@\n-a\n+b\n", "renames are not supported"),
        ("--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-a\n+b\x0cc\n", "line-break character"),
        ("--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-a\n+b\rc\n", "line-break character"),
        (
            "*** a/x.txt\n--- b/x.txt\n***************\n*** 1 ****\n! a\n--- 1 ----\n! b\n",
            "unified",
        ),
    ],
)
def test_invalid_patches_are_refused(patch: sl.ports.Patch, fragment: str) -> None:
    """A patch that cannot parse, leaves the workspace, is binary or renames is refused."""
    with pytest.raises(sl.ValidationError, match=fragment):
        check_patches([patch])


def test_absolute_and_parent_file_edits_are_refused() -> None:
    """FileEdit paths and contents are checked when the edit is made."""
    for path in ("../x", "/etc/passwd", "a/../../b", ".selflearn/backups/x"):
        with pytest.raises(sl.ValidationError, match="patch path"):
            sl.FileEdit(path, None, "x")
    with pytest.raises(sl.ValidationError, match="NUL byte"):
        check_patches([sl.FileEdit("x.txt", None, "nul\x00byte")])


def test_crlf_diffs_and_git_headers_are_accepted() -> None:
    """A git diff with CRLF line ends and a timestamped plain diff both parse."""
    check_patches(
        [
            "diff --git a/x.txt b/x.txt\r\nindex 1..2 100644\r\n--- a/x.txt\r\n+++ b/x.txt\r\n"
            "@@ -1 +1 @@\r\n-a\r\n+b\r\n",
            "--- x.txt\t2020-01-01\n+++ x.txt\t2020-01-02\n@@ -1 +1 @@\n-a\n+b\n",
        ]
    )


# -- planning ------------------------------------------------------------------------------


def test_a_diff_plans_its_post_image_with_both_hashes() -> None:
    """A diff turns the file's pre-image into its post-image; the plan records both hashes."""
    planned = plan([DIFF], {APP: APP_V1})
    (file,) = planned.files
    assert (APP, APP_V1, APP_V2) == (file.path, file.before, file.after)
    assert {"path": APP, "before_sha256": sha(APP_V1), "after_sha256": sha(APP_V2)} == (
        file.record()
    )
    assert ((0,), ()) == (planned.applied, planned.skipped)


def test_context_mismatch_is_refused_with_the_line() -> None:
    """A diff whose context does not match the file names the patch, the file and the line."""
    with pytest.raises(PatchError, match=r"patch 1 \(diff of conf/app.ini\): context does not"):
        plan([DIFF], {APP: b"[app]\nworkers=3\ntimeout=30\n"})


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"\x89PNG\r\n\x1a\n\x00\x00", "NUL bytes"), (b"caf\xe9\n", "not UTF-8")],
)
def test_binary_files_are_refused(content: bytes, fragment: str) -> None:
    """A diff or an edit of a binary file is refused."""
    with pytest.raises(PatchError, match=fragment):
        plan([DIFF], {APP: content})
    with pytest.raises(PatchError, match=fragment):
        plan([sl.FileEdit(APP, sha(content), "text\n")], {APP: content})


def test_missing_file_is_refused() -> None:
    """A file deleted since the proposal was made is refused, for a diff and for an edit."""
    with pytest.raises(PatchError, match="does not exist"):
        plan([DIFF], {APP: None})
    with pytest.raises(PatchError, match="does not exist"):
        plan([sl.FileEdit(APP, sha(APP_V1), "x")], {APP: None})


def test_file_edit_checks_the_pre_image_hash() -> None:
    """An edit applies only to the file whose SHA-256 it names."""
    edit = sl.FileEdit(APP, sha(APP_V1), APP_V2.decode())
    assert APP_V2 == plan([edit], {APP: APP_V1}).files[0].after
    with pytest.raises(PatchError, match="pre-image sha256 mismatch"):
        plan([edit], {APP: APP_V2 + b"#"})


def test_creating_edits_need_an_absent_file() -> None:
    """`before_sha256=None` creates a file, and is refused when the file exists."""
    edit = sl.FileEdit("new.txt", None, "hello\n")
    (file,) = plan([edit], {"new.txt": None}).files
    assert (None, b"hello\n") == (file.before, file.after)
    with pytest.raises(PatchError, match="already exists"):
        plan([edit], {"new.txt": b""})


def test_diffs_create_and_delete_files() -> None:
    """/dev/null on the old side creates the file; on the new side deletes it entirely."""
    create = "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+x\n+y\n"
    delete = "--- a/old.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-x\n-y\n"
    planned = plan([create, delete], {"new.txt": None, "old.txt": b"x\ny\n"})
    assert [("new.txt", None, b"x\ny\n"), ("old.txt", b"x\ny\n", None)] == [
        (f.path, f.before, f.after) for f in planned.files
    ]
    with pytest.raises(PatchError, match="leaves 1 line"):
        plan([delete], {"old.txt": b"x\ny\nz\n"})


def test_crlf_files_keep_their_line_endings() -> None:
    """A CRLF file stays CRLF; a file mixing endings is refused."""
    crlf = APP_V1.replace(b"\n", b"\r\n")
    assert APP_V2.replace(b"\n", b"\r\n") == plan([DIFF], {APP: crlf}).files[0].after
    with pytest.raises(PatchError, match="mixes"):
        plan([DIFF], {APP: b"[app]\r\nworkers=2\ntimeout=30\r\n"})


def test_no_newline_at_end_of_file_markers() -> None:
    """The "\\ No newline at end of file" markers decide the final newline on each side."""
    adds_newline = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n"
    drops_newline = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n"
    assert b"b\n" == plan([adds_newline], {"x": b"a"}).files[0].after
    assert b"b" == plan([drops_newline], {"x": b"a\n"}).files[0].after
    with pytest.raises(PatchError, match="ends without a newline"):
        plan([adds_newline], {"x": b"a\n"})
    plain = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(PatchError, match="ends without a newline"):
        plan([plain], {"x": b"a"})


def test_patches_apply_in_order_and_the_limit_skips_the_rest() -> None:
    """Patches apply in order to the same file; beyond the limit they are skipped, unread."""
    second = "--- a/conf/app.ini\n+++ b/conf/app.ini\n@@ -3 +3 @@\n-timeout=30\n+timeout=60\n"
    third = sl.FileEdit("other.txt", None, "never\n")
    patches: list[sl.ports.Patch] = [DIFF, second, third]
    assert [APP] == paths_to_read(patches, limit=2)
    planned = plan(patches, {APP: APP_V1}, limit=2)
    assert b"[app]\nworkers=4\ntimeout=60\n" == planned.files[0].after
    assert ((0, 1), (2,)) == (planned.applied, planned.skipped)
    nothing = plan(patches, {}, limit=0)
    assert ((), (), (0, 1, 2)) == (nothing.files, nothing.applied, nothing.skipped)


def test_a_net_no_op_leaves_the_file_out_of_the_plan() -> None:
    """A file the patches change and change back is not written at all."""
    back = "--- a/conf/app.ini\n+++ b/conf/app.ini\n@@ -2 +2 @@\n-workers=4\n+workers=2\n"
    assert () == plan([DIFF, back], {APP: APP_V1}).files


def test_aliases_map_a_symlinked_path_to_its_real_file() -> None:
    """Two patches naming one file through a symlink plan one file, its real path."""
    via_link = "--- a/link.ini\n+++ b/link.ini\n@@ -3 +3 @@\n-timeout=30\n+timeout=60\n"
    planned = plan([DIFF, via_link], {APP: APP_V1}, aliases={"link.ini": APP})
    assert [APP] == [f.path for f in planned.files]
    assert b"[app]\nworkers=4\ntimeout=60\n" == planned.files[0].after


def test_sha256_of_absent_is_none() -> None:
    """An absent file has no hash."""
    assert (None, sha(b"x")) == (sha256_of(None), sha256_of(b"x"))
