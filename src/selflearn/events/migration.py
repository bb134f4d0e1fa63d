"""Proposals of the earlier system (schema v1): their rows, ids and upcast to v2.

A v1 row is stored as it was: the state of a `Proposal.Proposed` event with no
`class_version` key, whose top-level keys are the row's own. The import adds one key,
`V1_ENVELOPE`, holding the import time and any row field whose name the event store
itself uses (`originator_id`, `originator_version`, `class_version`), so that nothing of
the row is lost or misread. `upcast_v1_state` turns that state into the v2 event's
fields by the mapping table of docs/behaviour.md ("Migration from v1") each time the
proposal is loaded.

Pure functions and one aggregate; no I/O.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from selflearn.events.ids import PROPOSAL_NAMESPACE
from selflearn.events.rules import clamp01

IMPORT_NAMESPACE: Final = uuid5(NAMESPACE_URL, "selflearn/v1-import")

V1_ENVELOPE: Final = "__selflearn_v1_import__"
# Keys the mapper sets, pops or reads on load, and the envelope itself.
RESERVED_KEYS: Final = frozenset(
    {"originator_id", "originator_version", "class_version", V1_ENVELOPE}
)

DEFAULT_SCORE: Final = 5.0
MEDIUM_RISK_SCORE: Final = 6.0
SCORE_PER_PRIORITY: Final = 8.0
MIGRATED_CONFIDENCE: Final = 0.85
DEFAULT_TITLE: Final = "Migrated proposal"
DEFAULT_HYPOTHESIS: Final = "Migrated from v1 proposals"
DEFAULT_SOURCE: Final = "v1_migration"
MIGRATED_EVENT_TYPE: Final = "migrated_proposal"
MIGRATED_PLAN: Final = (
    "collect baseline",
    "apply isolated safe change",
    "run verification checks",
    "keep or roll back on evidence",
)
KEPT_STATUSES: Final = frozenset({"pending_approval", "approved", "verified", "rejected"})
RENAMED_STATUSES: Final = {"applied": "verified", "executed": "approved"}
# Only for a v1 event written without the import's envelope (never by selflearn).
UNKNOWN_IMPORT_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)


# -- ids -------------------------------------------------------------------------------


def v1_id_text(value: object) -> str | None:
    """A v1 id as text: a non-empty string as is, an integer in decimal; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


_V1_ID_PREFIX: Final = PROPOSAL_NAMESPACE.bytes + b"v1:"


def v1_proposal_id(v1_id: str) -> UUID:
    """The v2 proposal id of the v1 row with id `v1_id`: `uuid5(namespace, "v1:" + v1_id)`."""
    # uuid5 spelled out with the namespace's bytes computed once: imports make many ids.
    digest = hashlib.sha1(_V1_ID_PREFIX + v1_id.encode("utf-8")).digest()
    return UUID(bytes=digest[:16], version=5)


def v1_import_id(sha256: str) -> UUID:
    """The id of the record of a completed import of a v1 file with this content hash."""
    return uuid5(IMPORT_NAMESPACE, sha256)


# -- checking a row ----------------------------------------------------------------------


def json_kind(value: object) -> str:
    """The JSON name of `value`'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def a_json_kind(value: object) -> str:
    """`json_kind(value)` with its article: "an array", "a number"."""
    kind = json_kind(value)
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def check_v1_row(row: object) -> str | None:
    """Why `row` cannot be imported, or None when it can."""
    if not isinstance(row, dict):
        return f"the row is {a_json_kind(row)}, not an object"
    if row.get("id") is None:
        return "the row has no id"
    raw_id = row["id"]
    if isinstance(raw_id, str) and not raw_id.strip():
        return "the row has an empty id"
    if v1_id_text(raw_id) is None:
        return f"the id {raw_id!r} is {a_json_kind(raw_id)}, not a string or an integer"
    score = raw_score(row)
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            return f"source_item.score {score!r} is not a number"
        try:
            finite = math.isfinite(float(score))
        except OverflowError:
            finite = False
        if not finite:
            return f"source_item.score {score!r} is not a finite number"
    if _json_safe(row):
        return None
    return _check_values(row, "")


def _json_safe(value: Any) -> bool:
    """Whether JSON text can carry `value` (the quick test; `_check_values` says why not)."""
    kind = type(value)
    if kind is str:
        return value.isascii() or _check_text(value, "") is None
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        for key, item in value.items():
            if not (key.isascii() or _check_text(key, "") is None) or not _json_safe(item):
                return False
    elif kind is list:
        for item in value:
            if not _json_safe(item):
                return False
    return True


def _check_values(value: object, path: str) -> str | None:
    """Why a value inside a row cannot be stored as JSON text, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path or 'the row'} holds {value!r}, which JSON cannot carry"
    if isinstance(value, str):
        return _check_text(value, path)
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = _check_values(item, f"{path}[{i}]")
            if problem:
                return problem
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            problem = _check_text(key, f"the key of {where}") or _check_values(item, where)
            if problem:
                return problem
    return None


def _check_text(text: str, path: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{path} is not valid Unicode text (it holds a lone surrogate)"
    return None


# -- the mapping table (docs/behaviour.md, "Migration from v1") ---------------------------


def raw_score(row: Mapping[str, Any]) -> Any:
    """`source_item.score` as the row has it (None when the row gives none)."""
    item = row.get("source_item")
    if isinstance(item, dict):
        return item.get("score")
    return None


def v1_score(row: Mapping[str, Any]) -> float:
    """The row's score: a missing or null score is 5.0; an explicit 0 stays 0."""
    score = raw_score(row)
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        return DEFAULT_SCORE
    try:
        value = float(score)
    except OverflowError:
        return DEFAULT_SCORE
    return value if math.isfinite(value) else DEFAULT_SCORE


def v2_status(status: object) -> str:
    """Kept if v2 knows it; `applied` → verified; `executed` → approved; else pending."""
    if isinstance(status, str):
        if status in KEPT_STATUSES:
            return status
        if status in RENAMED_STATUSES:
            return RENAMED_STATUSES[status]
    return "pending_approval"


def risk_of_score(score: float) -> str:
    return "medium" if score >= MEDIUM_RISK_SCORE else "low"


def priority_of_score(score: float) -> float:
    return clamp01(score / SCORE_PER_PRIORITY)


def created_at(value: object, imported_at: datetime) -> datetime:
    """`created` as an aware UTC time (a naive one is UTC); the import time without one."""
    if not isinstance(value, str) or not value.strip():
        return imported_at
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return imported_at


def _text(value: object, default: str) -> str:
    """`value or default`, as text: a non-text value is written as JSON."""
    if not value:
        return default
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def v2_fields(row: Mapping[str, Any], imported_at: datetime) -> dict[str, Any]:
    """The v2 `Proposal.Proposed` fields of a v1 row by the mapping table, keeping the row."""
    v1_id = v1_id_text(row.get("id")) or ""
    score = v1_score(row)
    item = row.get("source_item")
    source = item.get("source") if isinstance(item, dict) else None
    return {
        "at": created_at(row.get("created"), imported_at),
        "title": _text(row.get("title"), DEFAULT_TITLE),
        "hypothesis": _text(row.get("description"), DEFAULT_HYPOTHESIS),
        "plan_steps": list(MIGRATED_PLAN),
        "expected_impact": _text(row.get("expected_impact"), f"score={score:.2f}"),
        "risk_level": risk_of_score(score),
        "confidence": MIGRATED_CONFIDENCE,
        "priority": priority_of_score(score),
        "signature": "mig_" + v1_id,
        "metadata": {
            "source": source if isinstance(source, str) and source else DEFAULT_SOURCE,
            "event_type": MIGRATED_EVENT_TYPE,
            "migrated_from_v1_id": v1_id,
            "v1_row": dict(row),
        },
        "patches": [],
        "origin_event_ids": ["mig_" + v1_id],
        "status": v2_status(row.get("status")),
    }


# -- the stored state and the upcaster -----------------------------------------------------


def v1_stored_state(row: Mapping[str, Any], imported_at: datetime) -> dict[str, Any]:
    """The state to store for `row`: the row itself, plus the import's envelope."""
    if RESERVED_KEYS.isdisjoint(row):
        reserved: dict[str, Any] = {}
        state = dict(row)
    else:
        reserved = {key: row[key] for key in row if key in RESERVED_KEYS}
        state = {key: value for key, value in row.items() if key not in reserved}
    state[V1_ENVELOPE] = {"imported_at": imported_at, "reserved_fields": reserved}
    return state


def v1_row_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """The v1 row kept in a stored state (before or after the mapper added its keys)."""
    row = {key: value for key, value in state.items() if key not in RESERVED_KEYS}
    envelope = state.get(V1_ENVELOPE)
    if isinstance(envelope, dict):
        reserved = envelope.get("reserved_fields")
        if isinstance(reserved, dict):
            row.update(reserved)
    return row


def import_time_of(state: Mapping[str, Any]) -> datetime | None:
    """The import time kept in a stored v1 state, if it has one."""
    envelope = state.get(V1_ENVELOPE)
    moment = envelope.get("imported_at") if isinstance(envelope, dict) else None
    return moment if isinstance(moment, datetime) else None


def upcast_v1_state(state: dict[str, Any], *, aggregate_topic: str) -> None:
    """Turn a stored v1 state (as the mapper hands it over) into the v2 event's state."""
    imported_at = import_time_of(state) or UNKNOWN_IMPORT_TIME
    row = v1_row_of(state)
    envelope = {
        "originator_id": state["originator_id"],
        "originator_version": state["originator_version"],
        "originator_topic": aggregate_topic,
        # The event was recorded when it was imported, by the importing loop's clock.
        "timestamp": imported_at,
    }
    state.clear()
    state.update(envelope)
    state.update(v2_fields(row, imported_at))


# -- the record of a completed import ------------------------------------------------------


class V1Import(Aggregate):
    """A completed import of one v1 file, by its content hash; rows skipped are kept here."""

    class Event(Aggregate.Event):
        """The base of this aggregate's events (declared here, so that eventsourcing need
        not redefine each event class under it)."""

    class Imported(Event, Aggregate.Created):
        at: datetime
        source: str
        sha256: str
        found: int
        migrated: int
        already_present: int
        skipped: list[dict[str, Any]]
        errors: list[str]

    @event(Imported)
    def __init__(
        self,
        *,
        id: UUID,
        at: datetime,
        source: str,
        sha256: str,
        found: int,
        migrated: int,
        already_present: int,
        skipped: list[dict[str, Any]],
        errors: list[str],
    ) -> None:
        self.at = at
        self.source = source
        self.sha256 = sha256
        self.found = found
        self.migrated = migrated
        self.already_present = already_present
        self.skipped = list(skipped)
        self.errors = list(errors)
