"""The unit of work: one store, one clock, and the rules for reading and writing it.

A `Session` is what the cycle, real apply, migration and the loop's commands share
instead of the loop itself:

- the eventsourcing application and its store URL, and `close()`;
- the injected clock (`now()`: an aware UTC time, `ConfigError` on a bad clock);
- `store_errors()`: the store's own errors as `StoreError` naming the (redacted) store;
- `save()`: one transaction per decision (`store.saving.save_aggregates`, which does what
  `Application.save` does for aggregates), plus the bookkeeping the cycle's cache relies
  on (the session's own recordings, the cached aggregates, ids known absent);
- `retry()`: the one save-with-retry policy — an optimistic-concurrency conflict drops
  the cache and runs the attempt again (load, decide, save), SQLite's "database is
  locked" is waited out a bounded number of times;
- the agenda and `sync()`, which catches it up with the log and refreshes cached
  aggregates on the way; `catch_up()`, which folds the session's own saves instead
  when nothing else was written in between;
- `load()` and get-or-create of the singleton aggregates; inside `trusting_cache()` a
  load takes a cached aggregate as it is;
- `host_call()`, which times calls into the host's code: a decision made after enough
  of it syncs first.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, LRUCache
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import IntegrityError, Notification, PersistenceError, Recording

from selflearn._log import Logger, get_logger
from selflearn.agenda import AGENDA_EVENTS, AGENDA_TOPICS, PAGE_SIZE, Agenda
from selflearn.events.controls import CONTROLS_ID, Controls
from selflearn.events.guardrail import GUARDRAIL_ID, Guardrail
from selflearn.events.policy import DEFAULT_FAMILIES, POLICY_ID, Policy
from selflearn.events.proposal import Proposal
from selflearn.events.selfcheck import SELF_CHECK_ID, SelfCheck
from selflearn.exceptions import ConfigError, NotFound, StoreError
from selflearn.projections.backends import view_store_for
from selflearn.projections.viewstore import ViewStore
from selflearn.store import (
    SelflearnApplication,
    StoreURL,
    is_locked_error,
    open_store,
    save_aggregates,
    store_errors,
    table_creation,
)

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

#: How many times a decision is made again after another writer saved first.
SAVE_ATTEMPTS: Final = 30
#: How many of SQLite's lock timeouts a save waits out before it gives up.
LOCKED_ATTEMPTS: Final = 3
#: Inside a trusted block, a decision made after this much real time in the host's code
#: syncs first: other processes had time to write, and a sync (one query) is cheaper than
#: a conflict.
RESYNC_AFTER_HOST_SECONDS: Final = 0.010
#: The last recordings of this session kept, to fold its own saves into the agenda.
RECORDED_KEPT: Final = 256


def system_clock() -> datetime:
    """The wall clock, in UTC (the default when a host gives no clock)."""
    return datetime.now(UTC)


class Session:
    """One store and one clock, shared by everything a loop does (see the module's text)."""

    def __init__(
        self, app: SelflearnApplication, url: StoreURL, clock: Callable[[], datetime]
    ) -> None:
        self.app = app
        self.url = url
        self.clock = clock
        self.agenda = Agenda()
        self._loggers: dict[str, Logger] = {}
        self._views: ViewStore | None = None
        # Bookkeeping of this session's own saves, for `catch_up` and the trusted cache.
        self._saves = 0
        self._synced_saves = -1
        self._recorded: deque[tuple[int, Any]] = deque(maxlen=RECORDED_KEPT)
        self._known_absent: set[UUID] = set()
        self._trust_cache = False
        self._host_seconds = 0.0  # real time spent in host code since the last sync

    @classmethod
    def open(
        cls,
        url: str | None,
        *,
        clock: Callable[[], datetime] | None = None,
        create: bool = True,
    ) -> Session:
        """A session on the store at `url` (see `open_store`); `clock` defaults to UTC now."""
        app, parsed = open_store(url, create=create)
        return cls(app, parsed, clock if clock is not None else system_clock)

    def close(self) -> None:
        """Close the store's connections (the view store shares them)."""
        self.app.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def share_store(self, other: Session) -> None:
        """Close this session's application and use `other`'s from now on.

        A `memory://` store lives in the application that made it: sessions that stand
        for restarts of one process on it (tests, the demo) share that application.
        """
        self.app.close()
        self.app = other.app

    def logger(self, name: str) -> Logger:
        """The logger of module `name`, bound to this session's (redacted) store."""
        log = self._loggers.get(name)
        if log is None:
            log = self._loggers[name] = get_logger(name).bind(store=self.url.redacted)
        return log

    # -- time and errors ---------------------------------------------------------------

    def now(self) -> datetime:
        """The domain time (the injected clock), as an aware UTC datetime."""
        now = self.clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise ConfigError(f"the clock returned {now!r}: expected an aware datetime")
        return now.astimezone(UTC)

    def store_errors(self) -> contextlib.AbstractContextManager[None]:
        """Turn the store's own errors into `StoreError` naming the store (no password)."""
        return store_errors(self.url)

    @contextlib.contextmanager
    def host_call(self) -> Iterator[None]:
        """Time a call into the host's code (see `retry`)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self._host_seconds += time.perf_counter() - start

    # -- writing -----------------------------------------------------------------------

    def save(self, *aggregates: Aggregate) -> list[Recording[UUID]]:
        """Save the aggregates' new events in one transaction, and keep the books; the
        recordings (each event with its position in the log).

        The events are saved by `save_aggregates` (`Application.save` over public calls).
        The saved aggregates are put in the cache (they are the newest state) and their
        recordings kept, so that `catch_up` can fold them without reading them back.
        """
        recordings = save_aggregates(self.app, aggregates)
        self._saves += 1
        self._recorded.extend((r.notification.id, r.domain_event) for r in recordings)
        cache = self.app.repository.cache
        for aggregate in aggregates:
            self._known_absent.discard(aggregate.id)
            if cache is not None:
                cache.put(aggregate.id, aggregate)
        return recordings

    def retry(self, attempt: Callable[[], T], *, what: str) -> T:
        """Run `attempt` (load, decide, save) again after a concurrent write got there first.

        Every failed attempt drops the cache (`forget`): what it changed was not saved.
        A conflict is retried up to `SAVE_ATTEMPTS` times with a short random pause;
        SQLite's "database is locked" (each one after the store's lock timeout) up to
        `LOCKED_ATTEMPTS` times; anything else propagates. `what` names the decision in
        the `StoreError` raised when the attempts run out.
        """
        if self._trust_cache and self._host_seconds >= RESYNC_AFTER_HOST_SECONDS:
            self.sync()  # others had time to write: decide on their changes, not conflict
        log = self.logger(__name__)
        locked = 0
        for n in range(SAVE_ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                self.forget()
                log.debug("save.conflict.retry", what=what, attempt=n + 1)
            except PersistenceError as exc:
                self.forget()
                if not is_locked_error(exc):
                    raise
                locked += 1
                if locked >= LOCKED_ATTEMPTS:
                    raise StoreError(
                        f"store {self.url.redacted}: could not {what}: the database stayed "
                        f"locked through {locked} waits of {self.url.lock_timeout} s "
                        "(another process holds a long write transaction)"
                    ) from None
                log.warning("save.locked.retry", what=what, attempt=locked)
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
        self._known_absent.clear()

    # -- reading -----------------------------------------------------------------------

    def load(self, aggregate_id: UUID, cls: type[A]) -> A | None:
        """The aggregate with `aggregate_id`, or None when it was never created.

        Inside `trusting_cache` a cached aggregate is taken as it is; elsewhere it is
        fast-forwarded from the store first.
        """
        repository = self.app.repository
        aggregate: Any = None
        if self._trust_cache and repository.cache is not None:
            with contextlib.suppress(KeyError):
                aggregate = repository.cache.get(aggregate_id)
            if aggregate is None and aggregate_id in self._known_absent:
                return None
        if aggregate is None:
            try:
                aggregate = repository.get(aggregate_id)
            except AggregateNotFoundError:
                if self._trust_cache:
                    self._known_absent.add(aggregate_id)
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
        """The guardrail, or a new one opened at `at` (saved with the first decision)."""
        return self.load(GUARDRAIL_ID, Guardrail) or Guardrail(id=GUARDRAIL_ID, at=at)

    def policy(self, at: datetime, *, declare: Mapping[str, Sequence[str]] | None = None) -> Policy:
        """The policy, with the arm families `declare` declared on it if given.

        Declaring changes the aggregate: only an attempt that saves it may declare.
        """
        policy = self.load(POLICY_ID, Policy) or Policy(
            id=POLICY_ID, at=at, families={f: list(a) for f, a in DEFAULT_FAMILIES.items()}
        )
        if declare is not None:
            policy.declare(at=at, families={f: list(a) for f, a in declare.items()})
        return policy

    def self_check(self, at: datetime) -> SelfCheck:
        """The self-check, or a new one opened at `at`."""
        return self.load(SELF_CHECK_ID, SelfCheck) or SelfCheck(id=SELF_CHECK_ID, at=at)

    def controls(self, at: datetime) -> Controls:
        """The operator controls, or new ones opened at `at`."""
        return self.load(CONTROLS_ID, Controls) or Controls(id=CONTROLS_ID, at=at)

    def views(self) -> ViewStore:
        """The store of the status views beside the event store (made on first use).

        It shares the event store's connections, which `close()` closes.
        """
        if self._views is None:
            with self.store_errors(), table_creation(self.url):
                self._views = view_store_for(self.app.recorder)
        return self._views

    # -- the agenda and the cache ------------------------------------------------------

    def sync(self) -> None:
        """Catch the agenda up with the log, a page at a time.

        Every event read also brings a cached aggregate it is newer than up to date: the
        event is applied to it when it is the very next version, else the aggregate is
        dropped. After a sync the cache holds nothing older than the log up to the
        agenda's position.
        """
        self._synced_saves = self._saves
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
        self._known_absent.discard(originator)
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
        """Bring the agenda up to this session's own saves since the last sync.

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
        if self._saves == self._synced_saves:
            return True
        position = self.agenda.position
        own: list[tuple[int, Any]] = []
        for item in reversed(self._recorded):  # newest first: stop at the agenda
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
        self._synced_saves = self._saves
        return True

    @contextlib.contextmanager
    def trusting_cache(self) -> Iterator[None]:
        """Within this block, loads take cached aggregates without asking the store.

        Sound because the block starts with a sync (after folding this session's own
        saves, which the sync then need not read back), every sync drops what the log has
        outdated, this session's saves update the cached aggregate itself, a failed
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


def _first(item: tuple[int, object]) -> int:
    return item[0]


__all__ = ["RESYNC_AFTER_HOST_SECONDS", "Session", "system_clock"]
