"""Settings of a ``twilio_sms`` sink."""

from __future__ import annotations

import re
from typing import Self

import phonenumbers
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from hub.contract import HttpSinkSettings

_SID = {"account_sid": re.compile(r"AC[0-9a-fA-F]{32}"),
        "api_key_sid": re.compile(r"SK[0-9a-fA-F]{32}"),
        "messaging_service_sid": re.compile(r"MG[0-9a-fA-F]{32}")}


class TwilioSmsSettings(HttpSinkSettings):
    """``[sinks.<name>]`` with ``type = "twilio_sms"``; ``base_url`` and the timeouts come
    from the contract's mixin (a read timeout leaves the outcome unknown: the message may be
    queued)."""

    account_sid: str = Field(description="Account SID (AC…).")
    auth_token: SecretStr = Field(
        description="Auth token: signs status callbacks and inbound webhooks, and authenticates "
        "API calls unless an API key is set.")
    api_key_sid: str | None = Field(
        None, description="API key SID (SK…) to authenticate API calls with instead of the "
        "auth token; needs api_key_secret.")
    api_key_secret: SecretStr | None = Field(None, description="The API key's secret.")
    from_number: str | None = Field(
        None, description="Sender: a Twilio number in E.164 (+14155550100) or an alphanumeric "
        "sender ID. Set this or messaging_service_sid, not both.")
    messaging_service_sid: str | None = Field(
        None, description="Sender: a Messaging Service (MG…), which picks the number and "
        "handles opt-outs. Set this or from_number, not both.")
    default_region: str = Field(
        "US", description="Region (ISO 3166 alpha-2) for recipient numbers written without a "
        "country code.")
    base_url: str = Field(
        "https://api.twilio.com", description="API base URL, or a local fake server in tests.")

    @field_validator("account_sid", "api_key_sid", "messaging_service_sid")
    @classmethod
    def _sid_shape(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _SID[info.field_name].fullmatch(value):
            prefix = _SID[info.field_name].pattern[:2]
            raise ValueError(f"must be {prefix} followed by 32 hexadecimal digits")
        return value

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("is not a region phonenumbers knows (use ISO 3166 alpha-2, e.g. US)")
        return value.upper()

    @model_validator(mode="after")
    def _one_sender_and_key_pair(self) -> Self:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of from_number and messaging_service_sid")
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            raise ValueError("api_key_sid and api_key_secret go together")
        return self
