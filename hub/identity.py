"""Return identity: which references an event carries, and which return they point at.

Pure logic, no I/O: the store side is :mod:`hub.store.references`, the batch glue
:mod:`hub.processing.matching`. The rule (docs/architecture.md, "Return identity"):

- An event's references are its own id (kind ``id``: ``<source>:<return id>``) and the fields
  its source maps (``references`` in ``[sources.<name>]``). Only the kinds its source lists in
  ``match`` (and its own id, always) are used to *find* a return; every reference is *linked* to
  the return the event is applied to, unless another return already holds it.
- A return holding another own id of the event's source is another return (:func:`distinct`;
  two returns in one parcel share a tracking number) and is never matched.
- A reference of a kind that names one return (anything but :data:`SHARED_KINDS`) finding one
  return: that return. Finding several: they are one return, *merged*, unless two of them (or
  the event) conflict. Two hold different values of a singular kind (:func:`conflict`): the
  match is *ambiguous* and parked for an operator.
- Only order-level references (an order may have several returns) found: one return that does
  not conflict with the event, and no other: that return. Each conflicts: a new return (the
  source says it is another return of the order). Several returns of the order, at least one
  possible: ambiguous, parked (never guessed).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.events import ReturnEvent

#: The kind of the reference every event with a return id carries: ``<source>:<return id>``.
OWN_ID = "id"
#: Kinds several returns may share (an order with two returns).
SHARED_KINDS = frozenset({"order_number", "order_id"})
#: Kinds a return may hold several values of (a label re-issued); never a conflict.
MULTI_KINDS = frozenset({"tracking_number"})
#: What a source maps when its config says nothing: event field path by reference kind.
DEFAULT_FIELDS: Mapping[str, str] = {"order_number": "order_number",
                                     "tracking_number": "tracking.number",
                                     "return_name": "extra.return_name"}
#: The kinds a source finds returns by when its config says nothing (besides its own id): a
#: carrier scan's tracking number, as before references existed.
DEFAULT_MATCH = ("tracking_number",)
#: Paths a reference may be read from: event fields, ``tracking.<field>``, ``extra.<key>``.
EVENT_FIELDS = frozenset({"return_id", "order_id", "order_number"})


@dataclass(frozen=True, slots=True)
class Reference:
    """One external reference of a return: its kind, value and the source that said it."""

    kind: str
    value: str
    source: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What makes two references the same: kind and value (not who said it)."""
        return (self.kind, self.value)


@dataclass(frozen=True, slots=True)
class IdentityRules:
    """One source's identity settings (see :class:`hub.config.SourcePolicy`)."""

    scope: str = "default"
    match: tuple[str, ...] = DEFAULT_MATCH
    fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))


@dataclass(frozen=True, slots=True)
class Match:
    """What :func:`decide` found. ``kind`` is one of:

    - ``existing``: apply to ``target``;
    - ``merge``: ``absorbed`` are the same return as ``target``; merge them, then apply;
    - ``new``: a new return;
    - ``wait``: no return holds the event's tracking number yet (a carrier scan): park it;
    - ``ambiguous``: park it for an operator (``reason`` says why, ``candidates`` lists them);
    - ``unmatchable``: the event names nothing to find a return by.
    """

    kind: str
    target: Hashable | None = None
    absorbed: tuple[Hashable, ...] = ()
    candidates: tuple[Hashable, ...] = ()
    reason: str = ""


def tracking_key(number: Any) -> str | None:
    """A tracking number as parked carrier scans are stored and found by: as its reference
    is (:func:`normalize`), so a scan parked as ``1z-park`` waits for a label ``1Z-PARK``, and
    one parked as ``94346508...`` for a label ``9434 6508 ...``."""
    return normalize("tracking_number", number)


def normalize(kind: str, value: Any) -> str | None:
    """A reference value as stored; None for an empty or non-text value. An id (Shopify gids
    are case-sensitive) is only trimmed. Any other kind is compared as systems print it
    differently: in upper case, without whitespace (a USPS number is printed in groups of
    four, ``9434 6508 ...``, and carriers' APIs send it without) and without a leading ``#``
    (Shopify names order 1001 ``#1001``; an ERP or a carrier often keeps ``1001``). Found
    from outside: either spelling made a second return, or parked the carrier's scans for
    good."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        return None
    if kind == OWN_ID:
        return value.strip()
    return "".join(value.split()).lstrip("#").upper() or None


def read_path(event: ReturnEvent, path: str) -> Any:
    """The value at ``path`` in ``event``: ``order_number``, ``tracking.number``,
    ``extra.<key>``; None when absent."""
    head, _, rest = path.partition(".")
    if head == "extra":
        return event.extra.get(rest) if rest else None
    if head == "tracking":
        return getattr(event.tracking, rest, None) if event.tracking and rest else None
    return getattr(event, head, None) if head in EVENT_FIELDS and not rest else None


def valid_path(path: str) -> bool:
    """Whether ``path`` is one :func:`read_path` can read (checked at start-up)."""
    head, _, rest = path.partition(".")
    if head == "extra":
        return bool(rest)
    if head == "tracking":
        return rest in {"number", "carrier", "url"}
    return head in EVENT_FIELDS and not rest


def references_of(event: ReturnEvent, rules: IdentityRules) -> list[Reference]:
    """Every reference ``event`` carries, its own id first, without repeats."""
    found: dict[tuple[str, str], Reference] = {}
    own = normalize(OWN_ID, event.return_id)
    if own is not None:
        ref = Reference(OWN_ID, f"{event.source}:{own}", event.source)
        found[ref.key] = ref
    for kind, path in rules.fields.items():
        value = normalize(kind, read_path(event, path))
        if value is not None:
            found.setdefault((kind, value), Reference(kind, value, event.source))
    return list(found.values())


def lookup_references(refs: Iterable[Reference], rules: IdentityRules) -> list[Reference]:
    """The references a return is *found* by: the own id and the kinds in ``match``."""
    return [r for r in refs if r.kind == OWN_ID or r.kind in rules.match]


def conflict(left: Iterable[Reference], right: Iterable[Reference]) -> str | None:
    """Why two sets of references cannot be one return (None: they can). Two different own
    ids from the same source, or two different values of any other singular kind."""
    singular: dict[tuple[str, str], set[str]] = {}
    for ref in left:
        if ref.kind not in SHARED_KINDS and ref.kind not in MULTI_KINDS:
            singular.setdefault(_slot(ref), set()).add(ref.value)
    for ref in right:
        if ref.kind in SHARED_KINDS or ref.kind in MULTI_KINDS:
            continue
        values = singular.get(_slot(ref))
        if values and ref.value not in values:
            what = f"{ref.source} id" if ref.kind == OWN_ID else ref.kind
            return f"two different {what}s"
    return None


def distinct(event: Iterable[Reference], held: Iterable[Reference]) -> bool:
    """Whether a return holding ``held`` is provably not the event's: it has another id from
    a source whose id the event carries."""
    own = {ref.source: ref.value for ref in event if ref.kind == OWN_ID}
    return any(ref.kind == OWN_ID and ref.source in own and own[ref.source] != ref.value
               for ref in held)


def _slot(ref: Reference) -> tuple[str, str]:
    """Own ids conflict per source; other singular kinds whoever said them."""
    return (ref.kind, ref.source if ref.kind == OWN_ID else "")


def decide(refs: list[Reference], rules: IdentityRules,
           holders: Mapping[tuple[str, str], Iterable[Hashable]],
           held: Mapping[Hashable, Iterable[Reference]]) -> Match:
    """Which return ``refs`` (one event's references) belong to. ``holders`` maps a
    reference's key to the returns holding it; ``held`` a return to all its references."""
    wanted = lookup_references(refs, rules)
    strong: list[Hashable] = []
    shared: list[Hashable] = []
    for ref in wanted:
        bucket = shared if ref.kind in SHARED_KINDS else strong
        for holder in holders.get(ref.key, ()):
            if holder not in bucket:
                bucket.append(holder)
    # A return holding another id from the event's own source is another return: that source
    # said so (two returns in one parcel share a tracking number).
    strong = [h for h in strong if not distinct(refs, held.get(h, ()))]
    if strong:
        return _one_or_merge(refs, strong, held)
    if shared:
        possible = [h for h in shared if conflict(refs, held.get(h, ())) is None]
        if len(shared) == 1 and possible:
            return Match("existing", target=possible[0])
        if not possible:
            if any(r.kind == OWN_ID for r in refs):
                return Match("new")
            return Match("ambiguous", candidates=tuple(shared),
                         reason="every return of the order conflicts with the event")
        return Match("ambiguous", candidates=tuple(shared),
                     reason=f"{len(shared)} returns share the event's order reference and "
                     "nothing else links it to one of them")
    if any(r.kind == OWN_ID for r in refs):
        return Match("new")
    if any(r.kind == "tracking_number" for r in wanted):
        return Match("wait")
    return Match("unmatchable")


def _one_or_merge(refs: list[Reference], strong: list[Hashable],
                  held: Mapping[Hashable, Iterable[Reference]]) -> Match:
    everyone = [list(refs), *(list(held.get(h, ())) for h in strong)]
    for i, left in enumerate(everyone):
        for right in everyone[i + 1:]:
            why = conflict(left, right)
            if why is not None:
                return Match("ambiguous", candidates=tuple(strong),
                             reason=f"the event's references point at returns with {why}")
    if len(strong) == 1:
        return Match("existing", target=strong[0])
    ordered = sorted(strong, key=_order)
    return Match("merge", target=ordered[0], absorbed=tuple(ordered[1:]),
                 candidates=tuple(ordered))


def _order(holder: Hashable) -> tuple[int, Any]:
    """Merges keep the oldest return: the lowest database id."""
    return (0, holder) if isinstance(holder, int) else (1, str(holder))
