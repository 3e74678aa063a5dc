"""The ``file`` sink passes the shipped SinkContract (it calls no remote provider: its
"provider" is the outbox folder, and an outage is a folder it cannot write to)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.contract.testing import SinkContract, make_context, outbound_message
from hub.messages import OutboundMessage
from returnhub_file.sink import FileSink, FileSinkSettings


@pytest.fixture
def provider(tmp_path: Path) -> Path:
    """The outbox folder."""
    return tmp_path / "outbox"


@pytest.fixture
async def sink(provider: Path) -> AsyncIterator[FileSink]:
    """A started file sink writing into ``provider``."""
    instance = FileSink(FileSinkSettings(directory=provider), make_context("outbox"))
    await instance.start()
    yield instance
    await instance.close()


class TestFileSinkContract(SinkContract):
    """The shared sink contract."""

    sink_class = FileSink
    # A development outbox writes whatever non-empty address the hub planned for.
    refused_recipient = None

    def message(self, to: str | None = None) -> OutboundMessage:
        return outbound_message("email", to or "jane.customer@example.com")

    def break_provider(self, provider: Path) -> None:
        # A file where the folder was: every write fails (even as root, unlike permissions).
        shutil.rmtree(provider)
        provider.write_text("not a folder")


async def test_the_contract_messages_are_written(sink: FileSink, provider: Path) -> None:
    """The contract's happy sends land as files (the contract itself only sees results)."""
    message = TestFileSinkContract().message()
    await sink.send(message)
    assert (provider / f"{message.message_id}.eml").is_file()
