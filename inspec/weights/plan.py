"""Which tensor of a checkpoint goes where: the key map between two state_dicts (no torch here).

A state_dict is seen as its entries, each a key and a shape, in the order the module lists them.

- `key`: an entry goes to the entry of the same name; the shapes must agree.
- `order`: the entries are grouped by their kind (the name after the last dot and the number of
  dimensions, which tells a conv's weight, 4, from a linear's, 2, and a norm's, 1) and paired in order
  within each kind; the shapes must agree at every pair.
- `auto`: by key where the names and the shapes agree, the rest by order among the entries left over.

Nothing is guessed silently: every pair records how it was made, and what is left over on either side is
listed (`missing`: entries of the target that nothing fills; `unexpected`: entries of the source that go
nowhere; `misshaped`: pairs whose shapes disagree, left out). A batch norm's `num_batches_tracked` may be
absent on either side: a target one that nothing fills is filled with 0 (`filled`), a source one with no
place is dropped (`dropped`); neither is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher

MAPS = ("auto", "key", "order")
NBT = "num_batches_tracked"

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Entry:
    key: str
    shape: Shape

    @property
    def kind(self) -> tuple[str, int]:
        return self.key.rpartition(".")[2], len(self.shape)


@dataclass(frozen=True)
class Pair:
    target: Entry
    source: Entry
    how: str  # "key" or "order"


@dataclass(frozen=True)
class OrderMismatch:
    """Where pairing one kind in order first fails: position `index` (from 0) of `count_target`
    target and `count_source` source entries of that kind (an entry is None past the end)."""

    kind: tuple[str, int]
    index: int
    count_target: int
    count_source: int
    target: Entry | None
    source: Entry | None


@dataclass
class Plan:
    how: str
    pairs: list[Pair] = field(default_factory=list)
    misshaped: list[Pair] = field(default_factory=list)
    missing: list[Entry] = field(default_factory=list)
    unexpected: list[Entry] = field(default_factory=list)
    filled: list[Entry] = field(default_factory=list)
    dropped: list[Entry] = field(default_factory=list)
    mismatches: list[OrderMismatch] = field(default_factory=list)  # in the target's order
    target_order: dict[str, int] = field(default_factory=dict)
    source_order: dict[str, int] = field(default_factory=dict)

    def problems(self, allow_missing: bool = False, allow_unexpected: bool = False) -> bool:
        """Whether the plan cannot be carried out with these allowances. A mis-shaped pair is a
        target entry left unfilled and a source entry left unused: it needs both."""
        return bool(
            (self.missing and not allow_missing)
            or (self.unexpected and not allow_unexpected)
            or (self.misshaped and not (allow_missing and allow_unexpected))
        )

    @property
    def by_key(self) -> int:
        return sum(p.how == "key" for p in self.pairs)

    @property
    def by_order(self) -> int:
        return sum(p.how == "order" for p in self.pairs)

    @property
    def first_mismatch(self) -> OrderMismatch | None:
        return self.mismatches[0] if self.mismatches else None


def entries(shapes) -> list[Entry]:
    """Entries from (key, shape) pairs, a shape being any sequence of ints."""
    return [Entry(k, tuple(int(n) for n in s)) for k, s in shapes]


def make_plan(source: list[Entry], target: list[Entry], how: str = "key") -> Plan:
    """The key map from `source` to `target` entries (see the module's docstring)."""
    if how not in MAPS:
        raise ValueError(f"map must be one of {', '.join(MAPS)}, not {how!r}")
    plan = Plan(
        how,
        target_order={e.key: i for i, e in enumerate(target)},
        source_order={e.key: i for i, e in enumerate(source)},
    )
    if how in ("key", "auto"):
        by_name = {e.key: e for e in source}
        used: set[str] = set()
        rest_target = []
        for t in target:
            s = by_name.get(t.key)
            if s is not None and s.shape == t.shape:
                plan.pairs.append(Pair(t, s, "key"))
                used.add(s.key)
            elif s is not None and how == "key":
                plan.misshaped.append(Pair(t, s, "key"))
                used.add(s.key)
            else:
                rest_target.append(t)
        rest_source = [s for s in source if s.key not in used]
        if how == "key":
            plan.missing += rest_target
            plan.unexpected += rest_source
        else:
            _by_order(plan, rest_source, rest_target)
    else:
        _by_order(plan, source, target)
    # num_batches_tracked: filled or dropped, never an error
    plan.filled = [e for e in plan.missing if e.kind[0] == NBT]
    plan.dropped = [e for e in plan.unexpected if e.kind[0] == NBT]
    plan.missing = [e for e in plan.missing if e.kind[0] != NBT]
    plan.unexpected = [e for e in plan.unexpected if e.kind[0] != NBT]
    order, source_order = plan.target_order, plan.source_order
    plan.pairs.sort(key=lambda p: order[p.target.key])
    plan.misshaped.sort(key=lambda p: order[p.target.key])
    for kept in (plan.missing, plan.filled):
        kept.sort(key=lambda e: order[e.key])
    for kept in (plan.unexpected, plan.dropped):
        kept.sort(key=lambda e: source_order[e.key])
    plan.mismatches.sort(key=lambda m: order[m.target.key] if m.target else len(order))
    return plan


def _kinds(items: list[Entry]) -> dict[tuple[str, int], list[Entry]]:
    out: dict[tuple[str, int], list[Entry]] = {}
    for e in items:
        out.setdefault(e.kind, []).append(e)
    return out


def _by_order(plan: Plan, source: list[Entry], target: list[Entry]) -> None:
    """Pair each kind's entries in order. Equal counts pair position by position (a pair whose shapes
    disagree is mis-shaped); unequal counts are aligned by their shapes (difflib), so that what
    matches still pairs and the rest is listed."""
    src, tgt = _kinds(source), _kinds(target)
    for kind in [*tgt, *(k for k in src if k not in tgt)]:
        ts, ss = tgt.get(kind, []), src.get(kind, [])
        first = next(
            (i for i, (t, s) in enumerate(zip(ts, ss, strict=False)) if t.shape != s.shape),
            min(len(ts), len(ss)),
        )
        if first < max(len(ts), len(ss)) and not (kind[0] == NBT and len(ts) != len(ss)):
            at = lambda xs, i: xs[i] if i < len(xs) else None  # noqa: E731
            plan.mismatches.append(
                OrderMismatch(kind, first, len(ts), len(ss), at(ts, first), at(ss, first))
            )
        if len(ts) == len(ss):
            for t, s in zip(ts, ss, strict=True):
                (plan.pairs if t.shape == s.shape else plan.misshaped).append(Pair(t, s, "order"))
            continue
        if kind[0] == NBT:  # counters: nothing to align them by
            plan.missing += ts
            plan.unexpected += ss
            continue
        matcher = SequenceMatcher(
            None, [t.shape for t in ts], [s.shape for s in ss], autojunk=False
        )
        for op, t0, t1, s0, s1 in matcher.get_opcodes():
            if op == "equal":
                plan.pairs += [
                    Pair(t, s, "order") for t, s in zip(ts[t0:t1], ss[s0:s1], strict=True)
                ]
                continue
            n = min(t1 - t0, s1 - s0) if op == "replace" else 0
            plan.misshaped += [
                Pair(t, s, "order") for t, s in zip(ts[t0 : t0 + n], ss[s0 : s0 + n], strict=True)
            ]
            plan.missing += ts[t0 + n : t1]
            plan.unexpected += ss[s0 + n : s1]
