"""What the planner sends and how it looks (``[notifications]``): stages, brands, quiet
hours."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from hub.config_routing import CategoryName
from hub.config_section import Section
from hub.notifiable import StalenessSettings


class StageSettings(Section):
    """Who is told when a return reaches a stage."""

    channels: list[str] = Field(default_factory=list, description="Channels to notify on.")
    template: str | None = Field(None, description="Template folder; default: the stage name.")
    fallback: list[str] = Field(
        default_factory=list, description="Channels to try, in order, when a notification of "
        "this stage fails for good or bounces (e.g. [\"sms\", \"portal\"]).")
    urgent: bool = Field(False, description="Sent during quiet hours and never coalesced.")
    category: CategoryName = Field("transactional", description="internal for messages to "
                                   "the team or IT; routes by [channels.<c>.categories].")
    expires_after_seconds: float | None = Field(
        None, gt=0, description="Never send this stage's messages later than this after the "
        "event (a \"label ready\" SMS is useless after a day).")


class QuietHours(Section):
    """Hours in the customer's time zone when non-urgent messages are held."""

    start: str = Field("21:00", pattern=r"^\d\d:\d\d$", description="HH:MM, local time.")
    end: str = Field("08:00", pattern=r"^\d\d:\d\d$", description="HH:MM, local time.")


class BrandSettings(Section):
    """The store's voice in every message."""

    store_name: str = "Our Store"
    from_email: str = "returns@example.com"
    from_name: str | None = None
    support_email: str | None = None
    logo_url: str | None = None
    primary_color: str = "#1f6feb"
    sign_off: str = "The returns team"
    postal_address: str | None = Field(None, description="Sender's postal address, in every "
                                       "promotional email's footer.")


class BrandOverride(Section):
    """A store's brand: any field set here replaces the default brand's for that store."""

    store_name: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    support_email: str | None = None
    logo_url: str | None = None
    primary_color: str | None = None
    sign_off: str | None = None
    postal_address: str | None = None


class NotificationSettings(StalenessSettings):
    """What the planner sends, and how it looks."""

    stages: dict[str, StageSettings] = Field(default_factory=dict)
    brand: BrandSettings = Field(default_factory=BrandSettings)
    brands: dict[str, BrandOverride] = Field(
        default_factory=dict, description="Per-store brand overrides, keyed by source name "
        "(a store is the source its returns come from).")
    sms_max_segments: int = Field(
        3, ge=1, description="Longest SMS allowed, in segments; longer templates fail "
        "`returnhub check` and the preview.")
    default_locale: str = Field("en", description="Locale of customers whose locale is unknown.")
    default_timezone: str = Field("UTC", description="Time zone of customers whose zone is "
                                  "unknown (IANA name), for quiet hours.")
    quiet_hours: QuietHours | None = Field(None, description="Hold non-urgent messages.")
    coalesce_seconds: float = Field(
        0, ge=0, description="Hold non-urgent messages this long; when a later stage of the "
        "same return arrives meanwhile, only the latest is sent.")
    templates_dir: Path | None = Field(
        None, description="Operator templates; a file here overrides the bundled one by path.")
