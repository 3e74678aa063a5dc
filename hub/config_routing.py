"""Provider routing of a channel (``[channels.<name>]``) and, inside it, per message category
(``[channels.<name>.categories.<category>]``).

A category's route replaces the channel's provider list, policy and weights for the messages
of that category; everything else (receipt deadline, reconcile timing) stays the channel's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self

from pydantic import Field, model_validator

from hub.config_section import Section

if TYPE_CHECKING:
    from collections.abc import Iterator


class ProviderRoute(Section):
    """Providers in order and the policy that picks among them; the base of a channel's
    settings and of a category's route."""

    providers: list[str] = Field(min_length=1, description="Sink instance names, in order.")
    policy: Literal["failover", "parallel", "weighted"] = Field(
        "failover", description="failover: in order, next on a failure another provider could "
        "survive; parallel: all at once; weighted: one picked by weight, the rest as failover.")
    weights: list[float] | None = Field(
        None, description="Traffic share per provider (weighted policy), e.g. [90, 10].")

    @model_validator(mode="after")
    def _weights_match(self) -> Self:
        if self.policy == "weighted":
            if not self.weights or len(self.weights) != len(self.providers):
                raise ValueError("weights: one weight per provider is required by the weighted "
                                 "policy")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights: must be non-negative with a positive sum")
        elif self.weights is not None:
            raise ValueError("weights: only the weighted policy uses weights")
        return self


class CategoryRoute(ProviderRoute):
    """The providers one message category uses on a channel, e.g. promotional via Mandrill."""


#: The category names a channel may route separately (hub.categories).
CategoryName = Literal["transactional", "promotional", "internal"]


class ChannelSettings(ProviderRoute):
    """How one channel reaches its providers."""

    receipt_deadline_seconds: float | None = Field(
        None, gt=0, description="Fail over to the next provider (or fallback channel) when a "
        "provider accepted a message but no delivery receipt came within this time.")
    reconcile_seconds: float = Field(
        300, gt=0, description="How long an unknown outcome waits for the provider's receipt "
        "before it is reconciled (email: sent again; SMS: never sent twice).")
    reconcile_window_seconds: float = Field(
        86400, gt=0, description="How long after its send started an unknown outcome keeps "
        "being reconciled while the provider cannot say (its message list is down): it stays "
        "unknown and is asked about again, with backoff up to worker.retry_max_seconds. After "
        "it, an SMS is failed (never sent twice; the stage falls back) and an email is sent "
        "again.")
    categories: dict[CategoryName, CategoryRoute] = Field(
        default_factory=dict, description="Providers per message category (transactional, "
        "promotional, internal); a category not listed uses the channel's providers.")


def route_provider_lists(channel: str, route: ChannelSettings) -> Iterator[tuple[str, list[str]]]:
    """(config path, provider names) of a channel's own list and each category's."""
    yield f"channels.{channel}.providers", list(route.providers)
    for category, sub in route.categories.items():
        yield f"channels.{channel}.categories.{category}.providers", list(sub.providers)
