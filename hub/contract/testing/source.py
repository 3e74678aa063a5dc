"""``SourceContract``: what every source must do with good, tampered and garbage requests.

Subclass it once per source (``class TestShopifyContract(SourceContract)``) and provide:

- ``make_source(context)``: a configured instance;
- ``valid_payload()``: a payload (dict) that parses to at least one event;
- ``signed(body)``: a request carrying exactly ``body``, signed as the platform signs it;
- ``fuzz_headers``: the header names the source reads, for the property test to vary.

The property test throws random and mutated bodies and header values at ``verify`` then
``parse``: nothing but :class:`SignatureError` (401) and :class:`RequestRejected` (400/422) may
come out, and whatever parses must serialize.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.connectors import InboundRequest
from hub.connectors import Source as SourceBase
from hub.errors import RequestRejected, SignatureError
from hub.events import ReturnEvent
from hub.testing.signing import body_bytes, inbound_request

if TYPE_CHECKING:
    from hub.connectors import ConnectorContext, Source

#: Any JSON value, small.
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False,
                                                                        allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value (dict keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _replace(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(value[head], rest, new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, payload: Any) -> Any:
    """``payload`` with one value somewhere inside replaced by random JSON."""
    path = draw(st.sampled_from(_paths(payload)))
    return _replace(payload, path, draw(JSON))


def encode(value: Any) -> bytes:
    """JSON bytes; the standard library also writes integers beyond 64 bits."""
    return json.dumps(value).encode()


def bodies(payload: Any) -> st.SearchStrategy[bytes]:
    """Raw bytes, random JSON, and the valid payload with a value swapped out."""
    return st.one_of(
        st.binary(max_size=200),
        JSON.map(encode),
        mutated(payload).map(encode),
        mutated(payload).flatmap(mutated).map(encode),
    )


def with_headers(request: InboundRequest, headers: dict[str, str]) -> InboundRequest:
    """A copy of ``request`` with ``headers`` set over its own."""
    merged = {**dict(request.headers), **headers}
    return inbound_request(request.body, merged, query=request.query,
                           url=request.url.split("?", 1)[0], received_at=request.received_at)


class SourceContract:
    """Conformance tests every source passes (see the module docstring)."""

    #: The instance name the contract builds the source under.
    instance_name: ClassVar[str] = "under_test"
    #: Header names the source reads; the property test gives them random values.
    fuzz_headers: ClassVar[tuple[str, ...]] = ()
    #: False for schemes that authenticate the sender but not the body (a URL token).
    signs_body: ClassVar[bool] = True

    def make_source(self, context: ConnectorContext) -> Source:
        """A configured instance of the source under test."""
        raise NotImplementedError

    def valid_payload(self) -> Any:
        """A payload that parses to at least one event."""
        raise NotImplementedError

    def signed(self, body: bytes) -> InboundRequest:
        """A request carrying ``body``, correctly signed."""
        raise NotImplementedError

    @pytest.fixture
    def source(self, make_context) -> Source:
        """The source under test, built with a fresh context."""
        return self.make_source(make_context(self.instance_name))

    async def test_valid_request_parses_to_identified_events(self, source: Source) -> None:
        request = self.signed(body_bytes(self.valid_payload()))
        await source.verify(request)
        events = await source.parse(request)
        assert events
        for event in events:
            assert isinstance(event, ReturnEvent)
            assert event.source == self.instance_name
            assert event.source_event_id
            assert event.raw is not None
            event.model_dump_json()

    async def test_parse_is_deterministic(self, source: Source) -> None:
        request = self.signed(body_bytes(self.valid_payload()))
        first = [e.source_event_id for e in await source.parse(request)]
        second = [e.source_event_id for e in await source.parse(request)]
        assert first == second
        assert len(set(first)) == len(first), "one delivery must not reuse a dedupe key"

    async def test_tampered_body_fails_verification(self, source: Source) -> None:
        if not self.signs_body:
            pytest.skip("this scheme does not cover the body")
        request = self.signed(body_bytes(self.valid_payload()))
        tampered = InboundRequest(
            method=request.method, url=request.url, path=request.path, headers=request.headers,
            query=request.query, body=request.body + b" ", received_at=request.received_at)
        with pytest.raises(SignatureError):
            await source.verify(tampered)

    async def test_sign_produces_requests_that_verify(self, source: Source) -> None:
        if type(source).sign is SourceBase.sign:
            pytest.skip("the source cannot sign test requests")
        body = body_bytes(self.valid_payload())
        headers = source.sign(body, event_id="evt_contract_1")
        # A URL token (Shippo) travels in the query, which sign() cannot set.
        request = inbound_request(body, headers, query=self.signed(body).query)
        await source.verify(request)
        assert await source.parse(request)

    async def test_unsigned_request_fails_verification(self, source: Source) -> None:
        body = body_bytes(self.valid_payload())
        with pytest.raises(SignatureError):
            await source.verify(inbound_request(body, {"Content-Type": "application/json"}))

    async def test_garbage_body_with_valid_signature_is_rejected(self, source: Source) -> None:
        request = self.signed(b"\x00{not json")
        await source.verify(request)
        with pytest.raises(RequestRejected) as caught:
            await source.parse(request)
        assert caught.value.status == 400

    async def test_wrong_shape_with_valid_signature_is_rejected(self, source: Source) -> None:
        request = self.signed(b'"just a string"')
        await source.verify(request)
        with pytest.raises(RequestRejected) as caught:
            await source.parse(request)
        assert caught.value.status == 422

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Hypothesis ties a test function to one class ("executor"): give each subclass its
        # own property test instead of inheriting a shared one.
        super().__init_subclass__(**kwargs)

        def test_random_input_raises_only_contract_errors(self, make_context, data) -> None:
            self._random_input(make_context, data)

        cls.test_random_input_raises_only_contract_errors = settings(
            max_examples=300, deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )(given(data=st.data())(test_random_input_raises_only_contract_errors))

    def _random_input(self, make_context, data: st.DataObject) -> None:
        """Random bodies, signed or not, with random values for the headers the source reads."""
        source = self.make_source(make_context(self.instance_name))
        body = data.draw(bodies(self.valid_payload()), label="body")
        request = self.signed(body)
        if data.draw(st.booleans(), label="unsigned"):
            request = inbound_request(body)
        if self.fuzz_headers:
            headers = data.draw(st.dictionaries(st.sampled_from(self.fuzz_headers),
                                                st.text(max_size=60), max_size=3),
                                label="headers")
            request = with_headers(request, headers)
        asyncio.run(self._verify_then_parse(source, request))

    @staticmethod
    async def _verify_then_parse(source: Source, request: InboundRequest) -> None:
        try:
            await source.verify(request)
        except SignatureError:
            return
        try:
            events = await source.parse(request)
        except RequestRejected as exc:
            assert exc.status in (400, 422)
            return
        for event in events:
            assert event.source_event_id
            event.model_dump_json()
