"""Small reads of a SQLite file, asked on the event loop's thread through a connection of
their own.

The workers ask several times a second whether a claim could find a row
(:class:`hub.store.claims.ReadyProbe`). Through a session that question cost about 1 ms of
CPU, more than the indexed read itself by a factor of fifty: a session and a pooled
connection, a snapshot ``BEGIN``, SQLAlchemy's execution of the statement, and three hand-offs
to the driver's threads and back. Here the statement is compiled once, and each question is
one call into :mod:`sqlite3` on the loop's thread. That is safe for a read: in WAL mode a
reader never waits for a writer, and this connection waits for nothing else either (no busy
timeout); a read SQLite cannot answer at once (a checkpoint resetting the log, a migration)
answers "not known", and the caller goes on as if there were work, which the claim then looks
for properly.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql import Select

#: What :meth:`QuickReader.first` returns when SQLite could not answer at once.
NOT_KNOWN = object()


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement compiled for SQLite: its text, and for each ``?`` in it the name of the
    parameter given at run time (or None) and the value to bind, converted for the column."""

    sql: str
    #: (parameter name or None, constant value, the bind's converter or None), in order.
    binds: tuple[tuple[str | None, Any, Callable[[Any], Any] | None], ...]

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional values of one run."""
        out = []
        for name, constant, convert in self.binds:
            value = params[name] if name is not None else constant
            out.append(convert(value) if convert is not None else value)
        return out


def prepare(statement: Select, dialect: Dialect, names: frozenset[str]) -> Prepared:
    """Compile ``statement`` once; the bind parameters in ``names`` are given at each run, the
    others keep the values written into the statement."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    constants = compiled.construct_params(_check=False)
    binds = []
    for key in compiled.positiontup or ():
        bind = compiled.binds.get(key)
        name = key if key in names else None
        converter = bind.type.bind_processor(dialect) if bind is not None else None
        binds.append((name, constants.get(key), converter))
    return Prepared(compiled.string, tuple(binds))


class QuickReader:
    """Reads of the SQLite file ``database`` through one connection of this process, asked on
    the caller's thread (see the module docstring). Opened at the first read (in each process:
    a connection is never shared across a fork); :meth:`close` when the engine is disposed."""

    def __init__(self, database: str, *, uri: bool = False) -> None:
        #: The file (or ``file:`` URI, with ``uri``) as SQLAlchemy gives it to sqlite3.
        self.database = database
        self.uri = uri
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def first(self, prepared: Prepared, params: Mapping[str, Any]) -> tuple | None | object:
        """The first row of ``prepared`` run with ``params``, None when there is none, or
        :data:`NOT_KNOWN` when SQLite could not answer at once."""
        values = prepared.values(params)
        with self._lock:
            try:
                return self._connect().execute(prepared.sql, values).fetchone()
            except sqlite3.OperationalError:  # busy or locked: ask the claim instead
                return NOT_KNOWN

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():
            self._connection = sqlite3.connect(self.database, timeout=0, uri=self.uri,
                                               isolation_level=None, check_same_thread=False)
            self._connection.execute("PRAGMA query_only=ON")
            self._pid = os.getpid()
        return self._connection

    def close(self) -> None:
        """Close the connection (this process's; a forked child's copy is left alone)."""
        with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None and self._pid == os.getpid():
                with contextlib.suppress(sqlite3.Error):
                    connection.close()
