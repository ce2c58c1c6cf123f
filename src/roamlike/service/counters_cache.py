"""The counters of a process's large commit groups kept between groups, checked by ``seq``.

A large group (``roamlike.service.large_groups``) reads the counters of its 1,600 or so
subscribers on a snapshot: about 25 ms of SQL per group, most of a preparer's store time. The
process itself wrote most of them a few groups earlier. Here each tenant keeps, per subscriber,
its counters as plain states (every stored period and its subscriber row) and the ``seq`` they
are valid at (*tag*): those of the process's own last commits (tagged with the last ``seq`` the
commit took) and those its groups read.

An entry stays true until a later write of that subscriber's counters. Every write takes the
tenant's next ``seq``, and every commit group of the service names the subscribers it wrote in
a row of ``service_written_keys`` (:mod:`roamlike.service.written_keys`); so before a group
takes entries on a snapshot whose last ``seq`` is S, the rows from the last ``seq`` the cache
was brought to (``at``) up to S are read (on the snapshot) and every entry they name with a
tag below their span is dropped; a span no row covers (``roamlike rate --state``, a pack: an
unknown write) drops every entry tagged below it; a prune (``state_pruned`` changed) drops
every entry of the tenant, and so does a packed write (``roamlike.state.packs``: nothing is
kept while the tenant has one). Folds take no ``seq`` and change no counters. An entry tagged above
S (a commit newer than the snapshot) is not taken. What a group takes therefore equals what
the store read on its snapshot gives, row for row (Hypothesis: ``tests/service/
test_counters_cache.py``, interleaved writers, ``rate --state``, compaction slices, packs and
prunes). A large group also leaves the counters it wrote, next to its row
(:mod:`roamlike.service.written_states`): bringing the cache over that row updates the entries
of its subscribers to them instead of dropping them (:meth:`CountersCache._bring`).

Entries are written only after the commit that wrote them succeeded (:meth:`CountersCache.stage`
under the lock, :meth:`CountersCache.committed` once the transaction committed,
:meth:`CountersCache.discard` when it did not): a rolled-back group leaves the cache as it
was. A commit whose entries arrive after the cache was brought past their tag is checked
against the spans it already saw (a short history); when those do not reach back, its entries
are not kept. Each tenant keeps at most ``max_subscribers`` entries, the least recently used
dropped first.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from roamlike.reference.history import CounterStates, PeriodKey, PeriodState, SubscriberState
from roamlike.service import written_keys, written_states
from roamlike.state import Transaction
from roamlike.state.schema import PACKS_TABLE

#: Subscribers kept per tenant (measured: about 1.3 KB each with one period, its states
#: included: ~65 MB at the bound).
MAX_SUBSCRIBERS = 50_000
#: Tenants kept (the least recently used dropped whole).
MAX_TENANTS = 64
#: Spans kept to check entries that arrive after the cache moved past their tag.
_HISTORY = 64
#: A process's groups leave their counters for the other process
#: (:mod:`roamlike.service.written_states`) while the share of subscribers its own groups take
#: from its cache (a moving average over groups, weight :data:`_REUSE_WEIGHT` for the last)
#: is at least this: with rare hits (many subscribers, each seldom seen again) the other
#: process would rarely take them either, and encoding, storing and bringing them cost more
#: than the reads they save (measured, docs/service.md, round 17).
SHARE_MIN_REUSE = 0.05
_REUSE_WEIGHT = 0.2

#: An entry: (tag, the subscriber's periods in key order, its subscriber state or None); or,
#: brought forward to another process's commit, (tag, its undecoded states, None).
Entry = tuple[int, list[tuple[PeriodKey, PeriodState]] | msgspec.Raw, SubscriberState | None]
#: What a commit staged: (tenant, its entries' holder then, last seq, its subscribers, the
#: counters read for it, the counters it wrote, its entries built already or None).
_Staged = tuple[
    str,
    "_Tenant | None",
    int,
    Sequence[str],
    CounterStates,
    CounterStates,
    Mapping[str, written_states.Kept] | None,
]


@dataclass
class _Tenant:
    """One tenant's entries, the ``seq`` they were brought to, the prune seen then, and the
    spans read since (``history``)."""

    at: int
    pruned: list[tuple[Any, ...]]
    #: the moving average of the share of its groups' subscribers taken from the cache
    reuse: float = 1.0
    entries: collections.OrderedDict[str, Entry] = field(default_factory=collections.OrderedDict)
    history: collections.deque[written_keys.Span] = field(
        default_factory=lambda: collections.deque(maxlen=_HISTORY)
    )


def _pruned(tx: Transaction, tenant: str) -> list[tuple[Any, ...]]:
    return tx.execute("SELECT before_day, pruned_at FROM state_pruned WHERE tenant = ?", (tenant,))


class CountersCache:
    """The counters kept between groups by one process (module docstring), per tenant.

    Parameters
    ----------
    max_subscribers : int
        Entries kept per tenant.

    Attributes
    ----------
    hits, misses : int
        Subscribers taken from the cache, and read from the store, by :meth:`load`.
    shared : int
        Commit groups of another process whose stored counters were brought in.
    """

    def __init__(self, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self.max_subscribers = max_subscribers
        self.hits = 0
        self.misses = 0
        self.shared = 0
        self._tenants: collections.OrderedDict[str, _Tenant] = collections.OrderedDict()
        self._staged: dict[int, list[_Staged]] = {}
        # the preparer's thread takes entries while the writer's (or the loop) adds them
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(t.entries) for t in self._tenants.values())

    def _brought_to(self, tx: Transaction, tenant: str, seq: int) -> _Tenant | None:
        """The tenant's entries brought to ``seq`` (the last ``seq`` of ``tx``'s snapshot):
        those named by a write since dropped (module docstring). None while the tenant has
        packed writes (``roamlike.state.packs``: rows the plain read does not see until they
        are unpacked, which takes no ``seq``): nothing kept then."""
        if tx.execute(f"SELECT 1 FROM {PACKS_TABLE} WHERE tenant = ? LIMIT 1", (tenant,)):
            self._tenants.pop(tenant, None)
            return None
        pruned = _pruned(tx, tenant)
        t = self._tenants.get(tenant)
        if t is None or t.pruned != pruned:
            t = self._tenants[tenant] = _Tenant(seq, pruned)
            while len(self._tenants) > MAX_TENANTS:
                self._tenants.popitem(last=False)
            return t
        self._tenants.move_to_end(tenant)
        if seq <= t.at:
            return t
        entries = t.entries
        # the spans of this process's own commits not kept yet: their entries come with
        # committed() (checked against the spans seen since), not from their stored states
        own = {s[2] for staged in self._staged.values() for s in staged if s[0] == tenant}
        for span in written_keys.changes(tx, tenant, t.at, seq):
            if span[2] is not None and span[1] not in own:
                self._bring(tx, tenant, entries, span)
            else:
                _drop(entries, span)
            t.history.append(span)
        t.at = seq
        return t

    def _bring(
        self,
        tx: Transaction,
        tenant: str,
        entries: collections.OrderedDict[str, Entry],
        span: written_keys.Span,
    ) -> None:
        """Bring the entries a commit group's ``span`` wrote to the counters it left
        (:mod:`roamlike.service.written_states`): every subscriber it read, tagged with its
        last ``seq``, kept undecoded until taken; those it named with no states stored
        (none kept, or deleted) dropped. Its subscribers already kept at or above its last
        ``seq`` (this process's own commits, kept) are left as they are, and its states not
        even read when that holds for every one it named."""
        _, last, names = span
        assert names is not None
        stale = [sid for sid in names if (e := entries.get(sid)) is None or e[0] < last]
        if not stale:  # one pass, as a drop: this process's own commits, kept
            return
        blob = written_states.fetch(tx, tenant, last)
        left = [] if blob is None else written_states.pairs(blob)
        if left:
            for sid, raw in left:
                entry = entries.get(sid)
                if entry is None or entry[0] < last:
                    entries[sid] = (last, raw, None)
                    entries.move_to_end(sid)
            self.shared += 1
            while len(entries) > self.max_subscribers:
                entries.popitem(last=False)
        for sid in stale:  # those it named and left no counters of (all of them: none kept)
            entry = entries.get(sid)
            if entry is not None and entry[0] < last:
                del entries[sid]

    def load(
        self,
        tx: Transaction,
        subscribers: Sequence[str],
        tenant: str,
        seq: int,
        read: Callable[[list[str]], CounterStates],
    ) -> CounterStates:
        """The counters of ``subscribers`` (sorted, distinct, stored ids) on the snapshot
        ``tx`` whose last ``seq`` is ``seq``: entries valid there, and ``read`` of the others
        (the store's read on that snapshot); the states in the order ``read`` gives them
        (subscribers, then each one's periods, in key order)."""
        hits: dict[str, Entry] = {}
        missing: list[str] = []
        with self._lock:
            t = self._brought_to(tx, tenant, seq)
            entries = collections.OrderedDict() if t is None else t.entries
            for sid in subscribers:
                entry = entries.get(sid)
                if entry is not None and entry[0] <= seq:
                    hits[sid] = entry
                    entries.move_to_end(sid)
                else:
                    missing.append(sid)
            self.hits += len(hits)
            self.misses += len(missing)
            if t is not None and subscribers:
                share = len(hits) / len(subscribers)
                t.reuse += _REUSE_WEIGHT * (share - t.reuse)
        stored = read(missing) if missing else CounterStates()
        if not hits:
            return stored
        periods: dict[PeriodKey, PeriodState] = {}
        subs: dict[str, SubscriberState] = {}
        pending = iter(stored.periods.items())  # in key order, the subscriber first
        nxt = next(pending, None)
        for sid in subscribers:
            entry = hits.get(sid)
            if entry is None:
                while nxt is not None and nxt[0][0] == sid:
                    periods[nxt[0]] = nxt[1]
                    nxt = next(pending, None)
                sub = stored.subscribers.get(sid)
            elif isinstance(entry[1], msgspec.Raw):  # left by another process's group
                kept, sub = written_states.states(entry[1])
                periods.update(kept)
            else:
                periods.update(entry[1])
                sub = entry[2]
            if sub is not None:
                subs[sid] = sub
        if nxt is not None:  # the read gave periods of subscribers it was not asked for
            raise ValueError(f"periods of {nxt[0][0]!r} read, not asked for")
        return CounterStates(periods, subs)

    def sharing(self, tenant: str) -> bool:
        """True when the tenant's groups are to leave their counters for the other process:
        while this process's groups take at least :data:`SHARE_MIN_REUSE` of their
        subscribers from the cache (a tenant not seen yet: true)."""
        with self._lock:
            t = self._tenants.get(tenant)
            return t is None or t.reuse >= SHARE_MIN_REUSE

    def stage(
        self,
        token: int,
        tenant: str,
        last: int,
        subscribers: Sequence[str],
        loaded: CounterStates,
        after: CounterStates,
        built: Mapping[str, written_states.Kept] | None = None,
    ) -> None:
        """Under the lock, in the write transaction of the group ``token``: the counters of
        ``subscribers`` (stored ids) as they are once it commits, valid at ``last`` (the last
        ``seq`` it took): ``loaded`` (read for the group, valid right before its writes)
        updated with ``after`` (what it wrote). Only noted here (the writers' lock is held);
        :meth:`committed` builds the entries and keeps them, or only tags those ``built``
        already from the same counters (:func:`roamlike.service.written_states.leave`, outside
        the lock)."""
        with self._lock:
            # the tenant's entries as they are now: if they are replaced before the commit is
            # kept (a prune seen), these are not kept
            held = self._tenants.get(tenant)
            staged = (tenant, held, last, subscribers, loaded, after, built)
            self._staged.setdefault(token, []).append(staged)

    def committed(self, token: int) -> None:
        """The group ``token`` committed: keep what it staged."""
        with self._lock:
            staged = self._staged.pop(token, [])
        for tenant, held, last, subscribers, loaded, after, built in staged:
            if held is None:
                continue
            # outside the cache's lock
            entries: dict[str, Entry] = (
                _entries(last, subscribers, loaded, after)
                if built is None
                else {sid: (last, periods, sub) for sid, (periods, sub) in built.items()}
            )
            with self._lock:
                t = self._tenants.get(tenant)
                if t is not held:
                    continue  # replaced (a prune seen, or too many tenants) meanwhile
                if last < t.at:  # the cache moved past it: the spans since must be known
                    later = [s for s in t.history if s[1] > last]
                    if not later or later[0][0] != last + 1:
                        continue
                    for span in later:
                        _drop(entries, span)
                cache = t.entries
                for sid, entry in entries.items():
                    cache[sid] = entry
                    cache.move_to_end(sid)
                while len(cache) > self.max_subscribers:
                    cache.popitem(last=False)

    def discard(self, token: int) -> None:
        """The group ``token`` did not commit: forget what it staged."""
        with self._lock:
            self._staged.pop(token, None)


def _entries(
    last: int, subscribers: Sequence[str], loaded: CounterStates, after: CounterStates
) -> dict[str, Entry]:
    """The entries of ``subscribers`` once a commit that read ``loaded`` and wrote ``after``
    took its last ``seq``, ``last``."""
    own: dict[str, dict[PeriodKey, PeriodState]] = {sid: {} for sid in subscribers}
    for key, state in loaded.periods.items():
        own.setdefault(key[0], {})[key] = state
    for key, state in after.periods.items():
        own.setdefault(key[0], {})[key] = state
    subs = loaded.subscribers
    written = after.subscribers
    entries: dict[str, Entry] = {}
    for sid, periods in own.items():
        items = list(periods.items())
        if len(items) > 1:
            items.sort(key=lambda item: item[0])
        sub = written.get(sid)
        entries[sid] = (last, items, subs.get(sid) if sub is None else sub)
    return entries


def _drop(entries: dict[str, Entry], span: written_keys.Span) -> None:
    """Drop the entries ``span`` may have changed: those it names (or, unknown, every one)
    tagged below its last ``seq``."""
    _, last, names = span
    if names is None:
        for sid in [s for s, e in entries.items() if e[0] < last]:
            del entries[sid]
        return
    for sid in names:
        entry = entries.get(sid)
        if entry is not None and entry[0] < last:
            del entries[sid]
