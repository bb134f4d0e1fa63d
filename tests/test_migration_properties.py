"""Property: any v1 row that has an id round-trips through the log and follows the mapping."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import selflearn as sl
from selflearn.events.migration import (
    upcast_v1_state,
    v1_proposal_id,
    v1_row_of,
    v1_stored_state,
)
from selflearn.migrate import raw_state
from selflearn.testing import FakeClock
from tests.conftest import app_of
from tests.strategies import v1_rows

IMPORTED_AT = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
KEPT = ("pending_approval", "approved", "verified", "rejected")


def expected_v2(row: dict[str, Any], imported_at: datetime) -> dict[str, Any]:
    """The mapping table, written out once more, independently of the upcaster."""
    item = row.get("source_item")
    raw = item.get("score") if isinstance(item, dict) else None
    score = 5.0 if raw is None else float(raw)
    status = row.get("status")
    if isinstance(status, str) and status in KEPT:
        v2_status = status
    elif status == "applied":
        v2_status = "verified"
    elif status == "executed":
        v2_status = "approved"
    else:
        v2_status = "pending_approval"
    created = row.get("created")
    try:
        at = datetime.fromisoformat(created.strip()) if isinstance(created, str) else imported_at
    except ValueError:
        at = imported_at
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)

    def text(value: Any, default: str) -> str:
        if not value:
            return default
        return (
            value
            if isinstance(value, str)
            else json.dumps(value, sort_keys=True, ensure_ascii=False)
        )

    v1_id = str(row["id"])
    source = item.get("source") if isinstance(item, dict) else None
    return {
        "created_at": at,
        "origin_event_ids": ("mig_" + v1_id,),
        "title": text(row.get("title"), "Migrated proposal"),
        "hypothesis": text(row.get("description"), "Migrated from v1 proposals"),
        "plan_steps": (
            "collect baseline",
            "apply isolated safe change",
            "run verification checks",
            "keep or roll back on evidence",
        ),
        "expected_impact": text(row.get("expected_impact"), f"score={score:.2f}"),
        "risk_level": "medium" if score >= 6.0 else "low",
        "status": v2_status,
        "confidence": 0.85,
        "priority": min(1.0, max(0.0, score / 8)),
        "signature": "mig_" + v1_id,
        "metadata": {
            "source": source if isinstance(source, str) and source else "v1_migration",
            "event_type": "migrated_proposal",
            "migrated_from_v1_id": v1_id,
            "v1_row": row,
        },
    }


def as_json_text(fields: dict[str, Any]) -> Any:
    """Compare text fields as JSON would write them (key order and escapes aside)."""
    return {k: json.loads(json.dumps(v, default=str, sort_keys=True)) for k, v in fields.items()}


@given(row=v1_rows())
def test_upcasting_a_stored_row_follows_the_table(row: dict[str, Any]) -> None:
    """The upcaster turns any stored v1 row into the v2 fields of the table, row kept."""
    state = v1_stored_state(row, IMPORTED_AT)
    assert row == v1_row_of(state)
    state.update(originator_id=v1_proposal_id(str(row["id"])), originator_version=1)
    upcast_v1_state(state, aggregate_topic="selflearn.events.proposal:Proposal")
    expected = expected_v2(row, IMPORTED_AT)
    actual = {
        "created_at": state["at"],
        **{k: state[k] for k in expected if k != "created_at"},
    }
    actual["origin_event_ids"] = tuple(actual["origin_event_ids"])
    actual["plan_steps"] = tuple(actual["plan_steps"])
    assert as_json_text(expected) == as_json_text(actual)
    assert row == actual["metadata"]["v1_row"]
    assert (IMPORTED_AT, 1) == (state["timestamp"], state["originator_version"])


@given(rows=st.lists(v1_rows(), max_size=4, unique_by=lambda row: str(row["id"])))
def test_imported_rows_round_trip_through_the_log(rows: list[dict[str, Any]]) -> None:
    """Every field of every row with an id is recoverable from the log; v2 follows the table."""
    clock = FakeClock(IMPORTED_AT)
    with (
        tempfile.TemporaryDirectory() as directory,
        sl.LearningLoop("memory://", flags=sl.Flags(), clock=clock, _import_v1=False) as loop,
    ):
        path = Path(directory) / "v1.json"
        path.write_text(json.dumps({"proposals": rows}))
        report = loop.migrate_v1(path)
        assert (len(rows), len(rows), ()) == (report.found, report.migrated, report.skipped)
        for row in rows:
            uid = v1_proposal_id(str(row["id"]))
            (stored,) = app_of(loop).recorder.select_events(uid)
            assert row == v1_row_of(raw_state(app_of(loop), stored))
            view = loop.proposal(str(uid))
            expected = expected_v2(row, IMPORTED_AT)
            actual = {k: getattr(view, k) for k in expected}
            assert as_json_text(expected) == as_json_text(actual)
            assert row == view.metadata["v1_row"]
