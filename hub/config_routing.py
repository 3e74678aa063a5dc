"""Per-category routing inside a channel (``[channels.<name>.categories.<category>]``).

A category's route replaces the channel's provider list, policy and weights for the messages
of that category; everything else (receipt deadline, reconcile timing) stays the channel's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from collections.abc import Iterator


class CategoryRoute(BaseModel):
    """The providers one message category uses on a channel, e.g. promotional via Mandrill."""

    model_config = ConfigDict(extra="forbid")

    providers: list[str] = Field(min_length=1, description="Sink instance names, in order.")
    policy: Literal["failover", "parallel", "weighted"] = Field(
        "failover", description="As the channel's policy, for this category's messages.")
    weights: list[float] | None = Field(
        None, description="Traffic share per provider (weighted policy).")

    @model_validator(mode="after")
    def _weights_match(self) -> CategoryRoute:
        if self.policy == "weighted":
            if not self.weights or len(self.weights) != len(self.providers):
                raise ValueError("weights: one weight per provider is required by the weighted "
                                 "policy")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights: must be non-negative with a positive sum")
        elif self.weights is not None:
            raise ValueError("weights: only the weighted policy uses weights")
        return self


#: The category names a channel may route separately (hub.categories).
CategoryName = Literal["transactional", "promotional", "internal"]


def route_provider_lists(channel: str, route: object) -> Iterator[tuple[str, list[str]]]:
    """(config path, provider names) of a channel's own list and each category's."""
    yield f"channels.{channel}.providers", list(route.providers)
    for category, sub in route.categories.items():
        yield f"channels.{channel}.categories.{category}.providers", list(sub.providers)
