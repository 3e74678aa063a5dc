"""UTC datetimes written to SQLite: the bind processor remembers the last value it wrote out
(a batch's rows share one ``now``), and that memory never pairs a value with another's text."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import sqlite

from hub.store.models_base import UtcDateTime

NOW = datetime(2026, 12, 4, 9, 30, 15, 123456, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))


def test_rows_sharing_one_now_with_nones_and_other_zones_round_trip() -> None:
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True),
                  Column("at", UtcDateTime), Column("until", UtcDateTime))
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    later = NOW + timedelta(seconds=30)
    rows = [{"id": 1, "at": NOW, "until": later},
            {"id": 2, "at": NOW, "until": None},
            {"id": 3, "at": None, "until": NOW},
            {"id": 4, "at": datetime(2026, 12, 4, 10, 30, 15, 123456, tzinfo=PARIS),
             "until": later},
            {"id": 5, "at": NOW, "until": NOW}]
    with engine.begin() as connection:
        connection.execute(insert(table), rows)
        stored = connection.execute(select(table).order_by(table.c.id)).all()
    assert [(row.at, row.until) for row in stored] == [
        (NOW, later), (NOW, None), (None, NOW), (NOW, later), (NOW, NOW)]


def test_a_naive_datetime_is_refused_even_after_a_remembered_one() -> None:
    process = UtcDateTime().bind_processor(sqlite.dialect())
    assert process(NOW) == "2026-12-04 09:30:15.123456"
    with pytest.raises(ValueError, match="naive"):
        process(NOW.replace(tzinfo=None))


def test_threads_binding_at_once_each_get_their_own_values_text() -> None:
    process = UtcDateTime().bind_processor(sqlite.dialect())
    values = [NOW + timedelta(microseconds=n) for n in range(64)]
    expected = {id(value): value.replace(tzinfo=None).isoformat(" ", "microseconds")
                for value in values}
    wrong: list[str] = []

    def bind() -> None:
        for _ in range(300):
            for value in values:
                if process(value) != expected[id(value)]:
                    wrong.append(str(value))

    threads = [threading.Thread(target=bind) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


@pytest.mark.parametrize("value", [
    NOW, NOW.replace(microsecond=0), datetime(2026, 3, 29, 3, 0, 0, 7, tzinfo=PARIS),
    datetime(1, 1, 1, 0, 59, tzinfo=PARIS) + timedelta(days=1), datetime(9999, 12, 31, tzinfo=UTC)])
def test_the_text_is_sqlalchemys_format_of_the_utc_value(value: datetime) -> None:
    process = UtcDateTime().bind_processor(sqlite.dialect())
    naive = value.astimezone(UTC).replace(tzinfo=None)
    assert process(value) == sqlite.DATETIME().bind_processor(sqlite.dialect())(naive)
