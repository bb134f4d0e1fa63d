"""Import of v1 proposals: the mapping table, bad input, idempotence, start-up.

Rows are imported through `LearningLoop.migrate_v1`, then read back as the loop sees
them (upcast to v2 on load) and as they were stored (a schema v1 event).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest

import selflearn as sl
from selflearn.events.migration import V1_ENVELOPE, v1_proposal_id
from selflearn.migrate import raw_state
from selflearn.testing.fakes import DEFAULT_START, FakeClock
from tests.conftest import BackendCase, Harness, app_of

MakeHarness = Callable[..., Harness]
PLAN = [
    "collect baseline",
    "apply isolated safe change",
    "run verification checks",
    "keep or roll back on evidence",
]


def write_v1(path: Path, rows: Sequence[Any]) -> Path:
    path.write_text(json.dumps({"proposals": list(rows)}))
    return path


def position(loop: sl.LearningLoop) -> int:
    return app_of(loop).recorder.max_notification_id() or 0


def pid(v1_id: str) -> str:
    return str(v1_proposal_id(v1_id))


@pytest.fixture
def loop() -> Any:
    with sl.LearningLoop("memory://", flags=sl.Flags(), clock=FakeClock()) as loop:
        yield loop


def imported(loop: sl.LearningLoop, tmp_path: Path, row: dict[str, Any]) -> sl.ProposalView:
    report = loop.migrate_v1(write_v1(tmp_path / "v1.json", [row]))
    assert (1, 1, ()) == (report.found, report.migrated, report.skipped)
    return loop.proposal(pid(str(row["id"])))


# -- the mapping table, row by row ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "score", "v2_status", "risk", "priority"),
    [
        ("applied", 7.5, "verified", "medium", 0.9375),
        ("approved", 5, "approved", "low", 0.625),
        ("pending_approval", 4, "pending_approval", "low", 0.5),
        ("verified", 6.0, "verified", "medium", 0.75),
        ("rejected", 5.99, "rejected", "low", 5.99 / 8),
        ("executed", 8, "approved", "medium", 1.0),
        ("on_hold", 10, "pending_approval", "medium", 1.0),
        ("APPROVED", 2, "pending_approval", "low", 0.25),
        (None, 0, "pending_approval", "low", 0.0),
        (3, -2, "pending_approval", "low", 0.0),
    ],
)
def test_status_risk_and_priority(
    loop: sl.LearningLoop,
    tmp_path: Path,
    status: Any,
    score: float,
    v2_status: str,
    risk: str,
    priority: float,
) -> None:
    """Status is kept, renamed or pending; risk is medium from 6.0; priority clamp01(score/8)."""
    row = {"id": "p-1", "title": "Cache", "status": status, "source_item": {"score": score}}
    view = imported(loop, tmp_path, row)
    assert (v2_status, risk, priority) == (view.status, view.risk_level, view.priority)


@pytest.mark.parametrize(
    "source_item",
    [None, {}, {"score": None}, {"source": "monitor"}, "not an object", [7.5]],
)
def test_a_missing_or_null_score_is_five(
    loop: sl.LearningLoop, tmp_path: Path, source_item: Any
) -> None:
    """A missing or null score is 5.0: priority 0.625, risk low, impact "score=5.00"."""
    row: dict[str, Any] = {"id": "p-1"}
    if source_item is not None:
        row["source_item"] = source_item
    view = imported(loop, tmp_path, row)
    assert (0.625, "low", "score=5.00") == (view.priority, view.risk_level, view.expected_impact)


def test_an_explicit_zero_score_stays_zero(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """An explicit score 0 gives priority 0 and "score=0.00", not the default 5.0."""
    view = imported(loop, tmp_path, {"id": "z", "source_item": {"score": 0}})
    assert (0.0, "low", "score=0.00") == (view.priority, view.risk_level, view.expected_impact)


def test_every_v2_field_of_a_full_row(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """A full row maps field by field as the mapping table says, keeping the row verbatim."""
    row = {
        "id": "prop_017",
        "title": "Retry flaky web_search",
        "description": "Timeouts cluster at peak hours",
        "status": "applied",
        "created": "2025-03-01T10:00:00",
        "expected_impact": "fewer timeouts",
        "source_item": {"score": 7.5, "source": "tool_monitor"},
        "owner": "ops",
    }
    view = imported(loop, tmp_path, row)
    assert pid("prop_017") == view.id
    assert datetime(2025, 3, 1, 10, tzinfo=UTC) == view.created_at
    assert ("mig_prop_017",) == view.origin_event_ids
    assert ("Retry flaky web_search", "Timeouts cluster at peak hours") == (
        view.title,
        view.hypothesis,
    )
    assert tuple(PLAN) == view.plan_steps
    assert "fewer timeouts" == view.expected_impact
    assert ("medium", "verified", 0.85, 0.9375) == (
        view.risk_level,
        view.status,
        view.confidence,
        view.priority,
    )
    assert "mig_prop_017" == view.signature
    assert {
        "source": "tool_monitor",
        "event_type": "migrated_proposal",
        "migrated_from_v1_id": "prop_017",
        "v1_row": row,
    } == view.metadata
    assert ((), {}, (), None) == (view.patches, view.policy_arms, view.runs, view.verdict)


def test_defaults_of_an_id_only_row(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """An id alone gets the table's defaults; created falls back to the import time."""
    view = imported(loop, tmp_path, {"id": 42})
    assert pid("42") == view.id
    assert ("Migrated proposal", "Migrated from v1 proposals") == (view.title, view.hypothesis)
    assert (DEFAULT_START, "pending_approval") == (view.created_at, view.status)
    assert ("v1_migration", "42") == (
        view.metadata["source"],
        view.metadata["migrated_from_v1_id"],
    )


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2025-03-01T10:00:00", datetime(2025, 3, 1, 10, tzinfo=UTC)),
        ("2025-03-01T12:00:00+02:00", datetime(2025, 3, 1, 10, tzinfo=UTC)),
        ("2025-03-01T10:00:00Z", datetime(2025, 3, 1, 10, tzinfo=UTC)),
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ("yesterday", DEFAULT_START),
        ("", DEFAULT_START),
        (1740823200, DEFAULT_START),
        (None, DEFAULT_START),
    ],
)
def test_created_at(
    loop: sl.LearningLoop, tmp_path: Path, created: Any, expected: datetime
) -> None:
    """created_at is `created` (a naive time is UTC), else the import time."""
    view = imported(loop, tmp_path, {"id": "c", "created": created})
    assert expected == view.created_at


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "Migrated proposal"), (0, "Migrated proposal"), (7, "7"), (["a", 1], '["a", 1]')],
)
def test_a_title_that_is_not_text(
    loop: sl.LearningLoop, tmp_path: Path, value: Any, expected: str
) -> None:
    """`title or "Migrated proposal"`; a value that is not text is kept as JSON text."""
    assert expected == imported(loop, tmp_path, {"id": "t", "title": value}).title


def test_the_import_time_is_the_loops_clock(tmp_path: Path) -> None:
    """Rows without `created` are dated by the loop's clock when they were imported."""
    clock = FakeClock()
    with sl.LearningLoop("memory://", flags=sl.Flags(), clock=clock) as loop:
        clock.advance(days=3)
        loop.migrate_v1(write_v1(tmp_path / "v1.json", [{"id": "a"}]))
        clock.advance(days=3)
        assert DEFAULT_START + timedelta(days=3) == loop.proposal(pid("a")).created_at


# -- what is stored ------------------------------------------------------------------------


@pytest.mark.parametrize("v1_id", ["prop_017", "42", "é ünïcode", " padded "])
def test_the_proposal_id_is_uuid5_of_v1_and_the_id(v1_id: str) -> None:
    """The id is uuid5(uuid5(URL, "selflearn/proposal"), "v1:" + id): fixed forever."""
    namespace = uuid5(NAMESPACE_URL, "selflearn/proposal")
    assert uuid5(namespace, "v1:" + v1_id) == v1_proposal_id(v1_id)


def test_rows_are_stored_as_schema_v1_events(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """Each row is version 1 of a Proposal.Proposed stream, its state the row, no class_version."""
    row = {"id": "p-1", "title": "Cache", "status": "applied", "mystery": [1, {"x": None}]}
    loop.migrate_v1(write_v1(tmp_path / "v1.json", [row]))
    (stored,) = app_of(loop).recorder.select_events(v1_proposal_id("p-1"))
    assert (1, "selflearn.events.proposal:Proposal.Proposed") == (
        stored.originator_version,
        stored.topic,
    )
    state = json.loads(stored.state)
    assert "class_version" not in state
    assert row == {k: v for k, v in state.items() if k != V1_ENVELOPE}
    assert {"imported_at", "reserved_fields"} == set(state[V1_ENVELOPE])


def test_fields_the_store_reserves_are_kept(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """Row fields named like the store's own keys, or like its tagged values, come back intact."""
    row = {
        "id": "odd",
        "class_version": 2,
        "originator_id": "abc",
        "originator_version": 9,
        "originator_topic": "x:Y",
        "timestamp": "then",
        V1_ENVELOPE: {"imported_at": "spoof"},
        "payload": {"_type_": "datetime_iso", "_data_": {"_type_": 1, "_data_": [None]}},
        "status": "approved",
    }
    view = imported(loop, tmp_path, row)
    assert row == view.metadata["v1_row"]
    assert ("approved", DEFAULT_START) == (view.status, view.created_at)
    (stored,) = app_of(loop).recorder.select_events(v1_proposal_id("odd"))
    assert "class_version" not in json.loads(stored.state)
    assert row["payload"] == raw_state(app_of(loop), stored)["payload"]


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"proposals": [', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'[{"id": "a"}]', "holds an array at the top level"),
        (b'"proposals"', "holds a string at the top level"),
        (b'{"items": []}', 'has no "proposals" list'),
        (b'{"proposals": {"id": "a"}}', '"proposals" is an object, expected an array'),
        (b'{"proposals": null}', '"proposals" is a null'),
        (b'{"proposals": [{"id": "\xff"}]}', "not UTF-8"),
    ],
)
def test_a_bad_file_is_an_error_and_records_nothing(
    loop: sl.LearningLoop, tmp_path: Path, content: bytes, fragment: str
) -> None:
    """A file-level problem raises ValidationError naming the file; nothing is recorded."""
    path = tmp_path / "v1.json"
    path.write_bytes(content)
    before = position(loop)
    for dry_run in (False, True):
        with pytest.raises(sl.ValidationError, match=fragment) as caught:
            loop.migrate_v1(path, dry_run=dry_run)
        assert str(path) in str(caught.value)
    assert before == position(loop)


@pytest.mark.parametrize("make_path", [lambda d: d / "missing.json", lambda d: d])
def test_an_unreadable_file_is_an_error(
    loop: sl.LearningLoop, tmp_path: Path, make_path: Callable[[Path], Path]
) -> None:
    """A missing file or a directory cannot be read: ValidationError, nothing recorded."""
    with pytest.raises(sl.ValidationError, match="cannot read the v1 store"):
        loop.migrate_v1(make_path(tmp_path))
    assert 0 == position(loop)


def test_bad_rows_are_skipped_with_their_reasons(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """Row-level problems skip the row, with its index, id and reason; good rows go in."""
    rows: list[Any] = [
        {"id": "good", "status": "approved"},
        {"id": "", "title": "empty id"},
        {"id": "   "},
        {"title": "no id"},
        {"id": None},
        7,
        ["id", "x"],
        {"id": True},
        {"id": 1.5},
        {"id": "s", "source_item": {"score": "high"}},
        {"id": "b", "source_item": {"score": True}},
        {"id": "big", "source_item": {"score": 10**400}},
        {"id": "good"},
        {"id": "good2", "source_item": {"score": 3}},
    ]
    report = loop.migrate_v1(write_v1(tmp_path / "v1.json", rows))
    assert (14, 2, 0) == (report.found, report.migrated, report.already_present)
    reasons = {row.index: (row.id, row.reason) for row in report.skipped}
    assert {
        1: ("", "the row has an empty id"),
        2: ("   ", "the row has an empty id"),
        3: (None, "the row has no id"),
        4: (None, "the row has no id"),
        5: (None, "the row is a number, not an object"),
        6: (None, "the row is an array, not an object"),
        7: ("true", "the id True is a boolean, not a string or an integer"),
        8: ("1.5", "the id 1.5 is a number, not a string or an integer"),
        9: ("s", "source_item.score 'high' is not a number"),
        10: ("b", "source_item.score True is not a number"),
        11: ("big", f"source_item.score {10**400!r} is not a finite number"),
        12: ("good", "the id 'good' repeats proposals[0]"),
    } == reasons
    assert ["good", "good2"] == [p.metadata["migrated_from_v1_id"] for p in loop.proposals()]


def test_values_json_cannot_carry_skip_the_row(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """NaN, Infinity and lone surrogates (which Python's json reads) skip their row."""
    path = tmp_path / "v1.json"
    path.write_text(
        '{"proposals": [{"id": "n", "x": NaN}, {"id": "i", "source_item": {"score": Infinity}},'
        ' {"id": "u", "t": "\\ud800"}, {"id": "k", "m": {"\\udfff": 1}}, {"id": "ok"}]}'
    )
    report = loop.migrate_v1(path)
    assert 1 == report.migrated
    assert [
        "x holds nan, which JSON cannot carry",
        "source_item.score inf is not a finite number",
        "t is not valid Unicode text (it holds a lone surrogate)",
        "the key of m.\\udfff is not valid Unicode text (it holds a lone surrogate)",
    ] == [row.reason for row in report.skipped]
    json.dumps(report.to_dict()).encode("utf-8")  # the report itself is printable


# -- idempotence, dry runs, changed files ---------------------------------------------------

ROWS = [
    {"id": "a", "status": "applied", "source_item": {"score": 7.5}},
    {"id": "b", "status": "approved", "source_item": {"score": 5}},
    {"id": "", "title": "skipped"},
]


def test_a_second_import_migrates_nothing(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """Importing the same file again records nothing: every row is already present."""
    path = write_v1(tmp_path / "v1.json", ROWS)
    first = loop.migrate_v1(path)
    after_first = position(loop)
    second = loop.migrate_v1(path)
    assert (2, 0, 1) == (first.migrated, first.already_present, len(first.skipped))
    assert (0, 2, 1, ()) == (
        second.migrated,
        second.already_present,
        len(second.skipped),
        second.errors,
    )
    assert after_first == position(loop)
    assert 2 == len(loop.proposals())


def test_a_dry_run_records_nothing_and_tells_what_would_happen(
    loop: sl.LearningLoop, tmp_path: Path
) -> None:
    """A dry run reports what the import would do and records nothing, before and after."""
    path = write_v1(tmp_path / "v1.json", ROWS)
    dry = loop.migrate_v1(path, dry_run=True)
    assert 0 == position(loop)
    real = loop.migrate_v1(path)
    assert (True, 2, 0) == (dry.dry_run, dry.migrated, dry.already_present)
    assert (dry.skipped, dry.found) == (real.skipped, real.found)
    at = position(loop)
    again = loop.migrate_v1(path, dry_run=True)
    assert (0, 2) == (again.migrated, again.already_present)
    assert at == position(loop)


def test_rows_added_later_are_imported_and_changed_rows_reported(
    loop: sl.LearningLoop, tmp_path: Path
) -> None:
    """A later file imports its new rows; a row changed since is an error, the first kept."""
    path = write_v1(tmp_path / "v1.json", ROWS[:2])
    loop.migrate_v1(path)
    changed = {**ROWS[1], "title": "edited"}
    report = loop.migrate_v1(write_v1(path, [ROWS[0], changed, {"id": "c"}]))
    assert (1, 2) == (report.migrated, report.already_present)
    assert (
        "proposals[1] (id 'b'): already imported with different content; "
        "the log keeps the first import",
    ) == report.errors
    assert "Migrated proposal" == loop.proposal(pid("b")).title


def test_the_report_as_json(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """to_dict() is plain JSON with the counts, skipped rows and errors."""
    path = write_v1(tmp_path / "v1.json", ROWS)
    data = loop.migrate_v1(path).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert {
        "source": str(path),
        "dry_run": False,
        "found": 3,
        "migrated": 2,
        "already_present": 0,
        "skipped": [{"index": 2, "id": "", "reason": "the row has an empty id"}],
        "errors": [],
    } == {k: v for k, v in data.items() if k != "sha256"}


def test_a_completed_import_is_recorded(loop: sl.LearningLoop, tmp_path: Path) -> None:
    """A completed import is recorded once per file content, with its counts and skips."""
    path = write_v1(tmp_path / "v1.json", ROWS)
    report = loop.migrate_v1(path)
    loop.migrate_v1(path)
    (record,) = [
        app_of(loop).mapper.to_domain_event(n)
        for n in app_of(loop).recorder.select_notifications(start=None, limit=100)
        if n.topic.endswith("V1Import.Imported")
    ]
    assert (report.sha256, 3, 2, 0, str(path.resolve())) == (
        record.sha256,
        record.found,
        record.migrated,
        record.already_present,
        record.source,
    )
    assert [{"index": 2, "id": "", "reason": "the row has an empty id"}] == record.skipped


# -- the import when a loop starts ----------------------------------------------------------


def start(url: str, path: Path | str, **kwargs: Any) -> sl.LearningLoop:
    flags = kwargs.pop("flags", {})
    return sl.LearningLoop(
        url, flags=sl.Flags(selflearn_v1_store=str(path), **flags), clock=FakeClock(), **kwargs
    )


def test_the_v1_path_is_a_flag() -> None:
    """SELFLEARN_V1_STORE sets the v1 file; the documented path by default; not a recorded flag."""
    assert "data/memory/improvement_proposals.json" == sl.Flags.from_env({}).selflearn_v1_store
    flags = sl.Flags.from_env({"SELFLEARN_V1_STORE": " /srv/v1.json "})
    assert "/srv/v1.json" == flags.selflearn_v1_store
    assert "selflearn_v1_store" not in flags.recorded()
    with pytest.raises(sl.ConfigError, match="SELFLEARN_V1_STORE"):
        sl.Flags(selflearn_v1_store=3)


def test_a_loop_imports_the_v1_file_once_when_it_starts(tmp_path: Path) -> None:
    """The first start imports the file; later starts record nothing; new rows come in later."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    path = write_v1(tmp_path / "v1.json", ROWS)
    with start(url, path) as loop:
        assert {pid("a"), pid("b")} == {p.id for p in loop.proposals()}
        at = position(loop)
    with start(url, path) as loop:
        assert at == position(loop)
    write_v1(path, [*ROWS, {"id": "c"}])
    with start(url, path) as loop:
        assert 3 == len(loop.proposals())


@pytest.mark.parametrize(
    "kwargs",
    [{"flags": {"enable_proposal_v2": False}}, {"_import_v1": False}],
)
def test_no_import_at_start_when_off(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    """With ENABLE_PROPOSAL_V2 off, or `_import_v1=False`, a start records nothing."""
    path = write_v1(tmp_path / "v1.json", ROWS)
    with start("memory://", path, **kwargs) as loop:
        assert 0 == position(loop)


@pytest.mark.parametrize("name", ["", "missing.json", "."])
def test_no_file_no_import(tmp_path: Path, name: str) -> None:
    """No path, no file, or a directory there: the loop starts and records nothing."""
    with start("memory://", tmp_path / name if name else "") as loop:
        assert 0 == position(loop)


def test_a_bad_file_stops_the_start(tmp_path: Path) -> None:
    """A malformed v1 file at the configured path is an error at start; nothing is recorded."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    path = tmp_path / "v1.json"
    path.write_text("{not json")
    with pytest.raises(sl.ValidationError, match="not valid JSON"):
        start(url, path)
    with start(url, path, _import_v1=False) as loop:
        assert 0 == position(loop)


# -- migrated proposals in the loop, on every backend ----------------------------------------


class TestMigratedProposal(BackendCase):
    def test_an_approved_row_is_executed_and_verified(self, h: Harness, tmp_path: Path) -> None:
        """A migrated approved proposal is executed on the next cycle and verified."""
        h.executor.effects["Cache search results"] = {"health_score": 2.0}
        rows = [
            {"id": "ok", "title": "Cache search results", "status": "approved"},
            {"id": "done", "title": "Old change", "status": "applied"},
            {"id": "ran", "title": "Rerun me", "status": "executed"},
        ]
        report = h.loop.migrate_v1(write_v1(tmp_path / "v1.json", rows))
        assert 3 == report.migrated
        result = h.loop.tick()
        assert (2, 1) == (result.executed, result.wins)
        assert {pid("ok"), pid("ran")} == {call[0] for call in h.executor.calls}
        view = h.loop.proposal(pid("ok"))
        assert ("verified", "win", 1) == (view.status, view.verdict, len(view.runs))
        assert ("verified", ()) == (
            h.loop.proposal(pid("done")).status,
            h.loop.proposal(pid("done")).runs,
        )

    def test_a_pending_row_is_auto_approved_or_waits(self, h: Harness, tmp_path: Path) -> None:
        """A migrated pending proposal is auto-approved by its priority, like any other."""
        rows = [
            {"id": "hi", "status": "pending_approval", "source_item": {"score": 7.5}},
            {"id": "lo", "status": "pending_approval", "source_item": {"score": 2}},
        ]
        h.loop.migrate_v1(write_v1(tmp_path / "v1.json", rows))
        report = h.loop.tick()
        assert (1, 1) == (report.approved, report.executed)
        assert "pending_approval" == h.loop.proposal(pid("lo")).status
        h.loop.reject(pid("lo"), reason="obsolete after the migration")
        assert "rejected" == h.loop.proposal(pid("lo")).status

    def test_a_second_import_on_this_backend(self, h: Harness, tmp_path: Path) -> None:
        """On every backend, a second import of the same file migrates nothing."""
        path = write_v1(tmp_path / "v1.json", ROWS)
        assert 2 == h.loop.migrate_v1(path).migrated
        again = h.loop.migrate_v1(path)
        assert (0, 2) == (again.migrated, again.already_present)
        assert 2 == len(h.events("Proposal.Proposed"))
