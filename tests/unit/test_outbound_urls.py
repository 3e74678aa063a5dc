"""``returnhub check`` names every connector URL the outbound guard will refuse."""

from __future__ import annotations

import pytest

from hub.checks import check_config
from hub.config import ConfigError
from tests.conftest import make_settings

SENDGRID = {"type": "sendgrid", "api_key": "SG.check-key"}


def problems_of(settings) -> list[str]:
    try:
        check_config(settings, warn=None)
    except ConfigError as exc:
        return exc.problems
    return []


@pytest.mark.parametrize(("base_url", "host"), [
    ("http://10.20.30.40:8080", "10.20.30.40"),     # a private literal address
    ("http://[::1]:9000", "::1"),                   # loopback, IPv6
    ("https://localhost:8443", "localhost"),        # a name that resolves to loopback only
    ("http://169.254.169.254", "169.254.169.254"),  # the cloud metadata address
])
def test_a_sink_url_the_guard_refuses_is_a_problem_naming_sink_and_field(tmp_path, base_url,
                                                                         host):
    settings = make_settings(tmp_path, sinks={"mail": {**SENDGRID, "base_url": base_url}},
                             channels={"email": {"providers": ["mail"]},
                                       "sms": {"providers": ["outbox"]}},
                             security={"outbound_allow": []})
    refused = [p for p in problems_of(settings) if "outbound guard" in p]
    assert refused == [f"sinks.mail.base_url: {host} resolves only to non-public addresses, "
                       "which the outbound guard refuses (fix the URL, or add the network to "
                       "security.outbound_allow)"]


def test_an_allowed_network_or_a_public_address_is_no_problem(tmp_path):
    settings = make_settings(
        tmp_path,
        sinks={"mail": {**SENDGRID, "base_url": "http://127.0.0.1:8080"},
               "backup": {**SENDGRID, "base_url": "https://93.184.215.14"}},
        channels={"email": {"providers": ["mail", "backup"]},
                  "sms": {"providers": ["outbox"]}},
        security={"outbound_allow": ["127.0.0.0/8"]})
    assert not [p for p in problems_of(settings) if "outbound guard" in p]


def test_a_name_that_does_not_resolve_is_a_warning_not_a_problem(tmp_path):
    warnings: list[str] = []
    settings = make_settings(
        tmp_path, sinks={"mail": {**SENDGRID, "base_url": "https://no-such-host.invalid"}},
        channels={"email": {"providers": ["mail"]}, "sms": {"providers": ["outbox"]}})
    try:
        check_config(settings, warn=warnings.append)
    except ConfigError as exc:
        assert not [p for p in exc.problems if "outbound guard" in p]
    assert any(w.startswith("sinks.mail.base_url: the host does not resolve") for w in warnings)
