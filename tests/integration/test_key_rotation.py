"""PII key rotation runs online: every encrypted value moves to the new key while the hub keeps
taking and delivering events, a value the hub rewrote meanwhile is left alone, and a key
removed too early is reported, never silently skipped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hub.events import ReturnEvent
from hub.runtime import Hub
from hub.security import PiiCipher, generate_fernet_key
from hub.store.engine import utcnow
from hub.store.models import Customer, Notification
from hub.store.rotation import ColumnRotation, _write, encrypted_columns, rotate_keys
from hub.testing.factories import event_payload
from tests.conftest import make_settings, wait_for

BIN = Path(sys.executable).parent
LOOKUP = "test-lookup-key"


def _event(n: int, event_type: str = "return.approved") -> ReturnEvent:
    payload = event_payload(event_type, f"R-rot-{n}")
    return ReturnEvent.model_validate({**payload, "source": "shop",
                                       "source_event_id": f"evt-rot-{event_type}-{n}"})


async def _values(hub: Hub) -> list[bytes]:
    """Every encrypted value in the database."""
    found = []
    async with hub.sessionmaker() as session:
        for _table, columns in encrypted_columns():
            for row in (await session.execute(select(*columns))).all():
                found += [value for value in row if value is not None]
    return found


async def _sent(hub: Hub) -> int:
    async with hub.sessionmaker() as session:
        return len((await session.execute(select(Notification.id).where(
            Notification.status == "sent"))).all())


def test_every_table_holding_customer_data_is_covered() -> None:
    names = {f"{table.name}.{column.name}" for table, columns in encrypted_columns()
             for column in columns}
    assert {"customers.email_enc", "customers.phone_enc", "customers.name_enc",
            "inbox_events.payload_enc", "returns.details_enc", "notifications.recipient_enc",
            "delivery_receipts.raw_enc", "portal_messages.body_enc"} <= names


async def test_rotation_while_the_hub_takes_and_delivers_events(tmp_path, db_url) -> None:
    old_key, new_key = generate_fernet_key(), generate_fernet_key()
    settings = make_settings(tmp_path, db_url, security={"pii_keys": [old_key],
                                                        "lookup_key": LOOKUP})
    hub = Hub.build(settings)
    await hub.start()
    try:
        await hub.inbox.submit([_event(n) for n in range(60)], utcnow())
        await _count_is_eventually(hub, 120)
    finally:
        await hub.stop()
    before = await _values(hub)
    assert before and all(PiiCipher([old_key], LOOKUP).is_current(v) for v in before)

    # Every node now encrypts with the new key first; the rotation runs while one works.
    rotated = make_settings(tmp_path, db_url, security={"pii_keys": [new_key, old_key],
                                                       "lookup_key": LOOKUP})
    hub = Hub.build(rotated)
    await hub.start(migrate=False)
    try:
        feeding = asyncio.create_task(_feed(hub, range(60, 120)))
        report = await rotate_keys(hub.sessionmaker, hub.cipher, batch_size=7)
        await feeding
        await _count_is_eventually(hub, 240)
        second = await rotate_keys(hub.sessionmaker, hub.cipher, batch_size=50)
    finally:
        await hub.stop()
    rewritten = sum(c.rewritten for c in report.columns.values())
    assert rewritten + sum(c.changed_meanwhile for c in report.columns.values()) >= len(before)
    assert report.columns["customers.email_enc"].rewritten >= 1
    assert second.old_key_values == 0
    assert sum(c.rewritten for c in second.columns.values()) <= sum(
        c.changed_meanwhile for c in report.columns.values())
    new_only = PiiCipher([new_key], LOOKUP)
    after = await _values(hub)
    assert len(after) >= len(before) and all(new_only.is_current(v) for v in after)
    # the data is intact under the new key alone
    async with hub.sessionmaker() as session:
        emails = {new_only.decrypt(v) for v in (await session.execute(
            select(Customer.email_enc))).scalars()}
    assert all(email and "@" in email for email in emails)


async def _feed(hub: Hub, numbers: range) -> None:
    for n in numbers:
        await hub.inbox.submit([_event(n)], utcnow())
        await asyncio.sleep(0.005)


async def _count_is(hub: Hub, expected: int) -> bool:
    return await _sent(hub) >= expected


async def _count_is_eventually(hub: Hub, expected: int) -> None:
    await wait_for(lambda: _count_is(hub, expected), timeout=60)


async def _one_return_under(tmp_path: Path, db_url: str, key: str) -> Hub:
    """A hub (stopped again) whose database holds one delivered return encrypted with
    ``key``."""
    hub = Hub.build(make_settings(tmp_path, db_url, security={"pii_keys": [key],
                                                             "lookup_key": LOOKUP}))
    await hub.start()
    try:
        await hub.inbox.submit([_event(1)], utcnow())
        await _count_is_eventually(hub, 2)
    finally:
        await hub.stop()
    return hub


async def test_a_value_rewritten_meanwhile_is_left_to_the_hub(tmp_path, db_url) -> None:
    old_key, new_key = generate_fernet_key(), generate_fernet_key()
    hub = await _one_return_under(tmp_path, db_url, old_key)
    both = PiiCipher([new_key, old_key], LOOKUP)
    async with hub.sessionmaker() as session, session.begin():
        row_id, stale = (await session.execute(select(Customer.id, Customer.email_enc))).one()
        # the hub updates the customer between the rotation's read and its write
        newer = both.encrypt("newer@example.com")
        await session.execute(update(Customer).where(Customer.id == row_id)
                              .values(email_enc=newer))
        stats = ColumnRotation()
        table = Customer.__table__
        await _write(session, table, table.c.id, table.c.email_enc,
                     [{"row_key": row_id, "old": stale, "new": both.rotate(stale)}], stats)
    assert (stats.rewritten, stats.changed_meanwhile) == (0, 1)
    async with hub.sessionmaker() as session:
        kept = (await session.execute(select(Customer.email_enc))).scalar_one()
    assert both.decrypt(kept) == "newer@example.com"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_cli_reports_values_no_key_opens_and_exits_1(tmp_path, db_url) -> None:
    old_key, new_key = generate_fernet_key(), generate_fernet_key()
    await _one_return_under(tmp_path, db_url, old_key)
    config = tmp_path / "hub.toml"
    base = f"""data_dir = "{tmp_path / 'data'}"
[database]
url = "{db_url}"
[security]
lookup_key = "{LOOKUP}"
"""
    # the old key was dropped before rotating: its values are unreadable, and it says so
    config.write_text(base + f'pii_keys = ["{new_key}"]\n')
    dry = _cli(config, "keys", "rotate", "--dry-run")
    assert dry.returncode == 1 and "UNREADABLE" in dry.stdout
    # with both keys: rotate, then nothing is left and the old key may go
    config.write_text(base + f'pii_keys = ["{new_key}", "{old_key}"]\n')
    first = _cli(config, "keys", "rotate", "--batch-size", "3")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "the older keys may be removed" in first.stdout
    again = _cli(config, "keys", "rotate", "--dry-run")
    assert again.returncode == 0 and "every value is under the newest key" in again.stdout
    assert "@" not in first.stdout + first.stderr  # counts only, never data


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "returnhub"), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, check=False)
