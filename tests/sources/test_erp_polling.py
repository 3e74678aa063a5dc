"""ERP source polling the fake ERP over real HTTP: paging, cursors, restarts, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from hub.errors import ProviderMisconfigured, ProviderUnavailable, RateLimited, TransientError
from hub.events import EventType
from hub.testing.fake_erp import FakeErp
from hub.testing.signing import erp_webhook
from returnhub_erp.source import ErpSource

from .conftest import load_fixture
from .erp_helpers import API_TOKEN, WEBHOOK_SECRET, odoo_settings

ALL_MAPPED = ["RMA/2025/0041", "RMA/2025/0042", "RMA/2025/0043", "RMA/2025/0044",
              "RMA/2025/0046"]


def odoo_records() -> list[dict]:
    return load_fixture("erp/odoo_rma_page.json")["records"]


@pytest.fixture
async def erp() -> AsyncIterator[FakeErp]:
    async with FakeErp(odoo_records(), cursor_field="write_date", token=API_TOKEN) as fake:
        yield fake


def polling_source(make_context, http, base_url, **overrides) -> ErpSource:
    return ErpSource(odoo_settings(base_url=base_url, **overrides), make_context("odoo", http=http))


async def drain(source: ErpSource, cursor: str | None, limit: int | None = None):
    pairs = []
    async for pair in source.poll(cursor):
        pairs.append(pair)
        if limit is not None and len(pairs) == limit:
            break  # the process dies here; the core saved the cursor of the last pair
    return pairs


class TestPolling:
    async def test_every_page_in_order_with_cursors(self, make_context, http_session, erp):
        source = polling_source(make_context, http_session, erp.url)
        pairs = await drain(source, None)
        assert [e.return_id for e, _ in pairs] == ALL_MAPPED
        assert [c for _, c in pairs] == ["2025-03-12 08:15:31", "2025-03-12 09:02:10",
                                         "2025-03-12 09:30:00", "2025-03-12 10:45:12",
                                         "2025-03-12 11:20:05"]
        assert [e.type for e, _ in pairs] == [EventType.RECEIVED, EventType.RESTOCKED,
                                              EventType.INSPECTED, EventType.REFUNDED,
                                              EventType.APPROVED]
        assert all(e.source == "odoo" for e, _ in pairs)
        assert len(erp.requests) == 3  # six records, two per page
        assert "updated_since" not in erp.requests[0]
        assert erp.requests[0]["order"] == "write_date asc, id asc"

    async def test_restart_resumes_from_the_saved_cursor_with_no_record_twice(
            self, make_context, http_session, erp):
        first = polling_source(make_context, http_session, erp.url)
        before = await drain(first, None, limit=2)
        saved = before[-1][1]
        await first.close()

        served = len(erp.requests)
        restarted = polling_source(make_context, http_session, erp.url)
        after = await drain(restarted, saved)
        assert erp.requests[served]["updated_since"] == saved
        ids = [e.source_event_id for e, _ in before + after]
        assert len(ids) == len(set(ids))
        assert [e.return_id for e, _ in before + after] == ALL_MAPPED

    async def test_inclusive_filters_offer_the_boundary_again_under_the_same_key(
            self, make_context, http_session):
        async with FakeErp(odoo_records(), cursor_field="write_date", token=API_TOKEN,
                           inclusive=True) as erp:
            source = polling_source(make_context, http_session, erp.url)
            before = await drain(source, None, limit=2)
            after = await drain(polling_source(make_context, http_session, erp.url),
                                before[-1][1])
        # The inbox dedupes on source_event_id: the repeat is the very same key.
        assert after[0][0].source_event_id == before[-1][0].source_event_id
        keys = {e.source_event_id for e, _ in before + after}
        assert len(keys) == len(ALL_MAPPED)

    async def test_a_changed_record_comes_back_once_as_a_new_version(self, make_context,
                                                                     http_session, erp):
        source = polling_source(make_context, http_session, erp.url)
        pairs = await drain(source, None)
        cursor = pairs[-1][1]
        assert await drain(source, cursor) == []

        changed = {**odoo_records()[0], "state": "refunded", "write_date": "2025-03-13 07:00:00",
                   "refund_id": {"id": 312, "amount_total": 19.5, "move_type": "out_refund",
                                 "currency_id": {"id": 1, "name": "EUR"}}}
        erp.upsert(changed)
        [(event, new_cursor)] = await drain(source, cursor)
        assert (event.return_id, event.type) == ("RMA/2025/0041", EventType.REFUNDED)
        assert event.source_event_id == "41@2025-03-13 07:00:00"
        assert new_cursor == "2025-03-13 07:00:00"

    @pytest.mark.parametrize(("pagination", "next_links", "expected"), [
        ("next_link", True, ALL_MAPPED),
        ("page", False, ALL_MAPPED),
        ("offset", False, ALL_MAPPED),
        ("none", True, ALL_MAPPED[:2]),
    ])
    async def test_pagination_styles(self, make_context, http_session, pagination, next_links,
                                     expected):
        async with FakeErp(odoo_records(), cursor_field="write_date", token=API_TOKEN,
                           next_links=next_links) as erp:
            source = polling_source(make_context, http_session, erp.url,
                                    pagination=pagination, page_size=2)
            assert [e.return_id for e, _ in await drain(source, None)] == expected

    async def test_basic_auth(self, make_context, http_session):
        async with FakeErp(odoo_records(), cursor_field="write_date", token=None,
                           username="rma-reader", password="pw") as erp:
            source = polling_source(make_context, http_session, erp.url, bearer_token=None,
                                    username="rma-reader", password="pw")
            assert len(await drain(source, None)) == len(ALL_MAPPED)

    async def test_cursor_never_moves_backwards(self, make_context, http_session):
        shuffled = odoo_records()
        shuffled[0], shuffled[3] = shuffled[3], shuffled[0]
        async with FakeErp(shuffled, cursor_field="write_date", token=API_TOKEN,
                           sort=False) as erp:
            source = polling_source(make_context, http_session, erp.url)
            with capture_logs() as logs:
                cursors = [c for _, c in await drain(source, None)]
        assert cursors == sorted(cursors)
        assert cursors[-1] == "2025-03-12 11:20:05"
        assert any(entry["event"] == "erp_records_out_of_order" for entry in logs)

    async def test_records_older_than_the_cursor_are_skipped(self, make_context, http_session):
        async with FakeErp(odoo_records(), cursor_field="write_date", token=API_TOKEN,
                           honour_cursor=False) as erp:
            source = polling_source(make_context, http_session, erp.url)
            pairs = await drain(source, "2025-03-12 09:30:00")
        # The record at the cursor itself is the boundary: offered again under the same key.
        assert [e.return_id for e, _ in pairs] == ["RMA/2025/0043", "RMA/2025/0044",
                                                   "RMA/2025/0046"]

    async def test_a_bad_record_is_skipped_and_the_rest_still_flow(self, make_context,
                                                                   http_session):
        broken = odoo_records()
        broken[1]["name"] = False  # no return reference
        async with FakeErp(broken, cursor_field="write_date", token=API_TOKEN) as erp:
            source = polling_source(make_context, http_session, erp.url)
            with capture_logs() as logs:
                pairs = await drain(source, None)
        assert "RMA/2025/0042" not in [e.return_id for e, _ in pairs]
        assert len(pairs) == len(ALL_MAPPED) - 1
        skipped = [entry for entry in logs if entry["event"] == "erp_record_skipped"]
        assert skipped == [{"event": "erp_record_skipped", "field": "name", "connector": "odoo",
                            "reason": "name is required", "log_level": "warning"}]

    async def test_polled_and_webhook_copies_share_a_dedupe_key(self, make_context,
                                                                http_session, erp):
        source = polling_source(make_context, http_session, erp.url)
        polled = {e.source_event_id for e, _ in await drain(source, None)}
        request = erp_webhook(odoo_records()[3], secret=WEBHOOK_SECRET,
                              header="X-Odoo-Signature", prefix="sha256=")
        await source.verify(request)
        [pushed] = await source.parse(request)
        assert pushed.source_event_id in polled

    async def test_without_a_shared_session_the_source_opens_its_own(self, make_context, erp):
        source = polling_source(make_context, None, erp.url)
        try:
            assert len(await drain(source, None)) == len(ALL_MAPPED)
        finally:
            await source.close()

    def test_webhook_only_sources_are_not_polled(self, make_context):
        assert ErpSource(odoo_settings(base_url=None), make_context("odoo")).poll(None) is None


class TestPollingFailures:
    async def test_wrong_token_is_misconfigured(self, make_context, http_session, erp):
        source = polling_source(make_context, http_session, erp.url, bearer_token="nope")
        with pytest.raises(ProviderMisconfigured) as caught:
            await drain(source, None)
        assert caught.value.status == 401
        assert "nope" not in str(caught.value)

    async def test_5xx_is_transient(self, make_context, http_session, erp):
        erp.fail_next(status=503)
        source = polling_source(make_context, http_session, erp.url)
        with pytest.raises(ProviderUnavailable) as caught:
            await drain(source, None)
        assert isinstance(caught.value, TransientError)

    async def test_a_failure_mid_way_keeps_what_was_yielded(self, make_context, http_session,
                                                            erp):
        source = polling_source(make_context, http_session, erp.url)
        pairs = []
        with pytest.raises(ProviderUnavailable):
            async for pair in source.poll(None):
                pairs.append(pair)
                if len(pairs) == 2:
                    erp.fail_next(status=502)  # the second page fails
        assert [e.return_id for e, _ in pairs] == ALL_MAPPED[:2]
        resumed = await drain(polling_source(make_context, http_session, erp.url),
                              pairs[-1][1])
        assert [e.return_id for e, _ in resumed] == ALL_MAPPED[2:]

    async def test_429_is_rate_limited(self, make_context, http_session, erp):
        erp.rate_limit_next(retry_after=5)
        source = polling_source(make_context, http_session, erp.url)
        with pytest.raises(RateLimited) as caught:
            await drain(source, None)
        assert caught.value.retry_after == 5.0

    async def test_a_next_link_to_another_host_is_refused(self, make_context, http_session, erp):
        erp.next_override = "https://elsewhere.example/api/rma?page=2"
        source = polling_source(make_context, http_session, erp.url)
        with pytest.raises(ProviderMisconfigured, match="another host"):
            await drain(source, None)

    async def test_a_wrong_records_path_is_misconfigured(self, make_context, http_session, erp):
        source = polling_source(make_context, http_session, erp.url, records_path="length")
        with pytest.raises(ProviderMisconfigured, match="records_path"):
            await drain(source, None)

    async def test_a_wrong_path_is_misconfigured(self, make_context, http_session, erp):
        source = polling_source(make_context, http_session, erp.url, path="/api/rmas")
        with pytest.raises(ProviderMisconfigured):
            await drain(source, None)

    async def test_an_unreachable_erp_is_unavailable(self, make_context, http_session):
        erp = await FakeErp().start()
        base_url = erp.url
        await erp.close()
        with pytest.raises(ProviderUnavailable):
            await drain(polling_source(make_context, http_session, base_url), None)
