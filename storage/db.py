"""Engines and sessions, tuned per database."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import and_, bindparam, event, inspect, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import StaticPool

from storage.sqlite_hop import BUSY_WAIT_MS, OneHopConnection, one_hop_dbapi


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# A pooled PostgreSQL connection unused this long is pinged before it is lent again.
PING_IDLE_AFTER = 5.0
# PostgreSQL connections per process. None beyond these: a unit of work that finds all of them
# lent waits for one to come back (the server is busy with the others' statements anyway).
PG_POOL_SIZE = 16
PG_POOL_OVERFLOW = 0


def create_engine(
    url: str, *, ping_idle_after: float = PING_IDLE_AFTER, **kwargs: Any
) -> AsyncEngine:
    """An async engine. On SQLite: WAL, foreign keys, and a single connection, because SQLite has
    one writer anyway and a pool of one keeps p99 low and avoids "database is locked"."""
    if is_sqlite(url):
        parsed = make_url(url)
        if parsed.database in (None, "", ":memory:"):
            kwargs.setdefault("poolclass", StaticPool)
        else:
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", 30)
        if parsed.get_driver_name() == "aiosqlite":
            kwargs.setdefault("module", one_hop_dbapi())
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not the sqlite3 module, issue BEGIN, so SAVEPOINTs work (SQLAlchemy's
        # SQLite notes, "Serializable isolation / Savepoints / Transactional DDL").
        event.listen(engine.sync_engine, "begin", _begin)
        return engine
    # A pool with no overflow. SQLAlchemy closes an overflow connection as soon as it is given
    # back, so a busy process (32 turns at once in the benchmarks) opened a new backend for
    # nearly every turn over the pool's size: about 5 a second with 16 and 8 on overflow, each
    # a fork on the server, an SSL attempt and a login on ours, and every statement prepared
    # again, which cost a Teams help turn a third of its throughput (docs/benchmarks.md).
    kwargs.setdefault("pool_size", PG_POOL_SIZE)
    kwargs.setdefault("max_overflow", PG_POOL_OVERFLOW)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, after=ping_idle_after)
    return engine


def _ping_when_idle(engine: AsyncEngine, *, after: float) -> None:
    """``pool_pre_ping``, but only for a connection that has sat idle in the pool: one that
    has been lent and given back a moment ago is as alive as it will be after a ping, and the
    ping is a round trip to the server on every unit of work (every turn). A connection the
    server dropped while it sat (a restart, a failover, an idle timeout on the way) is found
    and replaced as pre-ping would; one that breaks mid-use fails its statement, as it would
    with pre-ping between the ping and the statement."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _given_back(_dbapi_connection: Any, record: Any) -> None:
        record.info["given_back"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _lent(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        given_back = record.info.get("given_back")
        if given_back is None or time.monotonic() - given_back < after:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            # The pool throws this connection away and lends a fresh one.
            raise DisconnectionError("the connection was closed while idle in the pool")


def _begin(connection: Any) -> None:
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, OneHopConnection):
        dbapi_connection.begin()  # sent with the transaction's first statement
    else:
        connection.exec_driver_sql("BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # A statement on the event loop's thread must not wait for a lock there: OneHopConnection
    # waits on aiosqlite's thread instead (storage/sqlite_hop.py).
    wait = 0 if isinstance(dbapi_connection, OneHopConnection) else BUSY_WAIT_MS
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={wait}",
    ):
        cursor.execute(pragma)
    cursor.close()


def upsert_insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT, in the session's dialect."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# One UPDATE ... WHERE <primary key> per mapped class and set of attributes written now.
_WRITES: dict[tuple[Any, tuple[str, ...]], Any] = {}


async def write_now(session: AsyncSession, row: Any, **values: Any) -> bool:
    """Write ``values`` to a loaded row's columns at once, with one UPDATE by its primary key,
    and set them on the object as already saved: what its flush would send, without the unit
    of work's flush (most of the CPU of a turn that changes a row or two). False, with nothing
    changed, when the row is not there (an object never flushed, or a row deleted by a
    statement in this transaction, which the object cannot know)."""
    state = inspect(row)
    if not state.persistent:
        return False
    mapper = state.mapper
    names = tuple(sorted(values))
    statement = _WRITES.get((mapper, names))
    if statement is None:
        columns = {name: mapper.attrs[name].columns[0] for name in names}
        statement = (
            update(mapper.local_table)
            .where(and_(*(key == bindparam(f"pk_{key.key}") for key in mapper.primary_key)))
            .values(
                {
                    column.key: bindparam(f"v_{name}", type_=column.type)
                    for name, column in columns.items()
                }
            )
        )
        _WRITES[(mapper, names)] = statement
    parameters = {f"v_{name}": values[name] for name in names}
    for column, key in zip(mapper.primary_key, state.identity, strict=True):
        parameters[f"pk_{column.key}"] = key
    result = await session.execute(statement, parameters)
    if result.rowcount != 1:
        return False
    for name in names:
        set_committed_value(row, name, values[name])
    return True


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
