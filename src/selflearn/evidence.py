"""The runbook's evidence files, written from the log as it streams by.

One pass over the notification log, a page at a time, up to the position the log had
when the export began (a consistent prefix, whatever other processes append meanwhile):
each verification attempt becomes a line of `outcome_evidence.jsonl` at once; a run is
written to `experiment_runs_v2.json` when it closes, and runs still open at the end
follow in the order they started. Memory holds one page and the open runs, never the
log. Each file is written to a temporary file in the target directory, synced, then
renamed over the old one: a reader sees the old file or the new one, never a part.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import attrs
from eventsourcing.utils import get_topic

from selflearn.events.proposal import Proposal
from selflearn.exceptions import SelflearnError, ValidationError
from selflearn.reports import _Plain

if TYPE_CHECKING:
    from selflearn.store import SelflearnApplication

EVIDENCE_FILE: Final = "outcome_evidence.jsonl"
RUNS_FILE: Final = "experiment_runs_v2.json"
PAGE_SIZE: Final = 500
TOPICS: Final = tuple(
    get_topic(cls)
    for cls in (
        Proposal.RunStarted,
        Proposal.RunExecuted,
        Proposal.RunFailed,
        Proposal.AttemptVerified,
        Proposal.RunConverged,
    )
)


@attrs.frozen(kw_only=True)
class EvidenceExport(_Plain):
    """Where the evidence went, how much of it, and the log position it covers."""

    directory: str
    evidence_file: str
    runs_file: str
    attempts: int
    runs: int
    position: int


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=_default)


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def evidence_row(event: Proposal.AttemptVerified) -> dict[str, Any]:
    """One line of `outcome_evidence.jsonl`: a verification attempt, as recorded."""
    return {
        "id": f"{event.run_id}:{event.attempt}",
        "experiment_id": event.run_id,
        "metrics_before": event.before,
        "metrics_after": event.after,
        "delta": event.delta,
        "verdict": event.verdict,
        "confidence": event.confidence,
        "signals": event.signals,
        "pending_recheck": event.pending_recheck,
        "attempt": event.attempt,
        "ts": event.at.isoformat(),
    }


class _Runs:
    """Runs being folded from the log; a run leaves as soon as it closes."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.open: dict[str, dict[str, Any]] = {}
        self.written = 0

    def apply(self, event: Any) -> None:
        if isinstance(event, Proposal.RunStarted):
            self.open[event.run_id] = {
                "id": event.run_id,
                "proposal_id": str(event.originator_id),
                "mode": event.mode,
                "started_at": event.at.isoformat(),
                "finished_at": None,
                "execution_status": "running",
                "artifacts": {},
                "verification": None,
            }
            return
        run = self.open.get(event.run_id)
        if run is None:
            return
        if isinstance(event, Proposal.RunExecuted):
            run["execution_status"] = event.status
            run["artifacts"] = event.artifacts
        elif isinstance(event, Proposal.AttemptVerified):
            run["verification"] = {
                "attempts": event.attempt,
                "verdict": event.verdict,
                "confidence": event.confidence,
                "pending_recheck": event.pending_recheck,
                "exhausted": False,
                "converged": False,
                "reason": None,
            }
        elif isinstance(event, Proposal.RunFailed):
            run["execution_status"] = "interrupted" if event.reason == "interrupted" else "failed"
            run["finished_at"] = event.at.isoformat()
            self.close(event.run_id)
        elif isinstance(event, Proposal.RunConverged):
            verification = run["verification"] or {"attempts": 0}
            verification.update(
                verdict=event.verdict,
                confidence=event.confidence,
                pending_recheck=False,
                exhausted=event.exhausted,
                converged=True,
                reason=event.reason,
            )
            run["verification"] = verification
            run["finished_at"] = event.at.isoformat()
            self.close(event.run_id)

    def close(self, run_id: str) -> None:
        self.write(self.open.pop(run_id))

    def write(self, run: dict[str, Any]) -> None:
        self.out.write(("\n" if self.written == 0 else ",\n") + _json(run))
        self.written += 1

    def finish(self) -> None:
        for run in self.open.values():
            self.write(run)
        self.open.clear()


def check_directory(directory: str | os.PathLike[str]) -> Path:
    """`directory` if it is an existing directory, else `ValidationError`."""
    path = Path(directory)
    if not path.exists():
        raise ValidationError(f"the export directory {path} does not exist")
    if not path.is_dir():
        raise ValidationError(f"the export directory {path} is not a directory")
    return path


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[IO[str]]:
    """A text file that replaces `path` only once it is complete and synced."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ValidationError(
            f"the export directory {path.parent} is not writable: {exc.strerror or exc}"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_evidence(
    app: SelflearnApplication, directory: str | os.PathLike[str], *, page_size: int = PAGE_SIZE
) -> EvidenceExport:
    """Write both evidence files into `directory` from the log (see the module's docstring)."""
    target = check_directory(directory)
    evidence_path = target / EVIDENCE_FILE
    runs_path = target / RUNS_FILE
    stop = app.recorder.max_notification_id() or 0
    attempts = 0
    try:
        with atomic_text(evidence_path) as evidence, atomic_text(runs_path) as runs_out:
            runs = _Runs(runs_out)
            runs_out.write('{"runs": [')
            position = 0
            while position < stop:
                page = app.recorder.select_notifications(
                    start=position,
                    limit=page_size,
                    stop=stop,
                    topics=TOPICS,
                    inclusive_of_start=False,
                )
                for notification in page:
                    event = app.mapper.to_domain_event(notification)
                    if isinstance(event, Proposal.AttemptVerified):
                        evidence.write(_json(evidence_row(event)) + "\n")
                        attempts += 1
                    runs.apply(event)
                if len(page) < page_size:
                    break
                position = page[-1].id
            runs.finish()
            runs_out.write("\n]}\n" if runs.written else "]}\n")
    except OSError as exc:
        raise SelflearnError(f"cannot write the evidence files in {target}: {exc}") from None
    return EvidenceExport(
        directory=str(target),
        evidence_file=str(evidence_path),
        runs_file=str(runs_path),
        attempts=attempts,
        runs=runs.written,
        position=stop,
    )


__all__ = ["EVIDENCE_FILE", "RUNS_FILE", "EvidenceExport", "evidence_row", "export_evidence"]
