"""The two bounded containers the dashboard's state is made of (pure, no I/O).

`TimeOrdered` keeps the newest items by event time; `Ranked` keeps the highest-ranked entries of
a mapping. Both hold at most `cap` items and count what they had to let go, so a view can say
"the newest 1,000" or "3 dropped" instead of silently showing less.
"""
from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Hashable, Iterator
from typing import Any

NO_TIME = float("-inf")     # items without a usable event time sort as the oldest


class TimeOrdered:
    """At most `cap` items, the newest by event time (ties: the later arrival is newer)."""

    def __init__(self, cap: int):
        self.cap = cap
        self.dropped = 0
        self._entries: list[tuple[float, int, Any]] = []   # ascending (time, arrival)
        self._arrivals = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, seconds: float | None, item: Any) -> None:
        self._arrivals += 1
        # Arrival numbers are unique, so the tuples never compare the items themselves.
        bisect.insort(self._entries, (NO_TIME if seconds is None else seconds, self._arrivals, item))
        if len(self._entries) > self.cap:
            del self._entries[0]
            self.dropped += 1

    def newest_first(self) -> Iterator[Any]:
        return (item for _, _, item in reversed(self._entries))


class Ranked:
    """A mapping of at most `cap` entries. Past the cap the lowest-ranked tenth is let go at once
    (one sort per `cap / 10` insertions, not one scan per insertion)."""

    def __init__(self, cap: int, rank: Callable[[Any], Any]):
        self.cap, self.rank = cap, rank
        self.dropped = 0
        self.data: dict[Hashable, Any] = {}

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.data

    def get(self, key: Hashable, default: Any = None) -> Any:
        return self.data.get(key, default)

    def put(self, key: Hashable, value: Any, on_drop: Callable[[Hashable, Any], None] | None = None) -> None:
        self.data[key] = value
        if len(self.data) > self.cap:
            keep = max(1, self.cap - max(1, self.cap // 10))
            doomed = heapq.nsmallest(len(self.data) - keep, self.data.items(), key=lambda kv: self.rank(kv[1]))
            for k, v in doomed:
                del self.data[k]
                if on_drop is not None:
                    on_drop(k, v)
            self.dropped += len(doomed)

    def pop(self, key: Hashable, default: Any = None) -> Any:
        return self.data.pop(key, default)

    def top(self, n: int, key: Callable[[Any], Any] | None = None) -> list[Any]:
        return heapq.nlargest(n, self.data.values(), key=key or self.rank)
