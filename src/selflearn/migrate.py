"""Import of a v1 proposals file: read, check, record each row once, report.

Each accepted row is written as it was — a stored `Proposal.Proposed` event of schema
version 1 — straight through the application's recorder, because the mapper stamps the
current class version on whatever it writes; `Proposal.Proposed.upcast_v1_v2` turns it
into the v2 shape on every load. Rows are written in batches: a batch that conflicts
(another process, or an earlier import, recorded some of its rows) is narrowed to the
rows not yet present and written again, so each row is recorded exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import attrs
from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from eventsourcing.utils import get_topic

from selflearn._log import get_logger
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
from selflearn.exceptions import StoreError, ValidationError
from selflearn.reports import _Plain
from selflearn.store import escape_tagged_objects, is_locked_error

if TYPE_CHECKING:
    from selflearn.loop import LearningLoop
    from selflearn.store import SelflearnApplication

log = get_logger(__name__)

BATCH_SIZE: Final = 500
WRITE_ATTEMPTS: Final = 30
LOCKED_ATTEMPTS: Final = 3
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


def stored_v1_event(app: SelflearnApplication, candidate: _Candidate, at: datetime) -> StoredEvent:
    """The row as a stored event of schema version 1 (no `class_version` key)."""
    state = escape_tagged_objects(v1_stored_state(candidate.row, at))
    data = app.mapper.transcoder.encode(state)
    if app.mapper.compressor:
        data = app.mapper.compressor.compress(data)
    if app.mapper.cipher:
        data = app.mapper.cipher.encrypt(data)
    return StoredEvent(
        originator_id=candidate.proposal_id,
        originator_version=1,
        topic=PROPOSED_TOPIC,
        state=data,
    )


def raw_state(app: SelflearnApplication, stored: StoredEvent) -> dict[str, Any]:
    """The state of a stored event as it was written (decoded, not upcast)."""
    data = stored.state
    if app.mapper.cipher:
        data = app.mapper.cipher.decrypt(data)
    if app.mapper.compressor:
        data = app.mapper.compressor.decompress(data)
    state = app.mapper.transcoder.decode(data)
    assert isinstance(state, dict)
    return state


def first_event(app: SelflearnApplication, proposal_id: UUID) -> StoredEvent | None:
    found = app.recorder.select_events(proposal_id, lte=1, limit=1)
    return found[0] if found else None


class _Importer:
    """One import: the rows of a v1 file into the loop's store."""

    def __init__(self, loop: LearningLoop, source: V1File, *, dry_run: bool) -> None:
        self.loop = loop
        self.app = loop.app
        self.source = source
        self.dry_run = dry_run
        self.imported_at = loop.now()
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
        """Record the batch's rows that are not in the store yet, each exactly once."""
        pending = list(batch)
        locked = 0
        for attempt in range(WRITE_ATTEMPTS):
            if not pending:
                return
            events = [stored_v1_event(self.app, c, self.imported_at) for c in pending]
            try:
                self.app.recorder.insert_events(events)
            except IntegrityError:
                # Version 1 of some of these ids exists: those rows are already present.
                pending = self.narrow(pending)
            except PersistenceError as exc:
                if not is_locked_error(exc):
                    raise
                # Each locked attempt already waited the store's lock timeout.
                locked += 1
                if locked >= LOCKED_ATTEMPTS:
                    raise StoreError(
                        f"store {self.loop.url.redacted}: could not import v1 rows: the "
                        f"database stayed locked through {locked} waits (another process "
                        "holds a long write transaction)"
                    ) from None
                self.loop.log.warning("v1_import.locked.retry", attempt=locked)
            else:
                self.migrated += len(pending)
                return
            time.sleep(random.uniform(0.0, 0.004 * (attempt + 1)))
        raise StoreError(
            f"store {self.loop.url.redacted}: could not import {len(pending)} v1 rows after "
            f"{WRITE_ATTEMPTS} attempts (concurrent writers kept conflicting)"
        )

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
            self.app.save(summary)
        except IntegrityError:
            self.loop.forget()  # this content's import was recorded before (or just now)


def import_v1(loop: LearningLoop, source: V1File, *, dry_run: bool) -> MigrationReport:
    """Import the rows of `source` into the loop's store (nothing is written on a dry run)."""
    with loop.store_errors():
        report = _Importer(loop, source, dry_run=dry_run).run()
    loop.log.info(
        "v1_import.dry_run" if dry_run else "v1_import.done",
        source=report.source,
        found=report.found,
        migrated=report.migrated,
        already_present=report.already_present,
        skipped=len(report.skipped),
        errors=len(report.errors),
    )
    return report


def already_imported(loop: LearningLoop, sha256: str) -> bool:
    """Whether an import of a file with this content hash completed before."""
    with loop.store_errors():
        return loop.load(v1_import_id(sha256), V1Import) is not None


__all__ = ["MigrationReport", "SkippedRow", "already_imported", "import_v1", "read_v1_file"]
