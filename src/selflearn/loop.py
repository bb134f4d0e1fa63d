"""`LearningLoop`: the public face of selflearn, over one event store.

The loop checks what a host passes in, builds a `Session` (the store, the clock, the
rules of saving) and the host's settings, and hands each call to the module that does
the work: `commands` (learning events, proposals, operator decisions), `cycle` (a tick),
`realapply.steps` (rollback), `migrate`, `timeline`, `evidence` and
`projections.service` (status, views). Nothing in the package imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType

from selflearn import commands
from selflearn.config import Flags
from selflearn.cycle import run_cycle
from selflearn.evidence import EvidenceExport, export_evidence
from selflearn.exceptions import ValidationError
from selflearn.migrate import MigrationReport, import_at_start, import_v1, read_v1_file
from selflearn.ports import Executor, Probe, ProposalDraft, ProposalView, Proposer, Verifier
from selflearn.projections import service
from selflearn.projections.runner import Progress
from selflearn.realapply import steps as realapply
from selflearn.reports import CycleReport, RollbackReport, TimelineEntry
from selflearn.session import Session
from selflearn.settings import HostSettings
from selflearn.status import RebuildReport, StatusReport
from selflearn.timeline import proposal_timeline


class LearningLoop:
    """An agent's self-improvement loop over one event store.

    `store` is a store URL (`sqlite:///PATH`, `postgresql://USER@HOST:PORT/DB` or
    `memory://`; None: `$SELFLEARN_STORE`, else the flags' default). The host's ports are
    optional: without an executor nothing is executed, without a probe nothing is
    verified. `clock` returns the domain time (an aware datetime; default: UTC now).
    Use the loop as a context manager, or call `close()`.
    """

    def __init__(
        self,
        store: str | None = None,
        *,
        flags: Flags | None = None,
        executor: Executor | None = None,
        probe: Probe | None = None,
        verifier: Verifier | None = None,
        proposer: Proposer | None = None,
        workspace: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
        seed: int | None = None,
        policy_families: Mapping[str, Sequence[str]] | None = None,
        include_non_production: bool = False,
        _import_v1: bool = True,
        _open_existing: bool = False,
    ) -> None:
        # Private ways in: `_open_existing` (the CLI's) needs the store to exist already and
        # writes nothing on start-up; `_import_v1=False` skips only the v1 import.
        self._host = HostSettings.build(
            flags=flags,
            executor=executor,
            probe=probe,
            verifier=verifier,
            proposer=proposer,
            workspace=workspace,
            seed=seed,
            policy_families=policy_families,
            include_non_production=include_non_production,
        )
        flags = self._host.flags
        url = (
            store
            if store is not None
            else os.environ.get("SELFLEARN_STORE") or flags.selflearn_store
        )
        self._session = Session.open(url, clock=clock, create=not _open_existing)
        # The one-shot v1 import is the only start-up write; a CLI command
        # (`_open_existing`) never writes events on the side.
        if _import_v1 and not _open_existing and flags.enable_proposal_v2:
            v1_store = flags.selflearn_v1_store
            if v1_store:
                try:
                    import_at_start(self._session, Path(v1_store))
                except BaseException:
                    self.close()
                    raise

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store's connections."""
        self._session.close()

    def __enter__(self) -> LearningLoop:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- learning events and proposals -----------------------------------------------------

    def record_event(
        self,
        source: str,
        event_type: str,
        content: str,
        *,
        novelty: float,
        value: float,
        risk: float,
        confidence: float,
        stream: str | None = None,
    ) -> str | None:
        """Record what the host observed; its id, or None (nothing recorded) for a duplicate.

        Scores are numbers in [0, 1]; `stream` is `production` or `non_production` (None:
        derived from `source`).
        """
        return commands.record_event(
            self._session,
            source,
            event_type,
            content,
            novelty=novelty,
            value=value,
            risk=risk,
            confidence=confidence,
            stream=stream,
        )

    def propose(self, draft: ProposalDraft) -> str:
        """Record a host's own proposal; returns its id."""
        return commands.propose(self._session, draft)

    def approve(self, proposal_id: str, reason: str = "approved by operator") -> None:
        """An operator approves a pending proposal (any risk level)."""
        commands.approve(self._session, self._host.flags, proposal_id, reason)

    def reject(self, proposal_id: str, reason: str) -> None:
        """An operator rejects a pending or approved proposal."""
        commands.reject(self._session, proposal_id, reason)

    # -- operator overrides --------------------------------------------------------------

    def disable(self, capability: str, *, reason: str) -> None:
        """Switch a capability off from the next cycle on, whatever the environment says.

        `capability` is `executor`, `bandit`, `real-apply` or `normal-mode`.
        """
        commands.override(self._session, capability, reason, disable=True)

    def enable(self, capability: str, *, reason: str) -> None:
        """Lift an override; the capability is on again only if the flags say so."""
        commands.override(self._session, capability, reason, disable=False)

    # -- the cycle -----------------------------------------------------------------------

    def tick(self) -> CycleReport:
        """Run one cycle and report what it did (docs/behaviour.md, The cycle)."""
        with self._session.store_errors():
            return run_cycle(self._session, self._host)

    def rollback(self, run_id: str, *, reason: str) -> RollbackReport:
        """Restore the files a run's real apply changed, from its backups, verified by hash.

        `NotFound` for a run that applied no patches; `IllegalTransition` when they are
        already restored, still being applied, or when a file was changed by someone else
        since the apply — that file is not overwritten, and the refusal is recorded.
        """
        commands.check_reason(reason)
        if not isinstance(run_id, str) or not run_id.strip():
            raise ValidationError(f"run_id={run_id!r}: expected a run id")
        with self._session.store_errors():
            return realapply.rollback(self._session, self._host.apply_hooks, run_id.strip(), reason)

    # -- reading -------------------------------------------------------------------------

    def proposal(self, proposal_id: str) -> ProposalView:
        """The proposal with `proposal_id` as it is now (`NotFound` if none)."""
        return commands.proposal(self._session, self._host.flags, proposal_id)

    def proposals(self, status: str | None = None) -> tuple[ProposalView, ...]:
        """Every proposal, oldest first, optionally only those in `status`."""
        return commands.proposals(self._session, self._host.flags, status)

    def timeline(self, proposal_id: str) -> tuple[TimelineEntry, ...]:
        """Every event of a proposal and its runs, in order, each with its reason in words."""
        return proposal_timeline(self._session, proposal_id)

    def status(self, as_of: datetime | None = None) -> StatusReport:
        """The status report: the views caught up, or the log replayed up to `as_of`."""
        now = self._session.now()
        views = self._session.views()
        with self._session.store_errors():
            return service.status(
                self._session.app, views, self._session.url.redacted, now=now, as_of=as_of
            )

    def rebuild_views(
        self, progress: Progress | None = None, *, views: Sequence[str] | None = None
    ) -> RebuildReport:
        """Drop the status views (or only `views`) and replay the log into them.

        `progress(done, total)` is called after each page of the log.
        """
        store = self._session.views()
        with self._session.store_errors():
            return service.rebuild_views(self._session.app, store, views, progress=progress)

    # -- migration and evidence ------------------------------------------------------------

    def migrate_v1(self, path: str | os.PathLike[str], dry_run: bool = False) -> MigrationReport:
        """Import the v1 proposals file at `path`; each row is recorded once, as it was.

        A file that cannot be read, is not JSON or has no `proposals` list raises
        `ValidationError` and records nothing; rows that cannot be imported are reported
        as skipped with their reasons. A dry run records nothing.
        """
        return import_v1(self._session, read_v1_file(path), dry_run=bool(dry_run))

    def export_evidence(self, directory: str | os.PathLike[str]) -> EvidenceExport:
        """Write `outcome_evidence.jsonl` and `experiment_runs_v2.json` into `directory`."""
        with self._session.store_errors():
            return export_evidence(self._session.app, directory)


__all__ = ["LearningLoop"]
