"""SQLite through aiosqlite, its statements run on the event loop's own thread.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy's adapter makes four
such calls for a SELECT (open a cursor, execute, fetch all, close) and three for anything else;
each trip is a queue put, a wakeup of the thread, a wakeup of the event loop from the thread and
a future resolved. A turn's statements are lookups by key that SQLite answers in microseconds,
less than one trip costs, and the one connection a process has (storage/db.py) serves one unit
of work at a time, so the trips' latency also left the event loop idle with 32 turns waiting
(docs/benchmarks.md). Here a statement, its rows and the close of its sqlite3 cursor are one
call, made on the loop's thread with SQLite's busy wait off; only when SQLite answers "busy"
(another process holds the write lock) is the call made again on aiosqlite's thread, with the
wait on (``BUSY_WAIT_MS``), so a wait for a lock never stops the event loop. The connection
skips the rollback the pool asks for when no transaction is open (after every commit).
Everything else is SQLAlchemy's aiosqlite dialect as it is: the engine only swaps the DBAPI
adapter it is given (``create_async_engine(..., module=one_hop_dbapi())``).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence
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
# How long a statement waits for another connection's write lock, on aiosqlite's thread.
BUSY_WAIT_MS = 5000


def _is_busy(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.OperationalError)
        and code is not None
        and (code & 0xFF == sqlite3.SQLITE_BUSY)
    )


async def _at_once() -> None:
    return None


def _waiting(connection: sqlite3.Connection, function: Callable[..., Any], *args: Any) -> Any:
    """On aiosqlite's thread: ``function`` with SQLite's busy wait on for its length."""
    connection.execute(f"PRAGMA busy_timeout={BUSY_WAIT_MS}")
    try:
        return function(connection, *args)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


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
            outcome: _Outcome = adapt.call(_run, operation, parameters, many, begin)
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

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(sqlite3 connection, *args)`` here, on the event loop's thread; when SQLite
        is busy (another connection's write lock), again on aiosqlite's thread, waiting for it.
        A BEGIN already sent with the call (``_run``'s last argument) is not sent twice."""
        connection = self._connection._conn
        try:
            outcome = function(connection, *args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
        else:
            # SQLAlchemy's AsyncConnection.execute refuses a driver that never awaits (its
            # check for a sync driver used by mistake); awaiting a coroutine that returns at
            # once satisfies it without giving the event loop a turn.
            await_(_at_once())
            return outcome
        if function is _run and args[-1] and connection.in_transaction:
            args = (*args[:-1], False)
        return await_(self._connection._execute(_waiting, connection, function, *args))

    def begin(self) -> None:
        """Begin a transaction with the next statement (storage/db.py issues BEGIN itself, as
        SQLAlchemy's SQLite notes advise, so that SAVEPOINTs work)."""
        self._begin_pending = True

    def rollback(self) -> None:
        self._begin_pending = False  # a BEGIN still waiting is ended with nothing sent
        if self._in_transaction is False:
            return
        try:
            self.call(sqlite3.Connection.rollback)
        except Exception as error:
            self._handle_exception(error)
        self._in_transaction = False

    def commit(self) -> None:
        self._begin_pending = False
        if self._in_transaction is False:
            return  # nothing was begun, or nothing was sent since
        self._in_transaction = None
        try:
            self.call(sqlite3.Connection.commit)
        except Exception as error:
            self._handle_exception(error)
        self._in_transaction = False


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        # Used from the event loop's thread as well as aiosqlite's, one at a time (the adapter
        # awaits each call before the next).
        kw["check_same_thread"] = False
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


def one_hop_dbapi() -> OneHopDbapi:
    return OneHopDbapi(aiosqlite, sqlite3)
