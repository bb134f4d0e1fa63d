"""The bad-input corpus: each malformed input, its error class and message; nothing written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import selflearn as sl
from selflearn.config import cipher_key
from selflearn.realapply.patches import check_workspace_root
from selflearn.store import StoreURL
from selflearn.testing import FakeClock
from tests.conftest import app_of

GOOD_DRAFT: dict[str, Any] = {"title": "t", "priority": 0.5, "risk_level": "low"}
GOOD_EVENT: dict[str, Any] = {"novelty": 0.5, "value": 0.5, "risk": 0.5, "confidence": 0.5}


def draft(**fields: Any) -> Callable[[sl.LearningLoop], Any]:
    return lambda loop: loop.propose(sl.ProposalDraft(**{**GOOD_DRAFT, **fields}))


def event(
    source: Any = "tool", event_type: Any = "timeout", content: Any = "x", **scores: Any
) -> Callable[[sl.LearningLoop], Any]:
    return lambda loop: loop.record_event(source, event_type, content, **{**GOOD_EVENT, **scores})


DIFF = "--- a/{0}\n+++ b/{0}\n@@ -1 +1 @@\n-a\n+b\n"
MANY = "".join(f"--- /dev/null\n+++ b/f{n}.txt\n@@ -0,0 +1 @@\n+x\n" for n in range(21))


def edit(path: str, text: str = "x") -> Callable[[sl.LearningLoop], Any]:
    """A draft with one FileEdit, built when the case runs (a bad one raises then)."""
    return lambda loop: loop.propose(
        sl.ProposalDraft(**GOOD_DRAFT, patches=(sl.FileEdit(path, None, text),))
    )


# (case, action on a loop, error class, message fragment)
LOOP_CASES: list[tuple[str, Callable[[sl.LearningLoop], Any], type[Exception], str]] = [
    (
        "draft priority above 1",
        draft(priority=1.5),
        sl.ValidationError,
        "ProposalDraft.priority=1.5",
    ),
    (
        "draft priority negative",
        draft(priority=-0.01),
        sl.ValidationError,
        "expected a number in [0, 1]",
    ),
    (
        "draft priority NaN",
        draft(priority=float("nan")),
        sl.ValidationError,
        "ProposalDraft.priority",
    ),
    (
        "draft priority a string",
        draft(priority="0.5"),
        sl.ValidationError,
        "ProposalDraft.priority='0.5'",
    ),
    (
        "draft unknown risk",
        draft(risk_level="critical"),
        sl.ValidationError,
        "expected one of low, medium, high",
    ),
    ("draft empty title", draft(title="   "), sl.ValidationError, "ProposalDraft.title='   '"),
    ("draft long title", draft(title="x" * 181), sl.ValidationError, "181 characters; at most 180"),
    (
        "draft confidence above 1",
        draft(confidence=3),
        sl.ValidationError,
        "ProposalDraft.confidence=3",
    ),
    (
        "draft plan steps not strings",
        draft(plan_steps=(1, 2)),
        sl.ValidationError,
        "sequence of strings",
    ),
    (
        "draft plan steps a string",
        draft(plan_steps="do it"),
        sl.ValidationError,
        "sequence of strings",
    ),
    (
        "draft metadata not JSON",
        draft(metadata={"x": {1, 2}}),
        sl.ValidationError,
        "not JSON-serialisable",
    ),
    ("draft metadata not a mapping", draft(metadata=[1]), sl.ValidationError, "must be a mapping"),
    (
        "draft patches a bare string",
        draft(patches="--- a/x"),
        sl.ValidationError,
        "tuple of patches",
    ),
    (
        "draft patch not a diff",
        draft(patches=("hello",)),
        sl.ValidationError,
        "cannot be parsed as a unified diff",
    ),
    ("draft patch empty", draft(patches=("  ",)), sl.ValidationError, "empty diff"),
    (
        "draft patch of a wrong type",
        draft(patches=(42,)),
        sl.ValidationError,
        "unified-diff strings or FileEdit",
    ),
    ("diff with ../", draft(patches=(DIFF.format("../x"),)), sl.ValidationError, "contains '..'"),
    (
        "diff with an absolute path",
        draft(patches=(DIFF.format("/etc/x"),)),
        sl.ValidationError,
        "is absolute",
    ),
    (
        "diff into .selflearn",
        draft(patches=(DIFF.format(".selflearn/x"),)),
        sl.ValidationError,
        ".selflearn/",
    ),
    (
        "diff into .git",
        draft(patches=(DIFF.format(".git/config"),)),
        sl.ValidationError,
        "version-control metadata (.git/)",
    ),
    (
        "diff into a nested .hg",
        draft(patches=(DIFF.format("vendor/lib/.hg/hgrc"),)),
        sl.ValidationError,
        "version-control metadata (.hg/)",
    ),
    (
        "diff path with a bidi override",
        draft(patches=(DIFF.format("invoice\u202etxt.exe"),)),
        sl.ValidationError,
        "bidirectional-text control",
    ),
    (
        "diff path with an escape sequence",
        draft(patches=(DIFF.format("a\x1b[2Jb"),)),
        sl.ValidationError,
        "control character",
    ),
    (
        "diff path with a lone surrogate",
        draft(patches=(DIFF.format("a\udc80b"),)),
        sl.ValidationError,
        "lone surrogate",
    ),
    (
        "diff line naming another file",
        draft(patches=("diff -u evil.txt evil.txt\n" + DIFF.format("a.txt"),)),
        sl.ValidationError,
        "its diff line names other files",
    ),
    (
        "hunk with more lines than it counts",
        draft(patches=(DIFF.format("a.txt") + "+c\n",)),
        sl.ValidationError,
        "outside any hunk",
    ),
    (
        "one file in two sections",
        draft(patches=(DIFF.format("a.txt") + DIFF.format("a.txt"),)),
        sl.ValidationError,
        "in two sections",
    ),
    (
        "diff over the size limit",
        draft(patches=(DIFF.format("a.txt") + "\n" * (1 << 20),)),
        sl.ValidationError,
        "patch 1 is larger than 1048576 bytes",
    ),
    (
        "diff touching too many files",
        draft(patches=(MANY,)),
        sl.ValidationError,
        "touches 21 files; at most 20",
    ),
    (
        "file edit over the size limit",
        edit("big.txt", "x" * (1 << 20 | 1)),
        sl.ValidationError,
        "larger than 1048576 bytes",
    ),
    ("file edit path with a newline", edit("a\nb.txt"), sl.ValidationError, "line break"),
    (
        "file edit text with a lone surrogate",
        edit("a.txt", "bad \udc80"),
        sl.ValidationError,
        "lone surrogate",
    ),
    (
        "file edit of .svn",
        edit(".svn/entries"),
        sl.ValidationError,
        "version-control metadata (.svn/)",
    ),
    (
        "not a draft",
        lambda loop: loop.propose({"title": "t"}),
        sl.ValidationError,
        "takes a ProposalDraft",
    ),
    ("event value above 1", event(value=1.01), sl.ValidationError, "learning event value=1.01"),
    ("event risk negative", event(risk=-1), sl.ValidationError, "learning event risk=-1"),
    (
        "event novelty infinite",
        event(novelty=float("inf")),
        sl.ValidationError,
        "learning event novelty=inf",
    ),
    (
        "event confidence a bool",
        event(confidence=True),
        sl.ValidationError,
        "learning event confidence=True",
    ),
    ("event empty source", event(source=""), sl.ValidationError, "learning event source=''"),
    ("event source not a string", event(source=3), sl.ValidationError, "learning event source=3"),
    (
        "event empty type",
        event(event_type=" "),
        sl.ValidationError,
        "learning event event_type=' '",
    ),
    (
        "event content not a string",
        event(content=None),
        sl.ValidationError,
        "content must be a string",
    ),
    ("event unknown stream", event(stream="staging"), sl.ValidationError, "stream='staging'"),
    ("approve an unknown id", lambda loop: loop.approve("nope"), sl.NotFound, "no proposal 'nope'"),
    (
        "reject without a reason",
        lambda loop: loop.reject("nope", reason=" "),
        sl.ValidationError,
        "reason=' '",
    ),
    (
        "read an unknown id",
        lambda loop: loop.proposal("00000000-0000-0000-0000-000000000000"),
        sl.NotFound,
        "no proposal",
    ),
    (
        "list an unknown status",
        lambda loop: loop.proposals(status="done"),
        sl.ValidationError,
        "status='done'",
    ),
    (
        "disable an unknown capability",
        lambda loop: loop.disable("everything", reason="x"),
        sl.ValidationError,
        "unknown capability 'everything'",
    ),
    (
        "disable without a reason",
        lambda loop: loop.disable("executor", reason=""),
        sl.ValidationError,
        "reason=''",
    ),
]


@pytest.mark.parametrize(
    ("case", "action", "error", "fragment"), LOOP_CASES, ids=[c[0] for c in LOOP_CASES]
)
def test_bad_input_to_a_loop(
    case: str,
    action: Callable[[sl.LearningLoop], Any],
    error: type[Exception],
    fragment: str,
    tmp_path: Path,
) -> None:
    """Each malformed input raises its error with its message, and nothing is written."""
    with sl.LearningLoop(
        f"sqlite:///{tmp_path / 's.db'}", flags=sl.Flags(), clock=FakeClock()
    ) as loop:
        loop.tick()
        before = app_of(loop).recorder.max_notification_id()
        with pytest.raises(error) as caught:
            action(loop)
        assert fragment in str(caught.value)
        assert before == app_of(loop).recorder.max_notification_id()


CONFIG_CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    (
        "flag not a boolean",
        lambda: sl.Flags.from_env({"ENABLE_PROPOSAL_V2": "perhaps"}),
        sl.ConfigError,
        "ENABLE_PROPOSAL_V2='perhaps'",
    ),
    (
        "canary above 100",
        lambda: sl.Flags.from_env({"EXECUTOR_CANARY_PERCENT": "150"}),
        sl.ConfigError,
        "an integer from 0 to 100",
    ),
    (
        "unknown risk name",
        lambda: sl.Flags.from_env({"NORMAL_MODE_ALLOWED_RISK": "low,huge"}),
        sl.ConfigError,
        "NORMAL_MODE_ALLOWED_RISK='low,huge'",
    ),
    (
        "mode misspelt",
        lambda: sl.Flags.from_env({"EXECUTION_MODE_DEFAULT": "nromal"}),
        sl.ConfigError,
        "one of safe/normal",
    ),
    (
        "store scheme unknown",
        lambda: StoreURL.parse("redis://localhost"),
        sl.ConfigError,
        "SELFLEARN_STORE='redis://localhost'",
    ),
    (
        "sqlite without a file",
        lambda: StoreURL.parse("sqlite:///"),
        sl.ConfigError,
        "names no file",
    ),
    (
        "sqlite unknown option",
        lambda: StoreURL.parse("sqlite:///x.db?mode=ro"),
        sl.ConfigError,
        "unknown SQLite option(s) ['mode']",
    ),
    (
        "sqlite lock timeout zero",
        lambda: StoreURL.parse("sqlite:///x.db?lock_timeout=0"),
        sl.ConfigError,
        "from 1 to 600",
    ),
    (
        "postgres without a database",
        lambda: StoreURL.parse("postgresql://u@host"),
        sl.ConfigError,
        "needs a host and a database",
    ),
    (
        "postgres bad port",
        lambda: StoreURL.parse("postgresql://u@host:99999/db"),
        sl.ConfigError,
        "bad port",
    ),
    (
        "postgres bad schema",
        lambda: StoreURL.parse("postgresql://u@h/db?schema=a;drop"),
        sl.ConfigError,
        "schema 'a;drop'",
    ),
    (
        "postgres unknown option",
        lambda: StoreURL.parse("postgresql://u@h/db?sslmode=x"),
        sl.ConfigError,
        "unknown PostgreSQL option(s)",
    ),
    (
        "max file bytes zero",
        lambda: sl.Flags.from_env({"EXECUTOR_REAL_APPLY_MAX_FILE_BYTES": "0"}),
        sl.ConfigError,
        "EXECUTOR_REAL_APPLY_MAX_FILE_BYTES='0'",
    ),
    (
        "max files not a number",
        lambda: sl.Flags.from_env({"EXECUTOR_REAL_APPLY_MAX_FILES": "many"}),
        sl.ConfigError,
        "EXECUTOR_REAL_APPLY_MAX_FILES='many'",
    ),
    (
        "cipher key not base64",
        lambda: cipher_key({"SELFLEARN_CIPHER_KEY": "not a key!"}),
        sl.ConfigError,
        "SELFLEARN_CIPHER_KEY is not allowed",
    ),
    (
        "workspace is the root directory",
        lambda: check_workspace_root("/"),
        sl.ConfigError,
        "workspace '/' is not allowed",
    ),
    (
        "workspace holds the store",
        lambda: check_workspace_root("/srv", store="/srv/data/selflearn.db"),
        sl.ConfigError,
        "holds the loop's store",
    ),
    (
        "flags of the wrong type",
        lambda: sl.LearningLoop("memory://", flags={"x": 1}),
        sl.ConfigError,
        "flags must be a selflearn.Flags",
    ),  # type: ignore[arg-type]
    (
        "seed not an integer",
        lambda: sl.LearningLoop("memory://", flags=sl.Flags(), seed="7"),
        sl.ConfigError,
        "seed='7'",
    ),  # type: ignore[arg-type]
    (
        "policy family empty",
        lambda: sl.LearningLoop("memory://", flags=sl.Flags(), policy_families={"x": []}),
        sl.ConfigError,
        "non-empty list of arm labels",
    ),
    (
        "policy arms repeated",
        lambda: sl.LearningLoop("memory://", flags=sl.Flags(), policy_families={"x": ["a", "a"]}),
        sl.ConfigError,
        "distinct",
    ),
    (
        "approve threshold arm not a number",
        lambda: sl.LearningLoop(
            "memory://", flags=sl.Flags(), policy_families={"approve_threshold": ["high"]}
        ),
        sl.ConfigError,
        "approve_threshold arm 'high'",
    ),
    (
        "file edit with a bad hash",
        lambda: sl.FileEdit("a.txt", "abc", "x"),
        sl.ValidationError,
        "64 lower-case hex digits",
    ),
    (
        "file edit path absolute",
        lambda: sl.FileEdit("/a.txt", None, "x"),
        sl.ValidationError,
        "is absolute",
    ),
    (
        "execution result status",
        lambda: sl.ExecutionResult(status="done"),
        sl.ValidationError,
        "ExecutionResult.status='done'",
    ),
    (
        "verdict kind",
        lambda: sl.Verdict(kind="draw", confidence=0.5),
        sl.ValidationError,
        "Verdict.kind='draw'",
    ),
    (
        "verdict pending on a win",
        lambda: sl.Verdict(kind="win", confidence=0.5, pending_recheck=True),
        sl.ValidationError,
        "only allowed on an inconclusive",
    ),
]


@pytest.mark.parametrize(
    ("case", "make", "error", "fragment"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES]
)
def test_bad_settings_and_values(
    case: str, make: Callable[[], Any], error: type[Exception], fragment: str
) -> None:
    """Each malformed setting or value raises its error with its message."""
    with pytest.raises(error) as caught:
        make()
    assert fragment in str(caught.value)


def test_a_store_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A file that is not SQLite is a StoreError naming it, and is left untouched."""
    path = tmp_path / "notes.db"
    path.write_bytes(b"just some notes\n" * 100)
    with pytest.raises(sl.StoreError, match="file is not a database"):
        sl.LearningLoop(f"sqlite:///{path}", flags=sl.Flags())
    assert path.read_bytes() == b"just some notes\n" * 100


def test_a_truncated_store_file(tmp_path: Path) -> None:
    """A store file cut short is a StoreError, not a crash or a silently empty store."""
    path = tmp_path / "store.db"
    clock = FakeClock()
    with sl.LearningLoop(f"sqlite:///{path}", flags=sl.Flags(), clock=clock) as loop:
        for i in range(300):
            loop.record_event("tool", "timeout", f"event {i} " + "x" * 200, **GOOD_EVENT)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with (
        pytest.raises(sl.StoreError, match="malformed"),
        sl.LearningLoop(f"sqlite:///{path}", flags=sl.Flags(), clock=clock) as loop,
    ):
        loop.tick()
