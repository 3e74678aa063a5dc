"""Rules as an admin writes them in config::

    [[rules]]
    name = "auto-approve-wrong-size"
    when = 'stage == "requested" && reason in ["size_too_small", "size_too_large"]'
    actions = [{ do = "approve" }, { do = "notify", channels = ["email"] }]
    stop = true
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Approve(_Action):
    """Approve the return, here and upstream (the source's ``act``, e.g. Shopify's Admin API)."""

    do: Literal["approve"]


class Decline(_Action):
    """Decline the return, here and upstream."""

    do: Literal["decline"]
    reason: str = Field("OTHER", description="The platform's decline reason code.")
    note: str | None = Field(None, description="Shown to the customer by the platform.")


class Hold(_Action):
    """Set the return pending review (the merchant decides)."""

    do: Literal["hold"]


class Notify(_Action):
    """Choose the channels and/or template of the stage this event reaches."""

    do: Literal["notify"]
    channels: list[str] | None = Field(None, description="Channels instead of the stage's.")
    template: str | None = Field(None, description="Template instead of the stage's.")


class Suppress(_Action):
    """Send nothing for the stage this event reaches (on ``channels``, or on all)."""

    do: Literal["suppress"]
    channels: list[str] | None = None


class NotifyTeam(_Action):
    """Tell the support team: an email to ``email`` and/or a POST to a help desk ``webhook``."""

    do: Literal["notify_team"]
    email: str | None = Field(None, description="Team address (sent on the email channel).")
    webhook: str | None = Field(None, description="Help desk URL receiving a JSON POST.")
    template: str = Field("team_review", description="Template of the team email.")


class Tag(_Action):
    """Add a tag to the return (shown on the timeline and usable by later rules)."""

    do: Literal["tag"]
    tag: str


Action = Annotated[Approve | Decline | Hold | Notify | Suppress | NotifyTeam | Tag,
                   Field(discriminator="do")]


class RuleScope(BaseModel):
    """Limits a rule to some regions or product categories (and who may manage it)."""

    model_config = ConfigDict(extra="forbid")

    regions: list[str] = Field(default_factory=list, description="Shipping countries/regions; "
                               "empty: all.")
    categories: list[str] = Field(default_factory=list, description="Product categories of the "
                                  "returned items; empty: all.")


class RuleSettings(BaseModel):
    """One rule: a condition and what to do when it holds."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Unique name, shown on timelines.")
    description: str | None = None
    when: str = Field(min_length=1, description="A CEL expression over the event, the return, "
                      "the order, the customer and the items.")
    actions: list[Action] = Field(min_length=1)
    scope: RuleScope = Field(default_factory=RuleScope)
    stop: bool = Field(False, description="Evaluate no further rules when this one matched.")
    enabled: bool = True
