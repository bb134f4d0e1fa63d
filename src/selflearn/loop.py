"""LearningLoop: the one place that calls the host and saves aggregates.

Every decision is one atomic `save()`. Host ports are called with no transaction open,
and a host's exception is recorded where it happened, never re-raised. Store errors
propagate as `StoreError`. Every rule reads time from the injected clock.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar, cast
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.application import AggregateNotFoundError, LRUCache
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import IntegrityError, Notification, PersistenceError

from selflearn._log import get_logger
from selflearn.agenda import AGENDA_EVENTS, AGENDA_TOPICS, PAGE_SIZE, Agenda
from selflearn.config import RISK_LEVELS, Flags, check_capability
from selflearn.cycle import Cycle
from selflearn.events.controls import CONTROLS_ID, Controls
from selflearn.events.guardrail import GUARDRAIL_ID, Guardrail
from selflearn.events.learning import LearningSignal, signal_id
from selflearn.events.policy import DEFAULT_FAMILIES, POLICY_ID, Policy
from selflearn.events.proposal import STATUSES, Proposal
from selflearn.events.rules import STREAMS, signature_of, stream_of
from selflearn.events.selfcheck import SELF_CHECK_ID, SelfCheck
from selflearn.evidence import EvidenceExport, export_evidence
from selflearn.exceptions import (
    ConfigError,
    NotFound,
    StoreError,
    ValidationError,
)
from selflearn.migrate import MigrationReport, already_imported, import_v1, read_v1_file
from selflearn.ports import (
    Executor,
    Probe,
    ProposalDraft,
    ProposalView,
    Proposer,
    Verifier,
)
from selflearn.projections.runner import Progress
from selflearn.projections.viewstore import ViewStore, view_store_for
from selflearn.realapply import steps as realapply
from selflearn.realapply.patches import check_patches, to_stored
from selflearn.realapply.workspace import DEFAULT_HOOKS, Hooks
from selflearn.reports import CycleReport, RollbackReport, TimelineEntry
from selflearn.status import RebuildReport, StatusReport
from selflearn.store import is_locked_error, open_store, store_errors, table_creation
from selflearn.timeline import timeline_entries
from selflearn.verify import RuleVerifier
from selflearn.views import proposal_view

log = get_logger(__name__)

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

SAVE_ATTEMPTS: Final = 30
LOCKED_ATTEMPTS: Final = 3
# Inside a cycle, a decision made after this much real time in the host's code syncs first:
# other processes had time to write, and a sync (one query) is cheaper than a conflict.
RESYNC_AFTER_HOST_SECONDS: Final = 0.010
PROPOSAL_NAMESPACE: Final = uuid5(NAMESPACE_URL, "selflearn/proposal")


def system_clock() -> datetime:
    """The wall clock, in UTC (the default when a host gives no clock)."""
    return datetime.now(UTC)


def proposal_id_for(opportunity_id: str, index: int) -> str:
    """The id of the `index`-th draft of an opportunity: the same in every process."""
    return str(uuid5(PROPOSAL_NAMESPACE, f"{opportunity_id}/{index}"))


class LearningLoop:
    """An agent's self-improvement loop over one event store (the rules: docs/behaviour.md)."""

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
        if flags is None:
            flags = Flags.from_env()
        elif not isinstance(flags, Flags):
            raise ConfigError(f"flags must be a selflearn.Flags, got {type(flags).__name__}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"seed={seed!r}: expected an integer")
        self.flags = flags
        self.executor = executor
        self.probe = probe
        self.verifier: Verifier = verifier if verifier is not None else RuleVerifier()
        self.proposer = proposer
        self.workspace = _workspace(workspace)
        self.apply_hooks: Hooks = (
            DEFAULT_HOOKS  # test seams of real apply (selflearn.realapply.workspace)
        )
        self.include_non_production = bool(include_non_production)
        self.families = _families(policy_families)
        self.seed = seed if seed is not None else secrets.randbits(63)
        self.rng = random.Random(self.seed)
        self._clock = clock if clock is not None else system_clock
        url = (
            store
            if store is not None
            else os.environ.get("SELFLEARN_STORE") or flags.selflearn_store
        )
        self.app, self.url = open_store(url, create=not _open_existing)
        self.agenda = Agenda()
        self._trust_cache = False
        self._synced_saves = -1
        self._host_seconds = 0.0  # real time spent in host code since the last sync
        self.log = log.bind(store=self.url.redacted)
        self._view_store: ViewStore | None = None
        # The one-shot v1 import is the only start-up write; a CLI command
        # (`_open_existing`) never writes events on the side.
        if (
            _import_v1
            and not _open_existing
            and flags.enable_proposal_v2
            and flags.selflearn_v1_store
        ):
            try:
                self._import_v1_at_start(Path(flags.selflearn_v1_store))
            except BaseException:
                self.close()
                raise

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the store's connections."""
        self.app.close()

    def __enter__(self) -> LearningLoop:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- time, store, retries ------------------------------------------------------------

    def now(self) -> datetime:
        """The loop's domain time (the injected clock), as an aware UTC datetime."""
        now = self._clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise ConfigError(f"the clock returned {now!r}: expected an aware datetime")
        return now.astimezone(UTC)

    @contextlib.contextmanager
    def store_errors(self) -> Iterator[None]:
        """Turn the store's own errors into `StoreError` naming the store (no password)."""
        with store_errors(self.url):
            yield

    def retry(self, attempt: Callable[[], T], *, what: str) -> T:
        """Run `attempt` (load, decide, save) again after a concurrent write got there first."""
        if self._trust_cache and self._host_seconds >= RESYNC_AFTER_HOST_SECONDS:
            self.sync()  # others had time to write: decide on their changes, not conflict
        locked = 0
        for n in range(SAVE_ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                self.forget()
                self.log.debug("save.conflict.retry", what=what, attempt=n + 1)
            except PersistenceError as exc:
                self.forget()
                if not is_locked_error(exc):
                    raise
                # Each locked attempt already waited the store's lock timeout.
                locked += 1
                if locked >= LOCKED_ATTEMPTS:
                    raise StoreError(
                        f"store {self.url.redacted}: could not {what}: the database stayed "
                        f"locked through {locked} waits of {self.url.lock_timeout} s "
                        "(another process holds a long write transaction)"
                    ) from None
                self.log.warning("save.locked.retry", what=what, attempt=locked)
            except BaseException:
                self.forget()
                raise
            time.sleep(random.uniform(0.0, 0.004 * (n + 1)))
        raise StoreError(
            f"store {self.url.redacted}: could not {what} after {SAVE_ATTEMPTS} attempts "
            "(concurrent writers kept conflicting)"
        )

    def forget(self) -> None:
        """Drop cached aggregates: an attempt that failed may have changed them unsaved."""
        repository = self.app.repository
        if isinstance(repository.cache, LRUCache):
            # A fresh cache: LRUCache.clear() resets its order but keeps its entries.
            repository.cache = LRUCache(maxsize=repository.cache.maxsize)
        self.app.known_absent.clear()

    def load(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        """The aggregate with `aggregate_id`, or None when it was never created.

        Inside a cycle a cached aggregate is taken as it is (see `trusting_cache`);
        elsewhere it is fast-forwarded from the store first.
        """
        repository = self.app.repository
        aggregate: Any = None
        if self._trust_cache and repository.cache is not None:
            with contextlib.suppress(KeyError):
                aggregate = repository.cache.get(aggregate_id)
            if aggregate is None and aggregate_id in self.app.known_absent:
                return None
        if aggregate is None:
            try:
                aggregate = repository.get(aggregate_id)
            except AggregateNotFoundError:
                if self._trust_cache:
                    self.app.known_absent.add(aggregate_id)
                return None
        if not isinstance(aggregate, cls):
            raise StoreError(
                f"aggregate {aggregate_id} is a {type(aggregate).__name__}, not a {cls.__name__}"
            )
        return aggregate

    def load_proposal(self, proposal_id: str) -> Proposal:
        """The proposal aggregate, or `NotFound`."""
        try:
            uid = UUID(str(proposal_id))
        except ValueError:
            raise NotFound(f"no proposal {proposal_id!r}") from None
        proposal = self.load(uid, Proposal)
        if proposal is None:
            raise NotFound(f"no proposal {proposal_id!r}")
        return proposal

    def guardrail(self, at: datetime) -> Guardrail:
        return self.load(GUARDRAIL_ID, Guardrail) or Guardrail(id=GUARDRAIL_ID, at=at)

    def policy(self, at: datetime, *, declare: bool = True) -> Policy:
        """The policy, with this loop's arm families declared unless `declare` is False.

        Declaring changes the aggregate: only an attempt that saves it may declare.
        """
        policy = self.load(POLICY_ID, Policy) or Policy(
            id=POLICY_ID, at=at, families={f: list(a) for f, a in DEFAULT_FAMILIES.items()}
        )
        if declare:
            policy.declare(at=at, families=self.families)
        return policy

    def self_check(self, at: datetime) -> SelfCheck:
        return self.load(SELF_CHECK_ID, SelfCheck) or SelfCheck(id=SELF_CHECK_ID, at=at)

    def controls(self, at: datetime) -> Controls:
        return self.load(CONTROLS_ID, Controls) or Controls(id=CONTROLS_ID, at=at)

    def sync(self) -> None:
        """Catch the agenda up with the log, a page at a time.

        Every event read also brings a cached aggregate it is newer than up to date: the
        event is applied to it when it is the very next version, else the aggregate is
        dropped. After a sync the cache holds nothing older than the log up to the
        agenda's position.
        """
        self._synced_saves = self.app.saves
        self._host_seconds = 0.0
        while True:
            page = self.app.recorder.select_notifications(
                start=self.agenda.position,
                limit=PAGE_SIZE,
                inclusive_of_start=False,
            )
            for notification in page:
                event = self._refresh_cached(notification)
                if notification.topic in AGENDA_TOPICS:
                    if event is None:
                        event = self.app.mapper.to_domain_event(notification)
                    self.agenda.apply(event, notification.id)
                else:
                    self.agenda.position = max(self.agenda.position, notification.id)
            if len(page) < PAGE_SIZE:
                return

    def _refresh_cached(self, notification: Notification) -> Any:
        """Bring the cached aggregate `notification` is about up to it; the event, if decoded."""
        originator = cast(UUID, notification.originator_id)
        self.app.known_absent.discard(originator)
        cache = self.app.repository.cache
        if cache is None:
            return None
        try:
            cached: Any = cache.get(originator)
        except KeyError:
            return None
        if cached.version >= notification.originator_version:
            return None
        if cached.version + 1 != notification.originator_version:
            cache.get(originator, evict=True)
            return None
        # Cached aggregates never hold unsaved changes (see `forget`): apply the next event.
        event = self.app.mapper.to_domain_event(notification)
        if isinstance(event, CanMutateAggregate):
            event.mutate(cached)
        else:
            cache.get(originator, evict=True)
        return event

    def catch_up(self) -> None:
        """Bring the agenda up to this store's own saves since the last sync.

        Inside a cycle the agenda must hold the cycle's own writes (and the host's, made
        from its ports); others' writes are seen at the next cycle's start, and a decision
        that missed one conflicts on save.
        """
        if not self._fold_own_saves():
            self.sync()

    def _fold_own_saves(self) -> bool:
        """Fold the events saved here since the last sync, if they follow the agenda.

        When they follow its position without a gap, no other writer came between, so
        folding them is what a sync would do. False when they do not (nothing folded).
        """
        if self.app.saves == self._synced_saves:
            return True
        position = self.agenda.position
        own: list[tuple[int, Any]] = []
        for item in reversed(self.app.recorded):  # newest first: stop at the agenda
            if item[0] <= position:
                break
            own.append(item)
        own.sort(key=_first)
        if not own or any(n != position + 1 + i for i, (n, _) in enumerate(own)):
            return False
        for n, event in own:
            if isinstance(event, AGENDA_EVENTS):
                self.agenda.apply(event, n)
        self.agenda.position = own[-1][0]
        self._synced_saves = self.app.saves
        return True

    @contextlib.contextmanager
    def host_call(self) -> Iterator[None]:
        """Time a call into the host's code (see `retry`)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._host_seconds += time.perf_counter() - start

    @contextlib.contextmanager
    def trusting_cache(self) -> Iterator[None]:
        """Within this block, loads take cached aggregates without asking the store.

        Sound because the block starts with a sync (after folding this store's own
        saves, which the sync then need not read back), every sync drops what the log has
        outdated, this process's saves update the cached aggregate itself, a failed
        attempt clears the cache (`forget`), and each save is checked by optimistic
        concurrency: a decision on an aggregate another process changed since the last
        sync conflicts, and its retry loads afresh.
        """
        self._fold_own_saves()
        self.sync()
        self._trust_cache = True
        try:
            yield
        finally:
            self._trust_cache = False

    def effective_flags(self, at: datetime) -> Flags:
        """This loop's flags with the operator's "off" overrides applied."""
        return self.flags.with_overrides(self.controls(at).disabled)

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
        """Record what the host observed; None (and nothing recorded) for a duplicate."""
        for name, text in (("source", source), ("event_type", event_type)):
            if not isinstance(text, str) or not text.strip():
                raise ValidationError(
                    f"learning event {name}={text!r}: expected a non-empty string"
                )
        if not isinstance(content, str):
            raise ValidationError(
                f"learning event content must be a string, got {type(content).__name__}"
            )
        scores = {"novelty": novelty, "value": value, "risk": risk, "confidence": confidence}
        for name, score in scores.items():
            if (
                isinstance(score, bool)
                or not isinstance(score, (int, float))
                or not math.isfinite(score)
                or not 0.0 <= score <= 1.0
            ):
                raise ValidationError(
                    f"learning event {name}={score!r}: expected a number in [0, 1]"
                )
        if stream is not None and stream not in STREAMS:
            raise ValidationError(
                f"learning event stream={stream!r}: expected one of {', '.join(STREAMS)}"
            )
        signature = signature_of(source, event_type, content)
        sid = signal_id(signature)

        def attempt() -> str | None:
            at = self.now()
            signal = self.load(sid, LearningSignal) or LearningSignal(
                id=sid, at=at, signature=signature
            )
            if signal.is_duplicate(at):
                return None
            # The n-th observation of a signature has the same id in every process.
            event_id = str(uuid5(sid, str(signal.observations + 1)))
            signal.observe(
                at=at,
                event_id=event_id,
                source=source,
                event_type=event_type,
                content=content,
                stream=stream_of(source, stream),
                **{k: float(v) for k, v in scores.items()},
            )
            self.app.save(signal)
            return event_id

        with self.store_errors():
            recorded = self.retry(attempt, what="record a learning event")
        self.log.info(
            "learning_event.recorded" if recorded else "learning_event.duplicate",
            signature=signature[:80],
        )
        return recorded

    def propose(self, draft: ProposalDraft) -> str:
        """Record a host's own proposal; returns its id."""
        if not isinstance(draft, ProposalDraft):
            raise ValidationError(f"propose() takes a ProposalDraft, got {type(draft).__name__}")
        check_patches(draft.patches)
        proposal_id = str(uuid4())
        with self.store_errors():
            self.create_proposal(proposal_id, draft, origin_event_ids=[], at=self.now())
        return proposal_id

    def create_proposal(
        self, proposal_id: str, draft: ProposalDraft, *, origin_event_ids: list[str], at: datetime
    ) -> bool:
        """Save a new proposal from `draft`; False when a proposal with that id already exists."""
        proposal = Proposal(
            id=UUID(proposal_id),
            at=at,
            title=draft.title,
            hypothesis=draft.hypothesis,
            plan_steps=list(draft.plan_steps),
            expected_impact=draft.expected_impact,
            risk_level=draft.risk_level,
            confidence=float(draft.confidence),
            priority=float(draft.priority),
            signature=draft.resolved_signature(),
            metadata=dict(draft.metadata),
            patches=[to_stored(p) for p in draft.patches],
            origin_event_ids=list(origin_event_ids),
            status="pending_approval",
        )
        try:
            self.app.save(proposal)
        except IntegrityError:
            return False  # another process created the same proposal from the same opportunity
        self.log.info("proposal.created", proposal_id=proposal_id, priority=draft.priority)
        return True

    def approve(self, proposal_id: str, reason: str = "approved by operator") -> None:
        """An operator approves a pending proposal (any risk level)."""
        _check_reason(reason)

        def attempt() -> None:
            at = self.now()
            proposal = self.load_proposal(proposal_id)
            flags = self.effective_flags(at)
            selection = (
                self.policy(at, declare=False).selection if flags.enable_policy_bandit else {}
            )
            proposal.approve(at=at, actor="operator", reason=reason, policy_arms=selection)
            self.app.save(proposal)

        with self.store_errors():
            self.retry(attempt, what=f"approve {proposal_id}")

    def reject(self, proposal_id: str, reason: str) -> None:
        """An operator rejects a pending or approved proposal."""
        _check_reason(reason)

        def attempt() -> None:
            proposal = self.load_proposal(proposal_id)
            proposal.reject(at=self.now(), actor="operator", reason=reason)
            self.app.save(proposal)

        with self.store_errors():
            self.retry(attempt, what=f"reject {proposal_id}")

    # -- operator overrides --------------------------------------------------------------

    def disable(self, capability: str, *, reason: str) -> None:
        """Switch a capability off from the next cycle on, whatever the environment says."""
        self._override(capability, reason, disable=True)

    def enable(self, capability: str, *, reason: str) -> None:
        """Lift an override; the capability is on again only if the flags say so."""
        self._override(capability, reason, disable=False)

    def _override(self, capability: str, reason: str, *, disable: bool) -> None:
        check_capability(capability)
        _check_reason(reason)

        def attempt() -> None:
            at = self.now()
            controls = self.controls(at)
            if (capability in controls.disabled) == disable:
                return  # already so: nothing to record
            if disable:
                controls.disable(at=at, capability=capability, reason=reason)
            else:
                controls.enable(at=at, capability=capability, reason=reason)
            self.app.save(controls)

        with self.store_errors():
            self.retry(attempt, what=f"{'disable' if disable else 'enable'} {capability}")

    # -- the cycle -----------------------------------------------------------------------

    def tick(self) -> CycleReport:
        """Run one cycle and report what it did."""
        with self.store_errors():
            return Cycle(self).run()

    # -- real apply ------------------------------------------------------------------------

    def rollback(self, run_id: str, *, reason: str) -> RollbackReport:
        """Restore the files a run's real apply changed, from its backups, verified by hash.

        `NotFound` for a run that applied no patches; `IllegalTransition` when they are
        already restored, still being applied, or when a file was changed by someone else
        since the apply — that file is not overwritten, and the refusal is recorded.
        """
        _check_reason(reason)
        if not isinstance(run_id, str) or not run_id.strip():
            raise ValidationError(f"run_id={run_id!r}: expected a run id")
        with self.store_errors():
            result = realapply.operator_rollback(self, run_id.strip(), reason)
        assert result.run is not None
        return RollbackReport(
            run_id=result.run.id,
            proposal_id=realapply.proposal_of(self, result.run.id),
            reason=reason,
            restored=result.restored,
            files=tuple(dict(f) for f in result.files),
        )

    # -- reading -------------------------------------------------------------------------

    def proposal(self, proposal_id: str) -> ProposalView:
        """The proposal with `proposal_id` as it is now (`NotFound` if none)."""
        with self.store_errors():
            proposal = self.load_proposal(proposal_id)
        return proposal_view(proposal, self.flags.verification_retry_interval_seconds)

    def proposals(self, status: str | None = None) -> tuple[ProposalView, ...]:
        """Every proposal, oldest first, optionally only those in `status`."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"status={status!r}: expected one of {', '.join(STATUSES)}")
        with self.store_errors():
            self.sync()
            views = []
            for pid in self.agenda.proposal_ids():
                proposal = self.load_proposal(pid)
                if status is None or proposal.status == status:
                    views.append(
                        proposal_view(proposal, self.flags.verification_retry_interval_seconds)
                    )
        return tuple(views)

    def view_store(self) -> ViewStore:
        """The store of the status views beside the event store (made on first use).

        It shares the event store's connections, which `close()` closes.
        """
        if self._view_store is None:
            with self.store_errors(), table_creation(self.url):
                self._view_store = view_store_for(self.app.recorder)
        return self._view_store

    def status(self, as_of: datetime | None = None) -> StatusReport:
        """The status report: the views caught up, or the log replayed to `as_of`."""
        from selflearn.projections.service import status

        now = self.now()
        store = self.view_store()
        with self.store_errors():
            return status(self.app, store, self.url.redacted, now=now, as_of=as_of)

    def rebuild_views(
        self, progress: Progress | None = None, *, views: Sequence[str] | None = None
    ) -> RebuildReport:
        """Drop the status views (or only `views`) and replay the log into them.

        `progress(done, total)` is called after each page of the log.
        """
        from selflearn.projections.service import rebuild_views

        store = self.view_store()
        with self.store_errors():
            return rebuild_views(self.app, store, views, progress=progress)

    def timeline(self, proposal_id: str) -> tuple[TimelineEntry, ...]:
        """Every event of a proposal and its runs, in order, each with its reason in words."""
        with self.store_errors():
            proposal = self.load_proposal(proposal_id)
            events = list(self.app.events.get(proposal.id))
            admissions: list[Guardrail.Admitted] = []
            if any(run.mode == "normal" for run in proposal.runs.values()):
                admissions = [
                    e
                    for e in self.app.events.get(GUARDRAIL_ID)
                    if isinstance(e, Guardrail.Admitted) and e.proposal_id == str(proposal.id)
                ]
            return timeline_entries(events, admissions)

    # -- migration and evidence -------------------------------------------------------------

    def migrate_v1(self, path: str | os.PathLike[str], dry_run: bool = False) -> MigrationReport:
        """Import the v1 proposals file at `path`; each row is recorded once, as it was.

        A file that cannot be read, is not JSON or has no `proposals` list raises
        `ValidationError` and records nothing; rows that cannot be imported are reported
        as skipped with their reasons. A dry run records nothing.
        """
        return import_v1(self, read_v1_file(path), dry_run=bool(dry_run))

    def _import_v1_at_start(self, path: Path) -> None:
        """The one-shot import when a loop starts: skipped once this file's content is in."""
        if not path.is_file():
            if path.exists():
                self.log.warning("v1_import.not_a_file", path=str(path))
            return
        source = read_v1_file(path)
        if already_imported(self, source.sha256):
            self.log.debug("v1_import.already_done", path=str(path))
            return
        import_v1(self, source, dry_run=False)

    def export_evidence(self, directory: str | os.PathLike[str]) -> EvidenceExport:
        """Write `outcome_evidence.jsonl` and `experiment_runs_v2.json` into `directory`."""
        with self.store_errors():
            return export_evidence(self.app, directory)


def _first(item: tuple[int, object]) -> int:
    return item[0]


def _workspace(given: str | os.PathLike[str] | None) -> Path | None:
    """The workspace root for real apply: an existing directory, or None."""
    if given is None:
        return None
    try:
        path = Path(given)
    except TypeError:
        raise ConfigError(f"workspace={given!r}: expected a directory path") from None
    if not str(given).strip() or not path.is_dir():
        raise ConfigError(f"workspace={os.fspath(given)!r} is not an existing directory")
    return path


def _check_reason(reason: object) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError(f"reason={reason!r}: expected a non-empty text")


def _families(given: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """The default family plus the host's, validated."""
    families = {name: list(arms) for name, arms in DEFAULT_FAMILIES.items()}
    if given is None:
        return families
    if not isinstance(given, Mapping):
        raise ConfigError(f"policy_families must map a family name to arm labels, got {given!r}")
    for name, arms in given.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"policy family name {name!r}: expected a non-empty string")
        if isinstance(arms, str) or not isinstance(arms, Sequence) or not arms:
            raise ConfigError(f"policy family {name!r}: expected a non-empty list of arm labels")
        labels = list(arms)
        if not all(isinstance(a, str) and a.strip() for a in labels) or len(set(labels)) != len(
            labels
        ):
            raise ConfigError(
                f"policy family {name!r}: arm labels must be distinct non-empty strings"
            )
        if name == "approve_threshold":
            for label in labels:
                try:
                    ok = 0.0 <= float(label) <= 1.0
                except ValueError:
                    ok = False
                if not ok:
                    raise ConfigError(
                        f"approve_threshold arm {label!r}: expected a number in [0, 1]"
                    )
        merged = families.setdefault(name, [])
        merged.extend(a for a in labels if a not in merged)
    return families


__all__ = ["RISK_LEVELS", "LearningLoop", "proposal_id_for", "system_clock"]
