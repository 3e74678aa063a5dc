"""``context.state`` inside a running hub: the ``plugin_state`` table (migration 0009).

One namespace per connector instance (``<type>:<name>``), so an instance never reads another's
keys and a renamed or retyped instance starts empty. Values are JSON encrypted with the PII
cipher (a token or a cursor may be a secret); the plugin never sees the cipher or the database.
Compare-and-set compares decrypted values and writes only if the row's ``version`` is still
the one read, so it needs no lock and holds on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from hub.state import StateUnavailable, check_key, decode_value, encode_value, normalized
from hub.store.dialect import insert_ignoring_conflicts
from hub.store.engine import utcnow
from hub.store.failures import safe_error
from hub.store.models import PluginState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.security import PiiCipher

_TABLE = PluginState.__table__
_NAMESPACE_LENGTH = _TABLE.c.namespace.type.length


def namespace_of(connector_type: str, instance: str) -> str:
    """``<type>:<instance>``, the namespace of one connector instance's keys; a name too long
    for the column is replaced by its SHA-256 (still one namespace per instance)."""
    namespace = f"{connector_type}:{instance}"
    if len(namespace) <= _NAMESPACE_LENGTH:
        return namespace
    return f"{connector_type[:150]}:sha256:{hashlib.sha256(instance.encode()).hexdigest()}"


class DatabaseState:
    """:class:`hub.state.PluginState` for one connector instance, in the hub's database."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], cipher: PiiCipher,
                 namespace: str) -> None:
        self._sessionmaker = sessionmaker
        self._cipher = cipher
        self._namespace = namespace

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction; a database failure reaches the plugin as :class:`StateUnavailable`
        (transient: retried later), its text without statement or values."""
        try:
            async with self._sessionmaker() as session, session.begin():
                yield session
        except (SQLAlchemyError, OSError) as exc:
            raise StateUnavailable(f"plugin state unavailable: {safe_error(exc)}") from None

    def _where(self, key: str) -> Any:
        return (_TABLE.c.namespace == self._namespace) & (_TABLE.c.key == key)

    async def _read(self, session: AsyncSession, key: str) -> tuple[Any, int] | None:
        row = (await session.execute(
            select(_TABLE.c.value_enc, _TABLE.c.version).where(self._where(key)))).first()
        if row is None:
            return None
        return decode_value(self._cipher.decrypt(row.value_enc)), row.version

    async def get(self, key: str, default: Any = None) -> Any:
        """See :meth:`hub.state.PluginState.get`."""
        check_key(key)
        async with self._transaction() as session:
            found = await self._read(session, key)
        return default if found is None else found[0]

    async def set(self, key: str, value: Any) -> None:
        """See :meth:`hub.state.PluginState.set`."""
        token = self._cipher.encrypt(encode_value(value))
        check_key(key)
        async with self._transaction() as session:
            # Insert first: two nodes setting a new key at once must not collide on it.
            added = await session.execute(
                insert_ignoring_conflicts(session, _TABLE, "namespace", "key").values(
                    namespace=self._namespace, key=key, value_enc=token, version=1,
                    updated_at=utcnow()))
            if added.rowcount == 0:
                await session.execute(
                    update(_TABLE).where(self._where(key))
                    .values(value_enc=token, version=_TABLE.c.version + 1, updated_at=utcnow()))

    async def delete(self, key: str) -> None:
        """See :meth:`hub.state.PluginState.delete`."""
        check_key(key)
        async with self._transaction() as session:
            await session.execute(delete(_TABLE).where(self._where(key)))

    async def compare_and_set(self, key: str, expected: Any, value: Any) -> bool:
        """See :meth:`hub.state.PluginState.compare_and_set`."""
        token = self._cipher.encrypt(encode_value(value))
        check_key(key)
        expected = normalized(expected)
        async with self._transaction() as session:
            found = await self._read(session, key)
            if found is None:
                if expected is not None:
                    return False
                added = await session.execute(
                    insert_ignoring_conflicts(session, _TABLE, "namespace", "key").values(
                        namespace=self._namespace, key=key, value_enc=token, version=1,
                        updated_at=utcnow()))
                return added.rowcount == 1
            current, version = found
            if current != expected:
                return False
            changed = await session.execute(
                update(_TABLE).where(self._where(key) & (_TABLE.c.version == version))
                .values(value_enc=token, version=version + 1, updated_at=utcnow()))
            return changed.rowcount == 1
