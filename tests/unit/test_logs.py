"""Logs never carry customer emails, phones or names in clear, tracebacks included."""

from __future__ import annotations

import json
import logging

import structlog

from hub.logs import configure_logging, get_logger


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
