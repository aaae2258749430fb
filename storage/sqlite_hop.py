"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy's adapter makes four
such calls for a SELECT (open a cursor, execute, fetch all, close) and three for anything else;
each trip is a queue put, a wakeup of the event loop from the thread and a future resolved, and
a turn made twelve of them, a third of its CPU (docs/benchmarks.md). The cursor here runs the
statement, fetches its rows and closes the sqlite3 cursor in one function on that thread, and
the connection skips the rollback the pool asks for when no transaction is open (after every
commit). Everything else is SQLAlchemy's aiosqlite dialect as it is: the engine only swaps the
DBAPI adapter it is given (``create_async_engine(..., module=one_hop_dbapi())``).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any] | None, int, int | None, bool]


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: bool
) -> _Outcome:
    """On aiosqlite's thread: the statement (after the BEGIN its transaction is waiting for),
    its rows and what the cursor knew, at once."""
    cursor = connection.cursor()
    try:
        if begin:
            cursor.execute("BEGIN")
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return (
            cursor.description,
            rows,
            cursor.rowcount,
            cursor.lastrowid,
            connection.in_transaction,
        )
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement, rows and close are one call on the connection's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")
    # There is no aiosqlite cursor to close.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: OneHopConnection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._call(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._call(operation, seq_of_parameters, many=True)

    def _call(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapt = self._adapt_connection
        begin, adapt._begin_pending = adapt._begin_pending, False
        try:
            outcome: _Outcome = await_(
                self._connection._execute(
                    _run, self._connection._conn, operation, parameters, many, begin
                )
            )
        except Exception as error:
            adapt._in_transaction = None  # unknown now: the pool's rollback goes ahead
            adapt._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid, in_transaction = outcome
        adapt._in_transaction = in_transaction
        self._rows = collections.deque(rows) if rows else collections.deque()

    def close(self) -> None:
        self._rows.clear()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's connection with OneHopCursor; a transaction's BEGIN goes with its first
    statement, and there is no trip to the thread to end what was never begun."""

    __slots__ = ("_begin_pending", "_in_transaction")
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        # None: not known, so a rollback goes to the database.
        self._in_transaction: bool | None = None
        self._begin_pending = False

    def begin(self) -> None:
        """Begin a transaction with the next statement (storage/db.py issues BEGIN itself, as
        SQLAlchemy's SQLite notes advise, so that SAVEPOINTs work)."""
        self._begin_pending = True

    def rollback(self) -> None:
        self._begin_pending = False  # a BEGIN still waiting is ended with nothing sent
        if self._in_transaction is False:
            return
        super().rollback()
        self._in_transaction = False

    def commit(self) -> None:
        self._begin_pending = False
        if self._in_transaction is False:
            return  # nothing was begun, or nothing was sent since
        self._in_transaction = None
        super().commit()
        self._in_transaction = False


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def one_hop_dbapi() -> OneHopDbapi:
    return OneHopDbapi(aiosqlite, sqlite3)
