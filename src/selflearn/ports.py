"""The host's ports (typing.Protocol) and the values that cross them.

A host plugs an executor, a probe, optionally a verifier and a proposer into the loop.
Plain objects with the right method fit; nothing has to inherit from these classes.
Values crossing a port are frozen attrs classes that validate themselves, so a bad
draft or result is refused with a `ValidationError` naming the field.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, Protocol, get_args

import attrs

from selflearn.config import RISK_LEVELS, Mode, RiskLevel
from selflearn.exceptions import ValidationError

TITLE_MAX = 180
Metrics = Mapping[str, float | Sequence[float]]

#: A verifier's judgement of an attempt, and a run's final verdict.
VerdictKind = Literal["win", "loss", "inconclusive"]
#: What a host's executor reports about an execution.
ExecutionStatus = Literal["completed", "no_changes", "failed"]
#: Where a run stands: started and not executed yet, executed (as the host reported), or
#: closed without a verdict (failed, or interrupted when its lease ran out).
RunStatus = Literal["running", "completed", "no_changes", "failed", "interrupted"]
#: What a cycle did with a run: executed it, rechecked it, or closed it as interrupted.
RunKind = Literal["execution", "recheck", "interrupted"]
#: Why a proposer is asked for drafts: new learning events, or a synthetic opportunity.
OpportunityKind = Literal["learning_event", "synthetic"]

VERDICT_KINDS: Final[tuple[VerdictKind, ...]] = get_args(VerdictKind)
EXECUTION_STATUSES: Final[tuple[ExecutionStatus, ...]] = get_args(ExecutionStatus)


def check_fraction(label: str, value: object) -> float:
    """`value` as a float if it is a finite number in [0, 1], else `ValidationError`
    naming `label` (a bool is not a number here)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0.0 <= value <= 1.0
    ):
        raise ValidationError(f"{label}={value!r}: expected a number in [0, 1]")
    return float(value)


def _fraction(what: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        check_fraction(f"{what}.{attribute.name}", value)

    return check


def _json_mapping(what: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, Mapping):
            raise ValidationError(f"{what}.{attribute.name} must be a mapping, got {value!r}")
        try:
            json.dumps(dict(value), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"{what}.{attribute.name} is not JSON-serialisable: {exc}"
            ) from None

    return check


def _strings(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError(f"expected a sequence of strings, got {value!r}")
    if not all(isinstance(item, str) for item in value):
        raise ValidationError(f"expected a sequence of strings, got {value!r}")
    return tuple(value)


# Directories of version control systems: a patch never writes their metadata (a line of
# `.git/config` can run a command in the next `git` an operator types).
VCS_DIRECTORIES = frozenset({".git", ".hg", ".svn"})
# Bidirectional-text controls: they make a path read differently from what it is.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SURROGATE = re.compile("[\ud800-\udfff]")
NAME_MAX_BYTES = 255  # the longest file name common file systems allow, in UTF-8 bytes
PATH_MAX_BYTES = 4096


def _bad_character(path: str) -> str | None:
    """What is wrong with a character of `path`, or None."""
    for char in path:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F or char in "\u2028\u2029":
            return "a control character or a line break"
        if char in _BIDI:
            return "a bidirectional-text control"
        if 0xD800 <= code <= 0xDFFF:
            return "a lone surrogate (not encodable as UTF-8)"
    return None


def check_relative_path(path: object) -> str:
    """Return `path`, normalised, if it is a plain relative path inside a workspace.

    Refused with `ValidationError`: anything but a non-empty string; control characters,
    line breaks, bidirectional-text controls and lone surrogates (they forge lines of
    output or cannot be encoded); a NUL or a backslash; absolute paths; `..`; names too long
    for a file system; selflearn's own `.selflearn/`; and version-control metadata
    (`.git/`, `.hg/`, `.svn/` at any depth, in any case).
    """
    if not isinstance(path, str) or not path.strip():
        raise ValidationError(f"patch path {path!r} must be a non-empty relative path")
    if "\x00" in path or "\\" in path:
        raise ValidationError(f"patch path {path!r} contains a NUL byte or a backslash")
    problem = _bad_character(path)
    if problem is not None:
        raise ValidationError(f"patch path {path!r} contains {problem}")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ValidationError(
            f"patch path {path!r} is absolute; paths are relative to the workspace"
        )
    parts = path.split("/")
    if ".." in parts:
        raise ValidationError(f"patch path {path!r} contains '..'")
    normal = posixpath.normpath(path)
    if normal == "." or normal.split("/")[0].casefold() == ".selflearn":
        raise ValidationError(f"patch path {path!r} targets the workspace itself or .selflearn/")
    names = normal.split("/")
    vcs = [name for name in names if name.casefold().rstrip(". ") in VCS_DIRECTORIES]
    if vcs:
        raise ValidationError(
            f"patch path {path!r} targets version-control metadata ({vcs[0]}/), "
            "which real apply never writes"
        )
    if any(len(name.encode("utf-8")) > NAME_MAX_BYTES for name in names):
        raise ValidationError(f"patch path {path!r} has a name longer than {NAME_MAX_BYTES} bytes")
    if len(normal.encode("utf-8")) > PATH_MAX_BYTES:
        raise ValidationError(f"patch path is longer than {PATH_MAX_BYTES} bytes")
    return normal


def _relative_path(value: str) -> str:
    return check_relative_path(value)


@attrs.frozen
class FileEdit:
    """A whole-file edit: `after_text` replaces the file whose SHA-256 is `before_sha256`.

    `before_sha256=None` creates a file that must not exist yet.
    """

    path: str = attrs.field(converter=_relative_path)
    before_sha256: str | None
    after_text: str

    def __attrs_post_init__(self) -> None:
        digest = self.before_sha256
        if digest is not None and (
            not isinstance(digest, str)
            or len(digest) != 64
            or any(c not in "0123456789abcdef" for c in digest)
        ):
            raise ValidationError(
                f"FileEdit.before_sha256={digest!r}: expected 64 lower-case hex digits"
            )
        if not isinstance(self.after_text, str):
            raise ValidationError(
                f"FileEdit.after_text must be a string, got {type(self.after_text).__name__}"
            )
        if _SURROGATE.search(self.after_text):
            raise ValidationError(
                f"FileEdit.after_text of {self.path!r} holds a lone surrogate: "
                "it cannot be written as UTF-8"
            )


Patch = str | FileEdit


def _patches(value: Sequence[Patch]) -> tuple[Patch, ...]:
    if isinstance(value, (str, FileEdit)) or not isinstance(value, Sequence):
        raise ValidationError(f"ProposalDraft.patches must be a tuple of patches, got {value!r}")
    for item in value:
        if isinstance(item, str):
            if not item.strip():
                raise ValidationError("ProposalDraft.patches holds an empty diff")
        elif not isinstance(item, FileEdit):
            raise ValidationError(
                "ProposalDraft.patches items must be unified-diff strings or FileEdit, "
                f"got {item!r}"
            )
    return tuple(value)


def _title(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"ProposalDraft.title={value!r}: expected a non-empty string")
    if len(value) > TITLE_MAX:
        raise ValidationError(
            f"ProposalDraft.title has {len(value)} characters; at most {TITLE_MAX}"
        )
    return value


def _risk(what: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in RISK_LEVELS:
            raise ValidationError(
                f"{what}.{attribute.name}={value!r}: expected one of {', '.join(RISK_LEVELS)}"
            )

    return check


def _text(what: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str):
            raise ValidationError(f"{what}.{attribute.name} must be a string, got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class ProposalDraft:
    """A candidate improvement, as a proposer or a host submits it."""

    title: str = attrs.field(converter=_title)
    hypothesis: str = attrs.field(default="", validator=_text("ProposalDraft"))
    priority: float = attrs.field(validator=_fraction("ProposalDraft"))
    risk_level: RiskLevel = attrs.field(validator=_risk("ProposalDraft"))
    confidence: float = attrs.field(default=0.5, validator=_fraction("ProposalDraft"))
    plan_steps: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    expected_impact: str = attrs.field(default="", validator=_text("ProposalDraft"))
    patches: tuple[Patch, ...] = attrs.field(default=(), converter=_patches)
    metadata: Mapping[str, Any] = attrs.field(
        factory=dict, validator=_json_mapping("ProposalDraft")
    )
    signature: str | None = None

    def resolved_signature(self) -> str:
        """The draft's signature, derived from title and hypothesis when not given."""
        if self.signature:
            return self.signature
        return f"draft|{self.title.strip().lower()}|{self.hypothesis.strip().lower()[:180]}"


@attrs.frozen(kw_only=True)
class LearningEventView:
    """A learning event as the loop recorded it."""

    id: str
    source: str
    event_type: str
    content: str
    novelty: float
    value: float
    risk: float
    confidence: float
    stream: str
    at: datetime


@attrs.frozen(kw_only=True)
class Opportunity:
    """Learning events handed to a proposer to turn into drafts."""

    id: str
    kind: OpportunityKind = "learning_event"
    events: tuple[LearningEventView, ...] = ()
    at: datetime


@attrs.frozen(kw_only=True)
class ExecutionResult:
    """What a host's executor reports about one execution."""

    status: ExecutionStatus = "completed"
    cost_usd: float = 0.0
    duration_ms: float = 0.0
    artifacts: Mapping[str, Any] = attrs.field(
        factory=dict, validator=_json_mapping("ExecutionResult")
    )
    error: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.status not in EXECUTION_STATUSES:
            raise ValidationError(
                f"ExecutionResult.status={self.status!r}: "
                f"expected one of {', '.join(EXECUTION_STATUSES)}"
            )
        for name in ("cost_usd", "duration_ms"):
            number = getattr(self, name)
            if (
                isinstance(number, bool)
                or not isinstance(number, (int, float))
                or not math.isfinite(number)
            ):
                raise ValidationError(
                    f"ExecutionResult.{name}={number!r}: expected a finite number"
                )


@attrs.frozen(kw_only=True)
class Verdict:
    """A verifier's judgement of one attempt."""

    kind: VerdictKind
    confidence: float = attrs.field(validator=_fraction("Verdict"))
    pending_recheck: bool = False
    signals: Mapping[str, Any] = attrs.field(factory=dict, validator=_json_mapping("Verdict"))
    reasons: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def __attrs_post_init__(self) -> None:
        if self.kind not in VERDICT_KINDS:
            raise ValidationError(
                f"Verdict.kind={self.kind!r}: expected one of {', '.join(VERDICT_KINDS)}"
            )
        if not isinstance(self.pending_recheck, bool):
            raise ValidationError(
                f"Verdict.pending_recheck={self.pending_recheck!r}: expected a bool"
            )
        if self.pending_recheck and self.kind != "inconclusive":
            raise ValidationError(
                "Verdict.pending_recheck is only allowed on an inconclusive verdict"
            )


@attrs.frozen(kw_only=True)
class RunView:
    """One execution of a proposal and its verification attempts."""

    id: str
    mode: Mode
    mode_reason: str
    execution_status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    attempts: int
    verdict: VerdictKind | None
    confidence: float | None
    pending_recheck: bool
    exhausted: bool
    next_recheck_at: datetime | None


@attrs.frozen(kw_only=True)
class ProposalView:
    """A proposal as the loop knows it now: its fields, its runs and its final verdict."""

    id: str
    title: str
    hypothesis: str
    status: str
    priority: float
    risk_level: RiskLevel
    confidence: float
    signature: str
    created_at: datetime
    origin_event_ids: tuple[str, ...]
    plan_steps: tuple[str, ...]
    expected_impact: str
    policy_arms: Mapping[str, str]
    patches: tuple[Patch, ...]
    metadata: Mapping[str, Any]
    verdict: VerdictKind | None
    verdict_confidence: float | None
    exhausted: bool
    runs: tuple[RunView, ...]


class Executor(Protocol):
    """Protocol: carries out a proposal in `safe` or `normal` mode."""

    def execute(self, proposal: ProposalView, mode: Mode) -> ExecutionResult: ...


class Probe(Protocol):
    """Protocol: measures the host's metrics, scoped to `proposal` if the host wishes."""

    def measure(self, proposal: ProposalView) -> Metrics: ...


class Verifier(Protocol):
    """Protocol: judges an attempt from the metrics before and after an execution."""

    def verify(self, before: Metrics, after: Metrics, execution: ExecutionResult) -> Verdict: ...


class Proposer(Protocol):
    """Protocol: turns an opportunity (learning events) into proposal drafts."""

    def propose(self, opportunity: Opportunity) -> Sequence[ProposalDraft]: ...
