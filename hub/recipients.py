"""Open channels: how a channel finds a customer's address.

A sink declares the channels it serves (``channels = frozenset({"slack"})``) and, per channel,
where the recipient's address comes from (``recipients = {"slack": "attribute:slack_id"}``):

- ``"email"`` / ``"phone"``: the customer's contact detail;
- ``"attribute:<name>"``: ``customer.attributes[<name>]``, an address the source put on the
  normalized event (stored encrypted with the customer);
- ``"customer_key"``: the customer's identity in the hub (the portal).

Channels a sink leaves out use :func:`default_rule`: email, sms and portal as always, and any
other channel the attribute named after it (a ``slack`` sink reads
``customer.attributes["slack"]``). A sink whose rule cannot be said this way overrides
:meth:`hub.connectors.Sink.recipient_address`. The planner asks the first provider of the
channel (``[channels.<name>] providers``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.assembly import ConnectorSpec
    from hub.config import Settings

#: Names of customer attributes (and so of the channels a default rule reads).
ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_BUILT_IN = {"email": "email", "sms": "phone", "portal": "customer_key"}
_FIXED = frozenset({"email", "phone", "customer_key"})


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a channel may read to find where a customer is reached (decrypted, for planning
    only: never logged, never stored as is)."""

    email: str | None = None
    phone: str | None = None
    #: Channel addresses the source gave (``customer.attributes``), e.g. ``{"slack_id": "U1"}``.
    attributes: Mapping[str, str] = field(default_factory=dict)
    #: The customer's identity in the hub (what the portal sink addresses).
    customer_key: str | None = None


def default_rule(channel: str) -> str:
    """The rule for a channel no sink declares one for."""
    return _BUILT_IN.get(channel, f"attribute:{channel}")


def rule_problem(rule: object) -> str | None:
    """Why ``rule`` is not a rule (None: it is one)."""
    if isinstance(rule, str) and rule in _FIXED:
        return None
    if isinstance(rule, str) and rule.startswith("attribute:"):
        if ATTRIBUTE_NAME.fullmatch(rule.removeprefix("attribute:")):
            return None
        return "an attribute name is 1 to 64 letters, digits, '_', '-' or '.'"
    return "must be 'email', 'phone', 'customer_key' or 'attribute:<name>'"


def address_by_rule(rule: str, recipient: Recipient) -> str | None:
    """The address ``rule`` finds for ``recipient`` (None: none)."""
    if rule == "email":
        return recipient.email
    if rule == "phone":
        return recipient.phone
    if rule == "customer_key":
        return recipient.customer_key
    return recipient.attributes.get(rule.removeprefix("attribute:")) or None


def declaration_problems(kind_path: str, cls: type) -> list[str]:
    """Load-time problems of a sink class's ``recipients`` declaration, named by ``kind_path``
    (e.g. ``sinks.team_chat``)."""
    declared = getattr(cls, "recipients", None) or {}
    if not isinstance(declared, Mapping):
        return [f"{kind_path}: {cls.__name__}.recipients must map channel names to rules"]
    problems = []
    for channel, rule in declared.items():
        if channel not in getattr(cls, "channels", ()):
            problems.append(f"{kind_path}: {cls.__name__}.recipients names {channel!r}, which "
                            f"is not one of its channels")
        why = rule_problem(rule)
        if why:
            problems.append(f"{kind_path}: {cls.__name__}.recipients[{channel!r}] {why}")
    return problems


class AddressBook:
    """Per channel, the function that finds a recipient's address: the channel's first
    provider's :meth:`~hub.connectors.Sink.recipient_address`, else :func:`default_rule`."""

    def __init__(self, finders: Mapping[str, Callable[[str, Recipient], str | None]]
                 | None = None) -> None:
        self._finders = dict(finders or {})

    @classmethod
    def from_specs(cls, settings: Settings, specs: Mapping[str, ConnectorSpec]) -> AddressBook:
        """The book for the configured channels and their sinks."""
        finders = {}
        for channel, route in settings.channels.items():
            spec = specs.get(route.providers[0])
            finder = getattr(spec.cls, "recipient_address", None) if spec else None
            if finder is not None:
                finders[channel] = finder
        return cls(finders)

    def address(self, channel: str, recipient: Recipient) -> str | None:
        """Where ``channel`` reaches ``recipient`` (None: it cannot)."""
        finder = self._finders.get(channel)
        if finder is None:
            return address_by_rule(default_rule(channel), recipient)
        return finder(channel, recipient)
