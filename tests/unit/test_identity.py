"""The matching rule of hub/identity.py (docs/architecture.md, "Return identity"):
pure decisions over references, and the per-source settings that feed it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.assembly import validate_connectors
from hub.config import ConfigError
from hub.events import EventType, ReturnEvent, Tracking
from hub.identity import (
    IdentityRules,
    Reference,
    conflict,
    decide,
    normalize,
    references_of,
)
from hub.plugins import collect_connectors, get_plugin_manager
from tests.conftest import TEST_SECRET, make_settings

ERP = IdentityRules(match=("order_number", "tracking_number"),
                    fields={"order_number": "order_number", "rma": "return_id",
                            "tracking_number": "tracking.number"})


def event(source: str, return_id: str | None, **fields) -> ReturnEvent:
    return ReturnEvent(type=EventType.RECEIVED, source=source, return_id=return_id, **fields)


def holders_of(returns: dict[int, list[Reference]]) -> dict:
    found: dict = {}
    for return_id, refs in returns.items():
        for ref in refs:
            found.setdefault(ref.key, []).append(return_id)
    return found


def shopify_return(gid: str, order: str, tracking: str | None = None) -> list[Reference]:
    """A Shopify return's references as the store holds them (normalized)."""
    refs = [Reference("id", f"store:{gid}", "store"),
            Reference("order_number", normalize("order_number", order), "store")]
    if tracking:
        refs.append(Reference("tracking_number", normalize("tracking_number", tracking),
                              "store"))
    return refs


def test_references_are_read_through_the_source_mapping_and_normalized():
    refs = references_of(event("erp", " RMA/7 ", order_number=" #1001 ",
                               tracking=Tracking(number="1z-abc")), ERP)
    assert [(r.kind, r.value) for r in refs] == [
        ("id", "erp:RMA/7"), ("order_number", "1001"), ("rma", "RMA/7"),
        ("tracking_number", "1Z-ABC")]
    assert {r.source for r in refs} == {"erp"}
    # extra.<key> paths: Shopify's customer-facing return name.
    named = references_of(event("store", "gid://shopify/Return/1", extra={
        "return_name": "#1001-r1"}), IdentityRules())
    assert ("return_name", "1001-R1") in [(r.kind, r.value) for r in named]


@pytest.mark.parametrize(("kind", "spellings"), [
    ("order_number", ["#1001", "1001", " #1001", "# 1001"]),
    ("tracking_number", ["9434 6508 9956 1234 5670 02", "9434650899561234567002",
                         " 94346508\t99561234567002 "]),
    ("rma", ["rma 7", "RMA7", "#RMA7"]),
])
def test_references_that_differ_only_in_how_systems_print_them_are_one(kind, spellings):
    """Found from outside: ``#1001`` against ``1001`` made a second return, a tracking
    number printed in groups parked the carrier's scans for good."""
    assert len({normalize(kind, spelling) for spelling in spellings}) == 1
    # Ids stay as their source wrote them (a Shopify gid is case-sensitive).
    assert normalize("id", " store:gid://shopify/Return/1 ") == "store:gid://shopify/Return/1"
    assert normalize("order_number", "#") is None


def test_an_order_number_finds_the_one_return_of_that_order():
    returns = {1: shopify_return("gid://shopify/Return/1", "#1001")}
    refs = references_of(event("erp", "RMA/7", order_number="#1001"), ERP)
    match = decide(refs, ERP, holders_of(returns), returns)
    assert (match.kind, match.target) == ("existing", 1)


def test_matching_uses_only_the_kinds_the_source_lists():
    returns = {1: shopify_return("gid://shopify/Return/1", "#1001")}
    refs = references_of(event("erp", "RMA/7", order_number="#1001"), ERP)
    only_tracking = IdentityRules(match=("tracking_number",), fields=ERP.fields)
    assert decide(refs, only_tracking, holders_of(returns), returns).kind == "new"


def test_another_return_of_the_same_order_from_the_same_source_is_a_new_return():
    returns = {1: shopify_return("gid://shopify/Return/1", "#1001")}
    rules = IdentityRules(match=("order_number",))
    refs = references_of(event("store", "gid://shopify/Return/2", order_number="#1001"), rules)
    assert decide(refs, rules, holders_of(returns), returns).kind == "new"


def test_two_returns_of_the_order_and_nothing_else_is_ambiguous_never_guessed():
    returns = {1: shopify_return("gid://shopify/Return/1", "#1001"),
               2: shopify_return("gid://shopify/Return/2", "#1001")}
    refs = references_of(event("erp", "RMA/7", order_number="#1001"), ERP)
    match = decide(refs, ERP, holders_of(returns), returns)
    assert (match.kind, match.candidates) == ("ambiguous", (1, 2))
    assert "share the event's order reference" in match.reason


def test_a_stronger_reference_settles_what_the_order_number_cannot():
    returns = {1: shopify_return("gid://shopify/Return/1", "#1001"),
               2: shopify_return("gid://shopify/Return/2", "#1001", tracking="1Z-B")}
    refs = references_of(event("erp", "RMA/7", order_number="#1001",
                               tracking=Tracking(number="1Z-B")), ERP)
    match = decide(refs, ERP, holders_of(returns), returns)
    assert (match.kind, match.target) == ("existing", 2)


def test_references_of_two_returns_merge_them_into_the_oldest():
    returns = {4: shopify_return("gid://shopify/Return/1", "#1001", tracking="1Z-A"),
               9: [Reference("id", "erp:RMA/7", "erp"), Reference("rma", "RMA/7", "erp")]}
    refs = references_of(event("erp", "RMA/7", tracking=Tracking(number="1Z-A")), ERP)
    match = decide(refs, ERP, holders_of(returns), returns)
    assert (match.kind, match.target, match.absorbed) == ("merge", 4, (9,))


def test_two_ids_from_one_source_are_never_one_return():
    # Two Shopify returns in one parcel share a tracking number: never merged, never parked.
    returns = {1: shopify_return("gid://shopify/Return/1", "#1", tracking="1Z-A"),
               2: shopify_return("gid://shopify/Return/2", "#2")}
    rules = IdentityRules(match=("tracking_number",))
    second = references_of(event("store", "gid://shopify/Return/2",
                                 tracking=Tracking(number="1Z-A")), rules)
    match = decide(second, rules, holders_of(returns), returns)
    assert (match.kind, match.target) == ("existing", 2)
    third = references_of(event("store", "gid://shopify/Return/3",
                                tracking=Tracking(number="1Z-A")), rules)
    assert decide(third, rules, holders_of(returns), returns).kind == "new"


def test_conflicting_returns_of_other_systems_are_ambiguous():
    returns = {1: shopify_return("gid://shopify/Return/1", "#1", tracking="1Z-A"),
               2: [Reference("id", "wms:W-1", "wms"), Reference("rma", "RMA/1", "wms")],
               3: [Reference("id", "wms:W-2", "wms"), Reference("rma", "RMA/2", "wms")]}
    rules = IdentityRules(match=("tracking_number", "rma"), fields=ERP.fields)
    refs = references_of(event("erp", "RMA/2", tracking=Tracking(number="1Z-A")), rules)
    match = decide(refs, rules, holders_of(returns), returns)
    # The tracking number's return and the RMA's are one return.
    assert (match.kind, match.target, match.absorbed) == ("merge", 1, (3,))
    clash = references_of(event("erp", "RMA/9", tracking=Tracking(number="1Z-A")), rules)
    returns[1].append(Reference("rma", "RMA/8", "wms"))
    match = decide(clash, rules, holders_of(returns), returns)
    assert match.kind == "ambiguous" and "two different rmas" in match.reason
    assert conflict([Reference("rma", "A", "erp")], [Reference("rma", "B", "wms")])
    assert conflict([Reference("tracking_number", "A")], [Reference("tracking_number", "B")]) \
        is None


def test_events_that_name_no_return_wait_for_their_tracking_number_or_fail():
    scan = references_of(event("easypost", None, tracking=Tracking(number="1Z-NEW")),
                         IdentityRules())
    assert decide(scan, IdentityRules(), {}, {}).kind == "wait"
    assert decide([], IdentityRules(), {}, {}).kind == "unmatchable"


def test_identity_settings_are_validated_with_their_path():
    registry = collect_connectors(get_plugin_manager())
    settings = make_settings(Path("/nonexistent"), sources={"shop": {
        "type": "standard_webhooks", "secret": TEST_SECRET,
        "references": {"rma": "extra.rma", "order_number": "order.name"},
        "match": ["rma", "carrier_ref"]}})
    with pytest.raises(ConfigError) as error:
        validate_connectors(settings, registry)
    problems = "\n".join(error.value.problems)
    assert "sources.shop.references:" in problems and "order_number" in problems
    good = make_settings(Path("/nonexistent"), sources={"shop": {
        "type": "standard_webhooks", "secret": TEST_SECRET,
        "references": {"rma": "extra.rma"}, "match": ["carrier_ref"]}})
    with pytest.raises(ConfigError) as error:
        validate_connectors(good, registry)
    assert any(p.startswith("sources.shop.match:") and "carrier_ref" in p
               for p in error.value.problems)
    fine = make_settings(Path("/nonexistent"), sources={"shop": {
        "type": "standard_webhooks", "secret": TEST_SECRET, "identity_scope": "eu",
        "references": {"rma": "extra.rma"}, "match": ["rma"]}})
    rules = validate_connectors(fine, registry)["shop"].policy.identity_rules()
    assert (rules.scope, rules.match, dict(rules.fields)) == ("eu", ("rma",),
                                                              {"rma": "extra.rma"})

