"""Logs never carry customer emails, phones or names in clear, tracebacks included."""

from __future__ import annotations

import json
import logging

import structlog

from hub.logs import configure_logging, get_logger, mask_secrets_of


def test_pii_is_redacted_in_fields_messages_and_tracebacks(capsys):
    configure_logging("json", "INFO")
    log = get_logger("test")
    customer_email = "jane.doe@example.com"
    customer_phone = "+14155550123"

    def fail(email_address: str, phone: str) -> None:
        raise ValueError(f"cannot reach {email_address} or {phone}")

    log.info("planned", email=customer_email, to=customer_phone, name="Jane Doe",
             note=f"sent to {customer_email}", count=3)
    try:
        fail(customer_email, customer_phone)
    except ValueError:
        log.exception("send_failed")
    logging.getLogger("aiohttp.server").error("stdlib says %s", customer_email)
    err = capsys.readouterr().err
    assert customer_email not in err and customer_phone not in err and "Jane Doe" not in err
    lines = [json.loads(line) for line in err.strip().splitlines()]
    assert lines[0]["count"] == 3 and lines[0]["email"] == "[redacted]"
    assert "[email]" in lines[0]["note"]
    assert "Traceback" in lines[1]["exception"] and "[email]" in lines[1]["exception"]
    assert "[email]" in lines[2]["event"]
    structlog.reset_defaults()


def test_secrets_are_masked_by_key_name_and_wherever_a_configured_one_appears(capsys):
    # Found from outside by a plugin author: webhook_secret, api_token, access_token and an
    # X-Api-Key header printed in clear through a plugin's log; only exact names were masked.
    from pydantic import BaseModel, SecretStr

    class PluginSettings(BaseModel):
        api_key: SecretStr
        nested: dict[str, list[SecretStr]]

    mask_secrets_of(PluginSettings(api_key=SecretStr("sk-live-0123456789"),
                                   nested={"keys": [SecretStr("whsec-abcdef"), SecretStr("x")]}))
    configure_logging("json", "INFO")
    log = get_logger("plugin")
    log.info("calling", webhook_secret="s1", api_token="s2", access_token="s3",
             headers={"X-Api-Key": "s4", "Accept": "application/json"},
             detail="401 for key sk-live-0123456789 (whsec-abcdef)", token_count=2)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert [line[k] for k in ("webhook_secret", "api_token", "access_token")] == \
        ["[redacted]"] * 3
    assert line["headers"] == {"X-Api-Key": "[redacted]", "Accept": "application/json"}
    assert line["detail"] == "401 for key [redacted] ([redacted])"
    assert line["token_count"] == 2  # a count is no secret
    structlog.reset_defaults()


def test_values_that_are_not_text_are_filtered_as_their_repr(capsys):
    # Found in review: an exception or a URL object quoting a configured secret or an email
    # was printed in clear (only strings were filtered).
    from pydantic import SecretStr
    from yarl import URL

    mask_secrets_of(SecretStr("sk-review-0123456789"))
    configure_logging("json", "INFO")
    get_logger("plugin").warning(
        "failed", error=ValueError("401 for sk-review-0123456789 jane@example.com"),
        url=URL("https://api.example/v1?key=sk-review-0123456789"), auth=("u", "pw"),
        cookie="session=abc", attempts=3)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "sk-review" not in json.dumps(line) and "jane@" not in json.dumps(line)
    assert line["auth"] == line["cookie"] == "[redacted]" and line["attempts"] == 3
    structlog.reset_defaults()
