"""The bounded containers the dashboard's state is made of (pure, no I/O).

`TimeOrdered` keeps the newest items by event time; `Ranked` keeps the highest-ranked entries of
a mapping. Both hold at most `cap` items and count what they had to let go, so a view can say
"the newest 1,000" or "3 dropped" instead of silently showing less.

Both can also keep their entries by group (`group_of`), so a view of a few groups reads only
those groups' entries, and `Ranked` can keep entries in named orders (`orders`: the review queue
oldest first, the follow-ups newest first), so a view of the first hundred reads a hundred. The
indexes change with every put, pop and drop; a view never walks the whole store to find them.
"""
from __future__ import annotations

import bisect
import heapq
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from itertools import count, islice
from typing import Any

NO_TIME = float("-inf")     # items without a usable event time sort as the oldest


class TimeOrdered:
    """At most `cap` items, the newest by event time (ties: the later arrival is newer)."""

    def __init__(self, cap: int, group_of: Callable[[Any], Hashable] | None = None,
                 tally_of: Callable[[Any], Hashable] | None = None):
        self.cap = cap
        self.dropped = 0
        self._entries: list[tuple[float, int, Any]] = []   # ascending (time, arrival)
        self._arrivals = 0
        self._group_of = group_of
        self._by_group: dict[Hashable, list[tuple[float, int, Any]]] = {}
        self._tally_of = tally_of
        self.tally: Counter = Counter()      # items per `tally_of(item)`

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, seconds: float | None, item: Any) -> None:
        self._arrivals += 1
        # Arrival numbers are unique, so the tuples never compare the items themselves.
        entry = (NO_TIME if seconds is None else seconds, self._arrivals, item)
        bisect.insort(self._entries, entry)
        if self._group_of is not None:
            bisect.insort(self._by_group.setdefault(self._group_of(item), []), entry)
        if self._tally_of is not None:
            self.tally[self._tally_of(item)] += 1
        if len(self._entries) > self.cap:
            oldest = self._entries.pop(0)
            self.dropped += 1
            if self._tally_of is not None:
                tallied = self._tally_of(oldest[2])
                self.tally[tallied] -= 1
                if not self.tally[tallied]:
                    del self.tally[tallied]
            if self._group_of is not None:
                # The oldest of all is the oldest of its group.
                group = self._group_of(oldest[2])
                entries = self._by_group[group]
                del entries[0]
                if not entries:
                    del self._by_group[group]

    def newest_first(self, groups: Iterable[Hashable] | None = None) -> Iterator[Any]:
        """Every item, newest first; with `groups`, only theirs (needs `group_of`)."""
        if groups is None:
            return (item for _, _, item in reversed(self._entries))
        lists = [entries for entries in map(self._by_group.get, set(groups)) if entries]
        return (item for _, _, item in heapq.merge(*(reversed(e) for e in lists), reverse=True))


class Ranked:
    """A mapping of at most `cap` entries. Past the cap the lowest-ranked tenth is let go at once
    (one sort per `cap / 10` insertions, not one scan per insertion).

    `group_of(value)` keeps the keys of each group; `orders` maps a name to a function giving an
    entry's place in that order (any comparable value, or None to leave it out of the order)."""

    def __init__(self, cap: int, rank: Callable[[Any], Any], group_of: Callable[[Any], Hashable] | None = None,
                 orders: dict[str, Callable[[Any], Any]] | None = None, tally_of: Callable[[Any], Hashable] | None = None):
        self.cap, self.rank = cap, rank
        self.dropped = 0
        self.data: dict[Hashable, Any] = {}
        self._group_of = group_of
        self._by_group: dict[Hashable, dict[Hashable, None]] = {}
        self._sizes = Sizes()
        self._orders = {name: Order(place) for name, place in (orders or {}).items()}
        self._tally_of = tally_of
        self.tally: Counter = Counter()      # entries per `tally_of(value)`

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.data

    def get(self, key: Hashable, default: Any = None) -> Any:
        return self.data.get(key, default)

    def put(self, key: Hashable, value: Any, on_drop: Callable[[Hashable, Any], None] | None = None) -> None:
        old = self.data.get(key)
        if old is not None:
            self._unindex(key, old)
        self.data[key] = value
        self._index(key, value)
        if len(self.data) > self.cap:
            keep = max(1, self.cap - max(1, self.cap // 10))
            doomed = heapq.nsmallest(len(self.data) - keep, self.data.items(), key=lambda kv: self.rank(kv[1]))
            for k, v in doomed:
                del self.data[k]
                self._unindex(k, v)
                if on_drop is not None:
                    on_drop(k, v)
            self.dropped += len(doomed)

    def pop(self, key: Hashable, default: Any = None) -> Any:
        value = self.data.pop(key, None)
        if value is None:
            return default
        self._unindex(key, value)
        return value

    def top(self, n: int, key: Callable[[Any], Any] | None = None) -> list[Any]:
        return heapq.nlargest(n, self.data.values(), key=key or self.rank)

    # ------------------------------------------------------------------ indexes
    def groups(self) -> dict[Hashable, dict[Hashable, None]]:
        """Group → its keys (read only)."""
        return self._by_group

    def in_groups(self, groups: Iterable[Hashable]) -> Iterator[tuple[Hashable, Any]]:
        """The (key, value) entries of these groups."""
        for group in set(groups):
            for key in self._by_group.get(group, ()):
                yield key, self.data[key]

    def largest_groups(self, n: int) -> list[tuple[Hashable, int]]:
        """The `n` groups with most entries, and how many each has."""
        return self._sizes.largest(n)

    def order(self, name: str, place: Callable[[Any], Any] | None = None) -> Order:
        """The named order; with `place`, made from the entries now if the store has none of that
        name yet, and kept from then on (a view asks for it only when someone chooses it)."""
        order = self._orders.get(name)
        if order is None:
            if place is None:
                raise KeyError(name)
            order = self._orders[name] = Order(place, self.data.items())
        return order

    def _index(self, key: Hashable, value: Any) -> None:
        if self._group_of is not None:
            group = self._group_of(value)
            keys = self._by_group.setdefault(group, {})
            keys[key] = None
            self._sizes.set(group, len(keys))
        for order in self._orders.values():
            order.add(key, value)
        if self._tally_of is not None:
            self.tally[self._tally_of(value)] += 1

    def _unindex(self, key: Hashable, value: Any) -> None:
        if self._group_of is not None:
            group = self._group_of(value)
            keys = self._by_group.get(group)
            if keys is not None:
                keys.pop(key, None)
                self._sizes.set(group, len(keys))
                if not keys:
                    del self._by_group[group]
        for order in self._orders.values():
            order.remove(key)
        if self._tally_of is not None:
            tallied = self._tally_of(value)
            self.tally[tallied] -= 1
            if not self.tally[tallied]:
                del self.tally[tallied]


class Order:
    """The keys of a `Ranked` store sorted by `place(value)`; ties in the order of their puts."""

    _serials = count()

    def __init__(self, place: Callable[[Any], Any], entries: Iterable[tuple[Hashable, Any]] = ()):
        self.place = place
        self._of: dict[Hashable, tuple[Any, int, Hashable]] = {}
        for key, value in entries:
            where = place(value)
            if where is not None:
                self._of[key] = (where, next(self._serials), key)
        self._sorted: list[tuple[Any, int, Hashable]] = sorted(self._of.values())

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, key: Hashable, value: Any) -> None:
        place = self.place(value)
        if place is None:
            return
        # The serial is unique, so entries never compare their keys.
        entry = (place, next(self._serials), key)
        bisect.insort(self._sorted, entry)
        self._of[key] = entry

    def remove(self, key: Hashable) -> None:
        entry = self._of.pop(key, None)
        if entry is not None:
            del self._sorted[bisect.bisect_left(self._sorted, entry)]

    def place_of(self, key: Hashable) -> tuple | None:
        """A key's (place, serial): its position in this order, to sort a few keys the same way."""
        entry = self._of.get(key)
        return None if entry is None else entry[:2]

    def first(self, n: int | None = None) -> list[Hashable]:
        return [key for _, _, key in islice(self._sorted, n)]

    def last(self, n: int | None = None) -> list[Hashable]:
        return [key for _, _, key in islice(reversed(self._sorted), n)]

    def between(self, start: int, stop: int) -> list[Hashable]:
        """The keys at these positions (ascending)."""
        return [key for _, _, key in self._sorted[max(start, 0):max(stop, 0)]]

    def ascending(self) -> Iterator[Hashable]:
        return (key for _, _, key in self._sorted)

    def descending(self) -> Iterator[Hashable]:
        return (key for _, _, key in reversed(self._sorted))

    def count_before(self, place: Any) -> int:
        """How many keys sort strictly before `place` (a place of the same shape as `place(value)`)."""
        return bisect.bisect_left(self._sorted, (place,))


class Sizes:
    """A count per name, kept so the largest few are found without looking at the rest: names are
    kept in one bucket per count (counts change by one at a time, and there are few distinct ones)."""

    def __init__(self):
        self._of: dict[Hashable, int] = {}
        self._buckets: dict[int, dict[Hashable, None]] = {}

    def set(self, name: Hashable, size: int) -> None:
        old = self._of.get(name)
        if old == size:
            return
        if old is not None:
            bucket = self._buckets[old]
            del bucket[name]
            if not bucket:
                del self._buckets[old]
        if size:
            self._of[name] = size
            self._buckets.setdefault(size, {})[name] = None
        else:
            self._of.pop(name, None)

    def largest(self, n: int) -> list[tuple[Hashable, int]]:
        out: list[tuple[Hashable, int]] = []
        for size in sorted(self._buckets, reverse=True):
            out.extend((name, size) for name in islice(self._buckets[size], n - len(out)))
            if len(out) >= n:
                break
        return out
