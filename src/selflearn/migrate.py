"""Import of a v1 proposals file: read, check, record each row once, report.

Each accepted row is written as it was — a stored `Proposal.Proposed` event of schema
version 1 — and `Proposal.Proposed.upcast_v1_v2` turns it into the v2 shape on every
load. The application's mapper stamps the class version of the event it encodes, so a
row is encoded through it as a `_V1Row`, a plain class without one, and the stored event
then takes `Proposal.Proposed`'s topic (`stored_v1_event`). Rows are inserted in
batches: a batch that conflicts (another process, or an earlier import, recorded some
of its rows) is narrowed to the rows not yet present and written again, so each row is
recorded exactly once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import attrs
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic

from selflearn.events.migration import (
    V1_ENVELOPE,
    V1Import,
    a_json_kind,
    check_v1_row,
    v1_id_text,
    v1_import_id,
    v1_proposal_id,
    v1_row_of,
    v1_stored_state,
)
from selflearn.events.proposal import Proposal
from selflearn.exceptions import ValidationError
from selflearn.reports import _Plain
from selflearn.session import Session
from selflearn.store import escape_tagged_objects

BATCH_SIZE: Final = 500
PROPOSED_TOPIC: Final = get_topic(Proposal.Proposed)


@attrs.frozen(kw_only=True)
class SkippedRow(_Plain):
    """A row of the v1 file that was not imported, and why (`index` in `proposals`)."""

    index: int
    id: str | None
    reason: str


@attrs.frozen(kw_only=True)
class MigrationReport(_Plain):
    """What an import of a v1 file did (or, for a dry run, would do).

    `found` rows = `migrated` + `already_present` + `len(skipped)`. `errors` names rows
    already imported whose content in the file has changed since: the log keeps the
    first import, as it was.
    """

    source: str
    sha256: str
    dry_run: bool
    found: int
    migrated: int
    already_present: int
    skipped: tuple[SkippedRow, ...] = ()
    errors: tuple[str, ...] = ()


@attrs.frozen
class V1File:
    """A v1 file read and checked at the file level: its path, content hash and rows."""

    path: Path
    sha256: str
    rows: list[Any]


@attrs.frozen
class _Candidate:
    index: int
    v1_id: str
    proposal_id: UUID
    row: dict[str, Any]


def read_v1_file(path: str | os.PathLike[str]) -> V1File:
    """Read `path` as a v1 store, or raise `ValidationError` saying what is wrong with it."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read the v1 store {source}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"the v1 store {source} is not UTF-8 text: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"the v1 store {source} is not valid JSON: {exc.msg} "
            f"at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise ValidationError(f"the v1 store {source} is nested too deeply to read") from None
    if not isinstance(document, dict):
        raise ValidationError(
            f"the v1 store {source} holds {a_json_kind(document)} at the top level, "
            'expected an object {"proposals": [...]}'
        )
    if "proposals" not in document:
        raise ValidationError(f'the v1 store {source} has no "proposals" list')
    rows = document["proposals"]
    if not isinstance(rows, list):
        raise ValidationError(
            f'the v1 store {source}: "proposals" is {a_json_kind(rows)}, expected an array'
        )
    return V1File(path=source, sha256=hashlib.sha256(data).hexdigest(), rows=rows)


def _printable(text: str) -> str:
    """`text` with any lone surrogate escaped, so that it can be printed and encoded."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def plan_rows(rows: Sequence[Any]) -> tuple[list[_Candidate], list[SkippedRow]]:
    """The rows to import, and those skipped with their reasons (a repeated id included)."""
    candidates: list[_Candidate] = []
    skipped: list[SkippedRow] = []
    first_index: dict[UUID, int] = {}
    for index, row in enumerate(rows):
        problem = check_v1_row(row)
        raw_id = row.get("id") if isinstance(row, dict) else None
        text_id = v1_id_text(raw_id)
        if problem is not None:
            shown = text_id
            if shown is None and raw_id is not None:
                shown = raw_id if isinstance(raw_id, str) else json.dumps(raw_id)
            skipped.append(
                SkippedRow(
                    index=index,
                    id=None if shown is None else _printable(shown),
                    reason=_printable(problem),
                )
            )
            continue
        assert text_id is not None
        assert isinstance(row, dict)
        pid = v1_proposal_id(text_id)
        if pid in first_index:
            reason = f"the id {text_id!r} repeats proposals[{first_index[pid]}]"
            skipped.append(SkippedRow(index=index, id=text_id, reason=reason))
            continue
        first_index[pid] = index
        candidates.append(_Candidate(index, text_id, pid, row))
    return candidates, skipped


class _V1Row:
    """A v1 row as the mapper sees an event: its ids and its state, and no class version.

    The mapper writes a `class_version` key only for a class whose `class_version` is
    above 1, so the state it encodes for a `_V1Row` is the row's own (schema v1).
    """

    originator_id: UUID
    originator_version: int

    def __init__(self, proposal_id: UUID, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.originator_id = proposal_id
        self.originator_version = 1


class _RawState:
    """A stored event's state as written: decoded by the mapper, never upcast (version 1)."""

    originator_id: UUID
    originator_version: int


RAW_TOPIC: Final = get_topic(_RawState)


def stored_v1_event(app: Application[Any], candidate: _Candidate, at: datetime) -> StoredEvent:
    """The row as a stored `Proposal.Proposed` event of schema version 1.

    Encoded by the application's mapper (transcoder, and compressor and cipher if it has
    them) as a `_V1Row`; only the topic is `Proposal.Proposed`'s. A class pinning that
    topic itself would clash with `Proposal.Proposed` in eventsourcing's topic registry.
    """
    state = escape_tagged_objects(v1_stored_state(candidate.row, at))
    stored = app.mapper.to_stored_event(_V1Row(candidate.proposal_id, state))
    return dataclasses.replace(stored, topic=PROPOSED_TOPIC)


def raw_state(app: Application[Any], stored: StoredEvent) -> dict[str, Any]:
    """The state of a stored event as it was written (decoded by the mapper, not upcast)."""
    raw = app.mapper.to_domain_event(dataclasses.replace(stored, topic=RAW_TOPIC))
    state = dict(vars(raw))
    del state["originator_id"], state["originator_version"]
    return state


def first_event(app: Application[Any], proposal_id: UUID) -> StoredEvent | None:
    found = app.recorder.select_events(proposal_id, lte=1, limit=1)
    return found[0] if found else None


class _Importer:
    """One import: the rows of a v1 file into the session's store."""

    def __init__(self, session: Session, source: V1File, *, dry_run: bool) -> None:
        self.session = session
        self.app = session.app
        self.source = source
        self.dry_run = dry_run
        self.imported_at = session.now()
        self.migrated = 0
        self.present: dict[UUID, StoredEvent] = {}

    def run(self) -> MigrationReport:
        candidates, skipped = plan_rows(self.source.rows)
        if self.dry_run:
            for candidate in candidates:
                stored = first_event(self.app, candidate.proposal_id)
                if stored is None:
                    self.migrated += 1
                else:
                    self.present[candidate.proposal_id] = stored
        else:
            for start in range(0, len(candidates), BATCH_SIZE):
                self.write(candidates[start : start + BATCH_SIZE])
        errors = [self.divergence(c) for c in candidates if c.proposal_id in self.present]
        report = MigrationReport(
            source=str(self.source.path),
            sha256=self.source.sha256,
            dry_run=self.dry_run,
            found=len(self.source.rows),
            migrated=self.migrated,
            already_present=len(self.present),
            skipped=tuple(skipped),
            errors=tuple(e for e in errors if e),
        )
        if not self.dry_run:
            self.record(report)
        return report

    def write(self, batch: list[_Candidate]) -> None:
        """Record the batch's rows that are not in the store yet, each exactly once.

        After a failed attempt (a conflict: version 1 of some of these ids exists), the
        rows already present are set aside and the rest written again.
        """
        pending = list(batch)
        first = True

        def attempt() -> None:
            nonlocal pending, first
            if not first:
                pending = self.narrow(pending)
            first = False
            if pending:
                events = [stored_v1_event(self.app, c, self.imported_at) for c in pending]
                self.app.recorder.insert_events(events)
                self.migrated += len(pending)

        self.session.retry(attempt, what=f"import {len(batch)} v1 rows")

    def narrow(self, pending: Iterable[_Candidate]) -> list[_Candidate]:
        left = []
        for candidate in pending:
            stored = first_event(self.app, candidate.proposal_id)
            if stored is None:
                left.append(candidate)
            else:
                self.present[candidate.proposal_id] = stored
        return left

    def divergence(self, candidate: _Candidate) -> str | None:
        """Why the stored version of an already present row differs from the file's, if so."""
        stored = self.present[candidate.proposal_id]
        where = f"proposals[{candidate.index}] (id {candidate.v1_id!r})"
        if stored.topic != PROPOSED_TOPIC:
            return f"{where}: its proposal id is taken by a {stored.topic} event"
        state = raw_state(self.app, stored)
        if V1_ENVELOPE not in state:
            return f"{where}: its proposal id is taken by a proposal not imported from v1"
        if v1_row_of(state) != candidate.row:
            return (
                f"{where}: already imported with different content; the log keeps the first import"
            )
        return None

    def record(self, report: MigrationReport) -> None:
        """Record the completed import once per file content (a loop's start skips it then)."""
        summary = V1Import(
            id=v1_import_id(report.sha256),
            at=self.imported_at,
            source=str(self.source.path.resolve()),
            sha256=report.sha256,
            found=report.found,
            migrated=report.migrated,
            already_present=report.already_present,
            skipped=[attrs.asdict(row) for row in report.skipped],
            errors=list(report.errors),
        )
        try:
            self.session.save(summary)
        except IntegrityError:
            self.session.forget()  # this content's import was recorded before (or just now)


def import_v1(session: Session, source: V1File, *, dry_run: bool) -> MigrationReport:
    """Import the rows of `source` into the session's store (nothing is written on a dry run)."""
    with session.store_errors():
        report = _Importer(session, source, dry_run=dry_run).run()
    session.logger(__name__).info(
        "v1_import.dry_run" if dry_run else "v1_import.done",
        source=report.source,
        found=report.found,
        migrated=report.migrated,
        already_present=report.already_present,
        skipped=len(report.skipped),
        errors=len(report.errors),
    )
    return report


def already_imported(session: Session, sha256: str) -> bool:
    """Whether an import of a file with this content hash completed before."""
    with session.store_errors():
        return session.load(v1_import_id(sha256), V1Import) is not None


def import_at_start(session: Session, path: Path) -> None:
    """The one-shot import when a loop starts: skipped once this file's content is in."""
    log = session.logger(__name__)
    if not path.is_file():
        if path.exists():
            log.warning("v1_import.not_a_file", path=str(path))
        return
    source = read_v1_file(path)
    if already_imported(session, source.sha256):
        log.debug("v1_import.already_done", path=str(path))
        return
    import_v1(session, source, dry_run=False)


__all__ = [
    "MigrationReport",
    "SkippedRow",
    "already_imported",
    "import_at_start",
    "import_v1",
    "read_v1_file",
]
