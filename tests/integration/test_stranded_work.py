"""Stored work a new configuration strands (hub.stranded_work): found from outside, an
operator renamed a sink, removed a channel and renamed a template folder with messages in
flight, and `returnhub check` said nothing. Now check and `serve` name each such case, with
counts and what will happen. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import make_url
from structlog.testing import capture_logs

from hub.assembly import validate_connectors
from hub.config import ConfigError
from hub.events import ReturnEvent
from hub.plugins import collect_connectors, get_plugin_manager
from hub.store.engine import utcnow
from hub.stranded_work import stranded_in_database
from hub.testing.factories import event_payload
from tests.conftest import make_settings, started_hub

ROOT = Path(__file__).resolve().parents[2]


def approved(reference: str) -> ReturnEvent:
    return ReturnEvent.model_validate({**event_payload("return.approved", reference),
                                       "source": "shop", "source_event_id": f"{reference}-a"})


async def test_check_and_serve_name_the_work_a_new_configuration_strands(tmp_path, db_url):
    # Before: the "approved" stage uses an operator's template folder "approved_old"; email
    # and SMS go out through the sink "outbox".
    operator = tmp_path / "templates"
    shutil.copytree(ROOT / "templates" / "approved", operator / "approved_old")
    stages = {"approved": {"channels": ["email", "sms"], "template": "approved_old"}}
    before = make_settings(tmp_path, db_url, notifications={
        "templates_dir": str(operator), "stages": stages})
    async with started_hub(before) as hub:
        await hub.inbox.submit([approved("R-sent")], utcnow())
        await hub.drain()  # sent through "outbox"
        hub.planner.settings.coalesce_seconds = 3600
        await hub.inbox.submit([approved("R-waiting")], utcnow())
        await hub.drain()  # planned, waiting an hour
    # After: the sink renamed, the SMS channel removed, the template folder gone.
    shutil.rmtree(operator / "approved_old")
    after = make_settings(
        tmp_path, db_url,
        sinks={"mail": {"type": "file", "directory": str(tmp_path / "outbox")}},
        channels={"email": {"providers": ["mail"]}},
        notifications={"templates_dir": str(operator),
                       "stages": {"approved": {"channels": ["email"]}}})
    del after.sinks["outbox"], after.channels["sms"]  # make_settings merges its tables

    lines = await asyncio.to_thread(stranded_in_database, after, set(after.sinks))
    print("\n" + "\n".join(lines))
    assert len(lines) == 3, lines
    sink, channel, template = lines
    assert sink.startswith("2 stored messages (in flight, or sent in the last 3 days) name "
                           "sink 'outbox', which this configuration does not have")
    assert channel.startswith("1 messages in flight are for channel 'sms'")
    assert template.startswith("1 email messages in flight use template 'approved_old', whose "
                               "files for email are missing")

    with capture_logs() as logs:
        async with started_hub(after):
            pass
    logged = [entry["problem"] for entry in logs if entry["event"] == "stored_work_stranded"]
    assert logged == lines
    # The configuration the work was made under strands nothing.
    (operator / "approved_old").mkdir()
    shutil.copytree(ROOT / "templates" / "approved", operator / "approved_old",
                    dirs_exist_ok=True)
    assert await asyncio.to_thread(stranded_in_database, before, set(before.sinks)) == []


def test_a_database_with_nothing_stored_yet_strands_nothing(tmp_path: Path):
    settings = make_settings(tmp_path)  # its SQLite file does not exist yet
    assert stranded_in_database(settings, set(settings.sinks)) == []
    assert not (tmp_path / "hub.db").exists()  # looking did not create it


def test_a_former_name_must_not_be_a_connector_name_now(tmp_path: Path):
    settings = make_settings(tmp_path, sinks={
        "mail": {"type": "file", "directory": str(tmp_path / "a"), "formerly": ["outbox"]},
        "text": {"type": "file", "directory": str(tmp_path / "b"), "formerly": ["old"]},
        "note": {"type": "file", "directory": str(tmp_path / "c"), "formerly": ["old"]}})
    with pytest.raises(ConfigError) as refused:
        validate_connectors(settings, collect_connectors(get_plugin_manager()))
    assert "sinks.mail.formerly: 'outbox' is the name of a connector now" in \
        refused.value.problems
    assert "sinks.note.formerly: 'old' is also a former name of sinks.text" in \
        refused.value.problems


async def test_serve_says_which_database_it_uses_without_its_password(tmp_path, db_url):
    # Found from outside: a hub pointed at a fresh, empty database by mistake started without
    # a word of which one. PostgreSQL here trusts local connections, so any password works.
    url = make_url(db_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(username=url.username or "postgres", password="s3cret-pw")
    settings = make_settings(tmp_path, url.render_as_string(hide_password=False))
    with capture_logs() as logs:
        async with started_hub(settings):
            pass
    started = [entry for entry in logs if entry["event"] == "hub_started"]
    assert started[0]["database"] == url.render_as_string(hide_password=True)
    assert "s3cret-pw" not in str(started[0])
