"""Notices to operators: a signed, Slack-compatible webhook post, and email and SMS through the
channels' own providers (the router: failover, breakers and rate limits apply).

A webhook notice carries Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``); the id is stable
per alert and notice, so a receiver can drop a repeat after a retry.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import orjson

from hub.messages import OutboundMessage
from hub.security import hmac_digest

if TYPE_CHECKING:
    from hub.alerts.settings import AlertSettings, AlertWebhook
    from hub.delivery.router import Router
    from hub.store.models_alerts import Alert

#: Seconds a webhook receiver has to answer.
WEBHOOK_TIMEOUT_SECONDS = 10.0
_TIMEOUT = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS)
_TITLES = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED"}


class NoticeFailed(Exception):
    """A destination did not take a notice (retried at the next evaluation)."""


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a secret: base64 after ``whsec_``, else the string's bytes."""
    if secret.startswith("whsec_"):
        encoded = secret.removeprefix("whsec_")
        try:
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (ValueError, binascii.Error):
            pass
    return secret.encode()


def sign(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The ``v1,<base64>`` Standard Webhooks signature of one post."""
    digest = hmac_digest(key, f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice about one alert, ready for every destination."""

    alert_id: int
    kind: str  # firing | reminder | resolved
    rule: str
    subject: str
    severity: str
    summary: str
    public_url: str

    @property
    def notice_id(self) -> str:
        """Stable across retries: the receiver's dedupe key."""
        return f"alert_{self.alert_id}_{self.kind}_{self.rule}"[:120]

    @property
    def text(self) -> str:
        """One line for SMS and the webhook's fallback ``text``."""
        return (f"[{_TITLES[self.kind]}] {self.severity} {self.rule} · {self.subject}: "
                f"{self.summary}")

    def payload(self) -> dict:
        """The Slack-compatible body (``text`` plus ``blocks``) with the alert's fields."""
        link = f"{self.public_url.rstrip('/')}/admin/alerts"
        return {
            "text": self.text,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text",
                                            "text": f"{_TITLES[self.kind]}: {self.rule}"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": (
                    f"*{self.subject}* ({self.severity})\n{self.summary}")}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                    f"Returnhub alert {self.alert_id} · <{link}|open alerts>")}]},
            ],
            "alert": {"id": self.alert_id, "state": self.kind, "rule": self.rule,
                      "subject": self.subject, "severity": self.severity},
        }


def notice_of(alert: Alert, public_url: str) -> Notice:
    """The notice ``alert`` owes."""
    return Notice(alert.id, alert.notice or "firing", alert.rule, alert.subject,
                  alert.severity, alert.summary, public_url)


class Notifier:
    """Delivers notices to every configured destination; ``done`` names those that already
    took this notice, and each success is added to it even when another destination fails."""

    def __init__(self, settings: AlertSettings, http: aiohttp.ClientSession | None,
                 router: Router | None, from_address: str) -> None:
        self.settings = settings
        self.http = http
        self.router = router
        self.from_address = from_address

    def destinations(self) -> list[str]:
        """Every destination's name (``webhook:<n>``, ``email:<n>``, ``sms:<n>``)."""
        return ([f"webhook:{n}" for n in range(len(self.settings.webhooks))]
                + [f"email:{n}" for n in range(len(self.settings.email))]
                + [f"sms:{n}" for n in range(len(self.settings.sms))])

    async def deliver(self, notice: Notice, done: set[str]) -> list[str]:
        """Send to each destination not in ``done`` (updated); the errors, by destination,
        without addresses (error class and status only)."""
        errors = []
        for name in self.destinations():
            if name in done:
                continue
            kind, index = name.split(":")
            try:
                if kind == "webhook":
                    await self._post(self.settings.webhooks[int(index)], notice)
                else:
                    await self._send(kind, int(index), notice)
            except NoticeFailed as exc:
                errors.append(f"{name}: {exc}")
                continue
            done.add(name)
        return errors

    async def _post(self, hook: AlertWebhook, notice: Notice) -> None:
        if self.http is None:
            raise NoticeFailed("no HTTP session")
        body = orjson.dumps(notice.payload())
        timestamp = str(int(time.time()))
        key = webhook_key(hook.secret.get_secret_value())
        headers = {"content-type": "application/json", "webhook-id": notice.notice_id,
                   "webhook-timestamp": timestamp,
                   "webhook-signature": sign(key, notice.notice_id, timestamp, body)}
        try:
            async with self.http.post(str(hook.url), data=body, headers=headers,
                                      timeout=_TIMEOUT) as response:
                if response.status >= 300:
                    raise NoticeFailed(f"HTTP {response.status}")
        except NoticeFailed:
            raise
        except Exception as exc:
            raise NoticeFailed(type(exc).__name__) from None

    async def _send(self, channel: str, index: int, notice: Notice) -> None:
        if self.router is None:
            raise NoticeFailed("no router (not a worker node)")
        to = getattr(self.settings, channel)[index]
        # The id names the destination by its place in the config, never by its address.
        message = OutboundMessage(
            message_id=f"{notice.notice_id}_{channel}{index}", channel=channel, to=to,
            subject=notice.text[:150] if channel == "email" else None, text=notice.text,
            from_address=self.from_address if channel == "email" else None,
            from_name="Returnhub alerts", template="alert", category="internal")
        result = await self.router.deliver(message)
        if result.status != "sent":
            raise NoticeFailed(f"{result.status}")

