"""Patches: validation at propose() time and the pure plan of a real apply."""

from __future__ import annotations

import hashlib
import re

import pytest

import selflearn as sl
from selflearn.realapply.patches import (
    PatchError,
    check_patches,
    check_workspace_root,
    paths_to_read,
    plan,
    protected_within,
    sha256_of,
)

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


def test_context_mismatch_names_the_hunk_and_line_never_the_text() -> None:
    """A diff whose context does not match names the patch, the file, the hunk and the line
    number; neither the file's line nor the diff's is quoted."""
    secret = b"[app]\nDB_PASSWORD=hunter2-s3cr3t\ntimeout=30\n"
    with pytest.raises(PatchError) as caught:
        plan([DIFF], {APP: secret})
    assert "patch 1 (diff of conf/app.ini): context of hunk 1 does not match line 2" == str(
        caught.value
    )
    short = b"[app]\n"
    with pytest.raises(PatchError, match=r"context of hunk 1 does not match line 2$"):
        plan([DIFF], {APP: short})


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


# -- headers: one file per section, named consistently -------------------------------------

EVIL_DIFF_LINE = "diff -u evil.txt evil.txt\n--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n"
TWO_PLAIN = "--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n--- c.txt\n+++ c.txt\n@@ -1 +1 @@\n-c\n+d\n"
THREE_NEW = "".join(f"--- /dev/null\n+++ b/{n}.txt\n@@ -0,0 +1 @@\n+{n}\n" for n in "xyz")


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        (EVIL_DIFF_LINE, "its diff line names other files"),
        (
            "diff --git a/evil.txt b/evil.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n",
            "its diff line names other files",
        ),
        ("Index: evil.txt\n=====\n--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n", "'Index:' line"),
        ("--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n+c\n", "outside any hunk"),
        ("--- a.txt\n+++ a.txt\n@@ -1,2 +1,2 @@\n-a\n+b\n", "ends before the lines it counts"),
        ("--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n-x\n+b\n", "holds more lines than it counts"),
        (
            "--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n"
            "--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-b\n+c\n",
            "in two sections",
        ),
        ("--- a.txt\n+++ a.txt\n@@ -1 +1 @@\n-a\n+b\n+++ c.txt\n", "outside any hunk"),
        (
            "diff --git a/x.txt b/x.txt\nold mode 100644\nnew mode 100755\n--- a/x.txt\n"
            "+++ b/x.txt\n@@ -1 +1 @@\n-a\n+b\n",
            "change of file mode",
        ),
        (
            "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n"
            "+/etc/passwd\n",
            "not a regular file",
        ),
        (
            "diff --git a/x b/x\nnew file mode 100644\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
            "'new file mode'",
        ),
        ('--- "a/x\\ty"\n+++ "b/x\\ty"\n@@ -1 +1 @@\n-a\n+b\n', "quoted file names"),
        ("--- a/x\n+++ b/x\n@@ -3 +5 @@\n-a\n+b\n", "line numbers disagree"),
        (
            "--- a/x\n+++ b/x\n@@ -1 +1 @@\n\\ No newline at end of file\n-a\n+b\n",
            "starts with a no-newline marker",
        ),
        ("+++ b/x\n--- a/x\n@@ -1 +1 @@\n-a\n+b\n", "'+++' or '@@' line before"),
        ("--- /dev/null\n+++ /dev/null\n@@ -0,0 +1 @@\n+a\n", "/dev/null on both sides"),
        ("--- a/x\n+++ b/x\n@@ -3 +3 @@\n-a\n+b\n@@ -1 +1 @@\n-c\n+d\n", "overlaps"),
    ],
)
def test_ambiguous_diffs_are_refused(patch: str, fragment: str) -> None:
    """A diff whose headers disagree, whose hunks miscount, or that names a file twice is
    refused before anything is read."""
    with pytest.raises(sl.ValidationError, match=re.escape(fragment)):
        check_patches([patch])


def test_a_diff_line_never_redirects_the_write() -> None:
    """`diff -u evil.txt evil.txt` over `--- a.txt`/`+++ a.txt` writes neither file."""
    with pytest.raises(sl.ValidationError):
        plan([EVIL_DIFF_LINE], {"a.txt": b"a\n", "evil.txt": b"a\n"})


def test_plain_multi_file_diffs_stay_separate() -> None:
    """Two sections without `diff` lines are two files, each with its own hunk."""
    planned = plan([TWO_PLAIN], {"a.txt": b"a\n", "c.txt": b"c\n"})
    assert [("a.txt", b"b\n"), ("c.txt", b"d\n")] == [(f.path, f.after) for f in planned.files]


def test_three_creations_in_one_diff() -> None:
    """Three /dev/null creations plan three new files (no IndexError)."""
    planned = plan([THREE_NEW], {"x.txt": None, "y.txt": None, "z.txt": None})
    assert [("x.txt", b"x\n"), ("y.txt", b"y\n"), ("z.txt", b"z\n")] == [
        (f.path, f.after) for f in planned.files
    ]


def test_git_diffs_with_mail_text_and_headers_apply() -> None:
    """A `git format-patch` mail: free text before, extended headers, a signature after."""
    mail = (
        "From 1234 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] more workers\n\n---\n"
        " conf/app.ini | 2 +-\n\n"
        "diff --git a/conf/app.ini b/conf/app.ini\nindex 1234567..89abcde 100644\n"
        + DIFF
        + "diff --git a/new.txt b/new.txt\nnew file mode 100644\nindex 0000000..1111111\n"
        "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n-- \n2.43.0\n"
    )
    planned = plan([mail], {APP: APP_V1, "new.txt": None})
    assert [(APP, APP_V2), ("new.txt", b"hello\n")] == [(f.path, f.after) for f in planned.files]


def test_hunks_apply_at_their_lines_with_insertions_and_deletions() -> None:
    """Several hunks shift each other's lines; pure insertions and deletions apply exactly."""
    before = b"".join(f"{n}\n".encode() for n in range(1, 11))
    diff = (
        "--- a/n.txt\n+++ b/n.txt\n"
        "@@ -0,0 +1 @@\n+zero\n"
        "@@ -3 +3,0 @@\n-3\n"
        "@@ -5,0 +6,2 @@\n+5a\n+5b\n"
        "@@ -9,2 +11,2 @@\n 9\n-10\n+ten\n"
    )
    after = plan([diff], {"n.txt": before}).files[0].after
    assert b"zero\n1\n2\n4\n5\n5a\n5b\n6\n7\n8\n9\nten\n" == after


# -- no hash oracle ---------------------------------------------------------------------------


def test_edit_errors_never_give_the_hash_of_the_file() -> None:
    """An edit that finds other content than it names is refused without that content's hash."""
    secret = b"API_TOKEN=s3cr3t\n"
    for edit in (
        sl.FileEdit(".env", None, "x"),
        sl.FileEdit(".env", sha(b"guess\n"), "x"),
    ):
        with pytest.raises(PatchError) as caught:
            plan([edit], {".env": secret})
        assert sha(secret) not in str(caught.value)
        assert "s3cr3t" not in str(caught.value)


# -- limits ------------------------------------------------------------------------------------


def test_texts_and_diffs_over_the_size_limit_are_refused_at_check_time() -> None:
    """A FileEdit text or a diff larger than the limit is a ValidationError."""
    check_patches([sl.FileEdit("a.txt", None, "x" * 100)], max_file_bytes=100)
    with pytest.raises(sl.ValidationError, match="larger than 100 bytes"):
        check_patches([sl.FileEdit("a.txt", None, "x" * 101)], max_file_bytes=100)
    with pytest.raises(sl.ValidationError, match="larger than 100 bytes"):
        check_patches([sl.FileEdit("a.txt", None, "é" * 51)], max_file_bytes=100)
    with pytest.raises(sl.ValidationError, match="patch 1 is larger than 50 bytes"):
        check_patches([DIFF], max_file_bytes=50)
    with pytest.raises(sl.ValidationError, match="larger than 1048576 bytes"):
        check_patches([sl.FileEdit("a.txt", None, "x" * (1 << 20 | 1))])


def test_files_over_the_size_limit_are_refused_when_planning() -> None:
    """A file, before or after, larger than the limit is never planned."""
    with pytest.raises(PatchError, match=r"conf/app\.ini is larger than 10 bytes"):
        plan([DIFF], {APP: APP_V1}, max_file_bytes=10)
    grow = sl.FileEdit(APP, sha(APP_V1), "x" * 40)
    with pytest.raises(PatchError, match=r"conf/app\.ini would be larger than 30 bytes"):
        plan([grow], {APP: APP_V1}, max_file_bytes=30)


def test_a_run_touches_at_most_max_files() -> None:
    """More files than the limit are refused before any is read, and at check time per patch."""
    edits: list[sl.ports.Patch] = [sl.FileEdit(f"f{n}.txt", None, "x") for n in range(3)]
    assert 3 == len(paths_to_read(edits, max_files=3))
    with pytest.raises(PatchError, match="touch 3 files; at most 2"):
        paths_to_read(edits, max_files=2)
    with pytest.raises(PatchError, match="touch 3 files; at most 2"):
        plan(edits, {f"f{n}.txt": None for n in range(3)}, max_files=2)
    with pytest.raises(sl.ValidationError, match="touches 3 files; at most 2"):
        check_patches([THREE_NEW], max_files=2)


# -- paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("a\nb.txt", "control character or a line break"),
        ("a\rb.txt", "control character or a line break"),
        ("a\x1b[31mb.txt", "control character"),
        ("a\u2028b.txt", "line break"),
        ("invoice\u202etxt.exe", "bidirectional-text control"),
        ("x\u2066y", "bidirectional-text control"),
        ("a\udc80b.txt", "lone surrogate"),
        (".git/config", "version-control metadata (.git/)"),
        ("sub/.git/hooks/pre-commit", "version-control metadata (.git/)"),
        (".GIT/config", "version-control metadata"),
        (".hg/hgrc", "version-control metadata (.hg/)"),
        (".svn/entries", "version-control metadata (.svn/)"),
        ("x" * 256, "longer than 255 bytes"),
    ],
)
def test_paths_that_forge_output_or_reach_vcs_metadata_are_refused(
    path: str, fragment: str
) -> None:
    """Such paths are a ValidationError, for an edit and for a diff."""
    with pytest.raises(sl.ValidationError, match=re.escape(fragment)):
        sl.FileEdit(path, None, "x")
    if "\n" not in path and "\r" not in path and "\u2028" not in path:
        with pytest.raises(sl.ValidationError, match=re.escape(fragment)):
            check_patches([f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"])


def test_a_lone_surrogate_in_a_text_is_a_validation_error() -> None:
    """A text that cannot be UTF-8 is refused as such, not with a bare UnicodeEncodeError."""
    with pytest.raises(sl.ValidationError, match="lone surrogate"):
        sl.FileEdit("a.txt", None, "bad \udc80 text")
    with pytest.raises(sl.ValidationError, match="lone surrogate"):
        check_patches(["--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+\ud800\n"])


def test_names_up_to_the_limit_are_accepted() -> None:
    """A 255-byte name is a valid path; .gitignore and .github/ are ordinary files."""
    for path in ("x" * 255, ".gitignore", ".github/workflows/ci.yml", "docs/.gitkeep"):
        assert path == sl.FileEdit(path, None, "x").path


# -- the workspace and selflearn's own files ---------------------------------------------------


@pytest.mark.parametrize(
    ("workspace", "fragment"),
    [
        ("/", "workspace '/' is not allowed"),
        ("/home/ann", "is the home directory"),
        ("/home/ann/", "is the home directory"),
        ("/srv", "holds the loop's store (/srv/agent/data/selflearn.db)"),
        ("/srv/agent", "holds the loop's store"),
        ("/srv/agent/state", "holds the loop's state directory"),
    ],
)
def test_workspaces_that_hold_the_host_or_the_loop_are_refused(
    workspace: str, fragment: str
) -> None:
    """`/`, the home directory and an ancestor of the store or state directory are refused."""
    with pytest.raises(sl.ConfigError, match=re.escape(fragment)):
        check_workspace_root(
            workspace,
            home="/home/ann",
            store="/srv/agent/data/selflearn.db",
            state_dir="/srv/agent/state/x",
        )


def test_a_project_directory_is_a_workspace() -> None:
    """A sibling of the store's directory, or a subdirectory of home, is fine."""
    for workspace in ("/srv/project", "/home/ann/project", "/srv/agentx"):
        check_workspace_root(
            workspace, home="/home/ann", store="/srv/agent/selflearn.db", state_dir="/srv/agent/s"
        )


def test_protected_paths_inside_the_workspace() -> None:
    """The loop's own files inside a workspace, relative to it; others are ignored."""
    own = [
        "/srv/app/data/memory/improvement_proposals.json",
        "/srv/app/evidence",
        "/srv/other/x.db",
        "/srv/app",
        "/srv/apple/x",
    ]
    assert ("data/memory/improvement_proposals.json", "evidence") == protected_within(
        "/srv/app", own
    )
