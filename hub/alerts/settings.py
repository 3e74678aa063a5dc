"""The ``[alerts]`` settings: rules, where notices go, how often the evaluator runs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, model_validator

#: Rule kinds the evaluator knows (hub.alerts.conditions).
RuleKind = Literal["breaker_open", "dead_letters", "bounce_rate", "complaint_rate",
                   "source_silent", "campaign_failing"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertRule(_Section):
    """One ``[[alerts.rules]]`` entry. Which fields count depends on ``kind``:

    - ``breaker_open``: a provider's breaker open longer than ``minutes``;
    - ``dead_letters``: more than ``threshold`` dead letters in the inbox or the outbox;
    - ``bounce_rate`` / ``complaint_rate``: bounces (complaints) over messages a provider sent
      in the last ``window_minutes``, above ``threshold`` (a fraction), once the provider sent
      at least ``min_messages``;
    - ``source_silent``: no event from a source for longer than ``max_silence_minutes``, or,
      without it, ``factor`` times the source's usual gap (the median of its last gaps), never
      less than ``floor_minutes``;
    - ``campaign_failing``: of a running campaign's messages (or one changed in the last
      ``window_minutes``) that reached an outcome, the failed, dead or bounced share above
      ``threshold``, once at least ``min_messages`` did.
    """

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="Unique rule name, shown in every notice.")
    kind: RuleKind
    minutes: float = Field(10.0, ge=0, description="breaker_open: open longer than this.")
    threshold: float | None = Field(None, ge=0, description="dead_letters: a count; the "
                                    "rates: a fraction (0.05 is 5 %).")
    window_minutes: float = Field(60.0, gt=0, description="The rates' window.")
    min_messages: int = Field(20, ge=1, description="The rates: fewer sent, no verdict.")
    factor: float = Field(3.0, gt=0, description="source_silent: times the usual gap.")
    floor_minutes: float = Field(30.0, ge=0, description="source_silent: the least silence "
                                 "that alerts.")
    max_silence_minutes: float | None = Field(None, gt=0, description="source_silent: a fixed "
                                              "limit instead of the learned one.")
    subjects: list[str] | None = Field(None, description="Only these providers or sources "
                                       "(default: all).")
    severity: Literal["critical", "warning"] = "critical"

    @model_validator(mode="after")
    def _threshold_needed(self) -> AlertRule:
        if self.kind in ("dead_letters", "bounce_rate", "complaint_rate", "campaign_failing") \
                and self.threshold is None:
            raise ValueError(f"rule {self.name!r}: kind {self.kind} needs a threshold")
        return self


class AlertWebhook(_Section):
    """A receiver of signed, Slack-compatible JSON notices."""

    url: HttpUrl
    secret: SecretStr = Field(description="Standard Webhooks secret (``whsec_`` + base64, or "
                              "any string): signs every notice.")


class AlertSettings(_Section):
    """``[alerts]``: rules, destinations and timing."""

    rules: list[AlertRule] = Field(default_factory=list)
    webhooks: list[AlertWebhook] = Field(default_factory=list)
    email: list[str] = Field(default_factory=list, description="Operators' addresses, sent "
                             "through the ``email`` channel's providers.")
    sms: list[str] = Field(default_factory=list, description="Operators' numbers, sent "
                           "through the ``sms`` channel's providers.")
    interval_seconds: float = Field(30.0, gt=0, description="How often the rules run.")
    renotify_minutes: float = Field(60.0, gt=0, description="Remind while still firing.")

    def channel_problems(self, channels: set[str]) -> list[str]:
        """Operators' addresses on a channel the hub has no providers for."""
        return [f"alerts.{channel}: channel {channel!r} has no [channels.{channel}] section"
                for channel in ("email", "sms")
                if getattr(self, channel) and channel not in channels]

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSettings:
        names = [rule.name for rule in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("alert rule names must be unique")
        return self
