"""Settings of an ``smtp`` sink."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from hub.contract import SenderSettings

#: The usual port for each security mode.
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class SmtpSettings(SenderSettings):
    """``[sinks.<name>]`` with ``type = "smtp"``; the sender (envelope and header) comes from
    the contract's mixin."""

    host: str = Field(description="SMTP relay host name or address.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Port; default 587 for starttls, 465 for tls, 25 "
        "for none.")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade a plain connection (submission, port 587); "
        "tls: TLS from the first byte (port 465); none: no encryption (local relays only).")
    username: str | None = Field(None, description="User for AUTH; needs password.")
    password: SecretStr | None = Field(None, description="Password for AUTH.")
    timeout_seconds: float = Field(
        10.0, gt=0, description="Longest wait for each SMTP step; a timeout after DATA makes "
        "the outcome unknown (the relay may have queued the message).")
    tls_verify: bool = Field(
        True, description="Check the relay's certificate and host name (turn off only for a "
        "test relay).")
    tls_ca_certs: str | None = Field(
        None, description="Path to a PEM bundle of CAs to trust instead of the system store "
        "(e.g. a private relay's CA).")
    local_hostname: str | None = Field(
        None, description="Name to announce in EHLO; default: this machine's host name.")
    message_id_domain: str | None = Field(
        None, description="Right-hand side of generated Message-IDs; default: the sender's "
        "domain.")

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    @property
    def effective_port(self) -> int:
        """The configured port, or the usual one for :attr:`security`."""
        return self.port or DEFAULT_PORTS[self.security]
