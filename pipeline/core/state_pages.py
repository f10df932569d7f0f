"""A group's state stored as records the broker accepts, however large the group grows.

The core keeps a group's state as one nested dict. Stored as one record it outgrows the broker's
record limit (1 MiB by default): a group of about 1,300 members with an open reply item each did.
Here the dict becomes records of bounded size, all keyed under the group:

* a state that fits in HEAD_BYTES is one record, the head, exactly `orjson.dumps(state)`;
* otherwise its largest parts are stored in pages and replaced in their parent by a small stub. A
  large dict is cut into pages of contiguous key ranges (a change to one entry rewrites one page of
  at most PAGE_BYTES); a large list into consecutive chunks. The head lists where the stubs are.

`decode(encode(state))` gives back an equal dict, its insertion order included: each paged entry
carries a sequence number. Pages are copy-on-write: a page whose content changes gets a new key,
and the old one is deleted after the head that no longer names it, so a save cut short by a crash
leaves the previous head and every page it names intact (at worst some unreferenced pages).

Keys: the head is the group id; a page is `group id NUL json(path) NUL page id`. Group ids never
hold control characters (the input contract refuses them), so no head key can equal a page key.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

# The broker refuses records over about 1 MiB (message.max.bytes); these leave room for the key
# and the record's framing.
HEAD_BYTES = 256 * 1024     # a state up to this size is one record
PAGE_BYTES = 64 * 1024      # a page is at most this size
FILL_BYTES = PAGE_BYTES // 2  # new pages are filled to about this size
SMALL_BYTES = 256            # a field this small is not worth paging
RECORD_FIELDS = 16          # a dict of more keys is a collection, not a record
MAX_PAGES = 2000            # pages per paged node: bounds a stub (its page index) to a few tens of KB

STUB = "\x00paged"          # the key that marks a stub
PATHS = "\x00paths"         # in a paged head: where its stubs are, children before parents

Path = tuple
Records = dict[bytes, bytes]


class StateTooLarge(ValueError):
    """A part of a group's state cannot be stored within the record limit."""


@dataclass
class NodeLayout:
    """How one paged node was cut the last time it was stored."""

    kind: str                                            # "dict" or "list"
    bounds: list[tuple[str, int]] = field(default_factory=list)  # dict: (first key, page id), sorted
    pages: list[int] = field(default_factory=list)      # list: page ids in order
    next_id: int = 0
    seqs: dict[str, int] = field(default_factory=dict)   # dict: entry -> sequence number
    next_seq: int = 0


@dataclass
class Stored:
    """What a group's state looks like in the store: its records and the layout that made them."""

    records: Records = field(default_factory=dict)
    layout: dict[Path, NodeLayout] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.records.values())


def head_key(group_id: str) -> bytes:
    return group_id.encode("utf-8")


# A group id cannot hold it (the input contract refuses control characters), so no head key does.
PAGE_MARK = b"\x00"


def page_key(group_id: str, path: Path, page_id: int) -> bytes:
    return b"%s\x00%s\x00%d" % (group_id.encode("utf-8"), orjson.dumps(list(path)), page_id)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def kept(value: bytes) -> bytes:
    """`value` in a bytes object of its own size, for bytes that are kept: orjson allocates at
    least 4 KiB for each result (30,000 small group states took 233 MiB for 55 MB of data)."""
    return memoryview(value).tobytes()


# --------------------------------------------------------------------------- encoding


def encode(group_id: str, state: dict, previous: Stored | None = None) -> Stored:
    """The records of `state` (see the module docstring). `previous` is what the group's state was
    stored as, so unchanged pages keep their keys and bytes."""
    raw = dumps(state)
    if len(raw) <= HEAD_BYTES:
        return Stored({head_key(group_id): kept(raw)})
    encoder = _Encoder(group_id, previous or Stored())
    head = encoder.inline(state, (), HEAD_BYTES - HEAD_BYTES // 16)  # room for the list of paths
    head[PATHS] = [list(p) for p in encoder.paths]
    head_bytes = dumps(head)
    if len(head_bytes) > HEAD_BYTES:
        raise StateTooLarge(f"the group's state does not fit in {HEAD_BYTES} bytes even with its parts paged")
    encoder.records[head_key(group_id)] = kept(head_bytes)
    return Stored(encoder.records, encoder.layout)


class _Encoder:
    def __init__(self, group_id: str, previous: Stored):
        self.group_id = group_id
        self.previous = previous
        self.records: Records = {}
        self.layout: dict[Path, NodeLayout] = {}
        self.paths: list[Path] = []

    def fit(self, value: Any, path: Path, limit: int) -> tuple[Any, bytes]:
        """`value`, or a smaller stand-in for it, whose serialisation is at most `limit`."""
        raw = dumps(value)
        if len(raw) <= limit:
            return value, raw
        small = self.shrink(value, path, limit)
        return small, dumps(small)

    def shrink(self, value: Any, path: Path, limit: int) -> Any:
        """A stand-in for a large value, at most `limit` bytes where it can be: a record-like dict
        (most of its bytes in one or two fields) keeps its shape with those fields paged; a
        collection (a dict of many similar entries, a list) becomes a stub of its pages."""
        if isinstance(value, list):
            return self.page_list(value, path)
        if isinstance(value, dict):
            largest = max((len(dumps(v)) for v in value.values() if isinstance(v, (dict, list))), default=0)
            if len(value) <= RECORD_FIELDS and largest * 2 >= len(dumps(value)):
                trial = _Encoder(self.group_id, self.previous)
                try:
                    inline = trial.inline(value, path, limit)
                except StateTooLarge:
                    pass  # its other fields are too large in themselves: page the dict as a whole
                else:
                    self.records.update(trial.records)
                    self.layout.update(trial.layout)
                    self.paths.extend(trial.paths)
                    return inline
            return self.page_dict(value, path)
        raise StateTooLarge(f"a value of {len(dumps(value))} bytes at {'/'.join(map(str, path)) or 'the top'} "
                            f"is over the {limit}-byte limit and cannot be paged")

    def inline(self, node: dict, path: Path, limit: int) -> dict:
        """`node` as a dict of at most `limit` bytes: its largest dict and list values replaced by
        stand-ins, from the largest, until it fits."""
        out = dict(node)
        sizes = sorted(((len(dumps(v)), k) for k, v in node.items() if isinstance(v, (dict, list))), reverse=True)
        total = len(dumps(node))
        for size, key in sizes:
            if total <= limit or size <= SMALL_BYTES:
                break
            # at least halved, and by as much as the whole dict is over (with a floor for its stub)
            out[key] = self.shrink(node[key], path + (key,), max(4 * SMALL_BYTES, min(size // 2, size - (total - limit))))
            total -= size - len(dumps(out[key]))
        if total > limit:
            where = "/".join(map(str, path)) or "the top"
            raise StateTooLarge(f"{where} does not fit in {limit} bytes with its large parts paged "
                                f"(its largest field: {max(out, key=lambda k: len(dumps(out[k])), default=None)!r})")
        return out

    def page_dict(self, node: dict, path: Path) -> dict:
        before = self.previous.layout.get(path)
        if before is not None and before.kind != "dict":
            before = None
        layout = NodeLayout("dict", next_id=before.next_id if before else 0,
                            next_seq=before.next_seq if before else 0)
        # Sequence numbers follow the dict's order: an entry that moved (popped and put back) gets a
        # new, higher one, as Python's dict moves it to the end.
        old_seqs = before.seqs if before else {}
        seqs = layout.seqs
        last = -1
        for key in node:
            seq = old_seqs.get(key)
            if seq is None or seq <= last:
                seq = layout.next_seq
                layout.next_seq += 1
            seqs[key] = last = seq
        keys = sorted(node)
        if before and before.bounds:
            firsts = [first for first, _ in before.bounds]
            groups: list[list[str]] = [[] for _ in firsts]
            i = 0
            for key in keys:
                while i + 1 < len(firsts) and key >= firsts[i + 1]:
                    i += 1
                groups[i].append(key)
            groups = [g for n, g in enumerate(groups) if g or n == 0]
        else:
            groups = _chunks(keys, len(dumps(node)))

        fitted: dict[str, Any] = {}  # entries too large for a page of their own, with parts paged

        def page_bytes(group: list[str]) -> bytes:
            if len(group) == 1 and group[0] not in fitted:
                key = group[0]
                value, raw = self.fit(node[key], path + (key,), PAGE_BYTES - len(dumps(key)) - 32)
                if value is not node[key]:
                    fitted[key] = value
                return b"{%s:[%d,%s]}" % (dumps(key), seqs[key], raw)
            return dumps({key: [seqs[key], fitted.get(key, node[key])] for key in group})

        pages = _fitted(groups, page_bytes)
        self.layout[path] = layout
        for group, value in pages:
            first = "" if not layout.bounds else group[0]
            layout.bounds.append((first, self._store(path, value, before, layout, first)))
        if len(layout.bounds) > MAX_PAGES:
            raise StateTooLarge(f"{'/'.join(map(str, path))} needs more than {MAX_PAGES} pages")
        self.paths.append(path)
        return {STUB: "dict", "pages": [[first, page_id] for first, page_id in layout.bounds],
                "next_id": layout.next_id, "next_seq": layout.next_seq}

    def _store(self, path: Path, value: bytes, before: NodeLayout | None, layout: NodeLayout, first: str) -> int:
        """Store a page; returns its id: the previous one if neither its range nor its bytes changed."""
        if before is not None:
            i = bisect.bisect_right([f for f, _ in before.bounds], first) - 1
            if i >= 0 and before.bounds[i][0] == first:
                old = page_key(self.group_id, path, before.bounds[i][1])
                if self.previous.records.get(old) == value:
                    self.records[old] = value
                    return before.bounds[i][1]
        page_id = layout.next_id
        layout.next_id += 1
        self.records[page_key(self.group_id, path, page_id)] = kept(value)
        return page_id

    def page_list(self, node: list, path: Path) -> dict:
        before = self.previous.layout.get(path)
        if before is not None and before.kind != "list":
            before = None
        layout = NodeLayout("list", next_id=before.next_id if before else 0)

        fitted: dict[int, Any] = {}  # items too large for a page of their own, with parts paged

        def page_bytes(chunk: list[int]) -> bytes:
            if len(chunk) == 1 and chunk[0] not in fitted:
                value, raw = self.fit(node[chunk[0]], path + (chunk[0],), PAGE_BYTES - 32)
                if value is not node[chunk[0]]:
                    fitted[chunk[0]] = value
                return b"[%s]" % raw
            return dumps([fitted.get(i, node[i]) for i in chunk])

        pages = _fitted(_chunks(list(range(len(node))), len(dumps(node))), page_bytes)
        if len(pages) > MAX_PAGES:
            raise StateTooLarge(f"{'/'.join(map(str, path))} needs more than {MAX_PAGES} pages")
        old_pages = before.pages if before else []
        for n, (_, value) in enumerate(pages):
            if n < len(old_pages):
                old = page_key(self.group_id, path, old_pages[n])
                if self.previous.records.get(old) == value:
                    self.records[old] = value
                    layout.pages.append(old_pages[n])
                    continue
            page_id = layout.next_id
            layout.next_id += 1
            self.records[page_key(self.group_id, path, page_id)] = kept(value)
            layout.pages.append(page_id)
        self.layout[path] = layout
        self.paths.append(path)
        return {STUB: "list", "pages": layout.pages, "next_id": layout.next_id}


def _chunks(items: list, total_bytes: int) -> list[list]:
    """`items` cut into runs of a count that makes about FILL_BYTES each, at their average size."""
    if not items:
        return [[]]
    per = max(1, FILL_BYTES * len(items) // max(1, total_bytes))
    return [items[i:i + per] for i in range(0, len(items), per)]


def _fitted(groups: list[list], page_bytes: Callable[[list], bytes]) -> list[tuple[list, bytes]]:
    """Each group with its page's bytes: groups over PAGE_BYTES split in halves until they fit,
    neighbours that fit in a quarter of it merged (so pages neither overflow nor multiply)."""
    out: list[tuple[list, bytes]] = []
    stack: list[tuple[list, bytes]] = [(g, page_bytes(g)) for g in groups[::-1]]
    while stack:
        group, value = stack.pop()
        if len(value) > PAGE_BYTES and len(group) > 1:
            half = len(group) // 2
            stack.append((group[half:], page_bytes(group[half:])))
            stack.append((group[:half], page_bytes(group[:half])))
            continue
        if out and len(out[-1][1]) + len(value) < PAGE_BYTES // 4:
            merged = out[-1][0] + group
            out[-1] = (merged, page_bytes(merged))
            continue
        out.append((group, value))
    return out


# --------------------------------------------------------------------------- decoding


def decode(group_id: str, read: Callable[[bytes], bytes | None]) -> tuple[dict | None, Stored]:
    """The group's state from the store (`read(key)` gives a record's value or None), and how it
    is stored; (None, empty) for a group with no state."""
    head_bytes = read(head_key(group_id))
    if head_bytes is None:
        return None, Stored()
    state = orjson.loads(head_bytes)
    stored = Stored({head_key(group_id): head_bytes})
    paths = state.pop(PATHS, None) if isinstance(state, dict) else None
    if not paths:
        return state, stored
    for raw_path in reversed(paths):  # parents before the stubs inside their pages
        path = tuple(raw_path)
        parent = state
        for step in path[:-1]:
            parent = parent[step]
        stub = parent[path[-1]]
        parent[path[-1]] = _unstub(group_id, path, stub, read, stored)
    return state, stored


def _unstub(group_id: str, path: Path, stub: dict, read: Callable[[bytes], bytes | None], stored: Stored) -> Any:
    def page(page_id: int) -> bytes:
        key = page_key(group_id, path, page_id)
        value = read(key)
        if value is None:
            raise StateTooLarge(f"page {page_id} of {'/'.join(map(str, path))} of group {group_id!r} is missing")
        stored.records[key] = value
        return value

    if stub[STUB] == "list":
        items: list = []
        for page_id in stub["pages"]:
            items.extend(orjson.loads(page(page_id)))
        stored.layout[path] = NodeLayout("list", pages=list(stub["pages"]), next_id=stub["next_id"])
        return items
    layout = NodeLayout("dict", bounds=[(first, page_id) for first, page_id in stub["pages"]],
                        next_id=stub["next_id"], next_seq=stub["next_seq"])
    entries: list[tuple[int, str, Any]] = []
    for _, page_id in layout.bounds:
        entries += [(seq_value[0], key, seq_value[1]) for key, seq_value in orjson.loads(page(page_id)).items()]
    entries.sort(key=_first)
    layout.seqs = {key: seq for seq, key, _ in entries}
    stored.layout[path] = layout
    return {key: value for _, key, value in entries}


def _first(entry: tuple) -> int:
    return entry[0]
