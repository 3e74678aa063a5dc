"""Core settings written in a connector's own section: delivery limits in ``[sinks.<name>]``,
polling and intake limits in ``[sources.<name>]``. The core reads these keys; the connector
gets the rest."""

from __future__ import annotations

from pydantic import Field

from hub.config_section import Section
from hub.identity_settings import SourceIdentity
from hub.notifiable import OnboardingSettings


class ProviderPolicy(Section):
    """Per-provider delivery limits, written in the sink's own section (``[sinks.<name>]``)."""

    rate_limit_per_second: float | None = Field(
        None, gt=0, description="Most messages per second this process sends through it.")
    breaker_failure_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open the circuit breaker.")
    breaker_cooldown_seconds: float = Field(
        30, gt=0, description="How long an open breaker waits before one probe (half-open).")
    formerly: list[str] = Field(
        default_factory=list, description="Names this sink had before a rename: the stored "
        "messages that name one (in flight, or awaiting the provider's status webhooks) are "
        "this sink's, and its old webhook URLs keep working (docs/operations.md, \"Renaming "
        "and removing\").")


#: Keys of ``[sinks.<name>]`` read by the core into :class:`ProviderPolicy`, not by the sink.
PROVIDER_POLICY_KEYS = frozenset(ProviderPolicy.model_fields)


class SourcePolicy(OnboardingSettings, SourceIdentity):
    """Core settings of a source, written in its own ``[sources.<name>]`` section (the
    onboarding ones: :class:`hub.notifiable.OnboardingSettings`; the return identity ones:
    :class:`hub.identity_settings.SourceIdentity`)."""

    poll_interval_seconds: float | None = Field(
        None, gt=0, description="Poll the source this often (sources that implement poll); "
        "unset: the source is not polled.")
    rate_limit_per_second: float | None = Field(
        None, gt=0, description="Most webhooks per second accepted from this source (per "
        "process); more are answered 429 with Retry-After.")
    rate_limit_burst: float | None = Field(
        None, gt=0, description="Webhooks accepted in a burst above the rate (default: one "
        "second's worth).")


#: Keys of ``[sources.<name>]`` read by the core into :class:`SourcePolicy`.
SOURCE_POLICY_KEYS = frozenset(SourcePolicy.model_fields)
