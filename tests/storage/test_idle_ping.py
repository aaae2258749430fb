"""PostgreSQL's pool (storage/db.py): a pooled connection that sat idle is pinged before it is
lent again, one the server closed meanwhile is replaced, not handed to a turn, and a burst of
turns keeps its connections for the next."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from storage.db import create_engine


@pytest.fixture
async def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("the idle ping is PostgreSQL's (SQLite has no server to lose)")
    return database_url


async def _backend(engine: Any) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_connection_closed_while_idle_is_replaced_before_use(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0, ping_idle_after=0.2)
    killer = create_engine(postgres_url)
    try:
        first = await _backend(engine)
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.4)
        # The next unit of work gets a working connection, a new one.
        second = await _backend(engine)
        assert second != first
    finally:
        await engine.dispose()
        await killer.dispose()


async def test_a_connection_back_a_moment_ago_is_lent_again_as_it_is(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0, ping_idle_after=60)
    killer = create_engine(postgres_url)
    try:
        first = await _backend(engine)
        assert await _backend(engine) == first  # no ping, the same connection
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await asyncio.sleep(0.2)
        # Within the idle time there is no ping: the dead connection fails its statement, and
        # the pool replaces it for the unit after (pre-ping would not have done better once the
        # server dropped it between its ping and the statement).
        with pytest.raises(Exception, match=r"(?i)connection|closed|terminat"):
            await _backend(engine)
        assert await _backend(engine) != first
    finally:
        await engine.dispose()
        await killer.dispose()


async def _burst(engine: Any, size: int, *, seconds: float) -> list[int]:
    """``size`` units of work at once, each holding its connection ``seconds``: the backend
    pid each ran on."""

    async def unit() -> int:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
            return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()

    return list(await asyncio.gather(*(unit() for _ in range(size))))


async def test_a_burst_of_turns_reuses_the_connections_of_the_burst_before(
    postgres_url: str,
) -> None:
    """16 units of work at once, twice: the second burst runs on the connections the first
    opened (SQLAlchemy's default pool of 5 closed the other 11 after each burst)."""
    engine = create_engine(postgres_url)
    try:
        first = set(await _burst(engine, 16, seconds=0.05))
        assert len(first) == 16
        second = set(await _burst(engine, 16, seconds=0.05))
        assert second == first
    finally:
        await engine.dispose()


async def test_a_burst_larger_than_the_pool_waits_for_its_connections_not_new_ones(
    postgres_url: str,
) -> None:
    """40 units at once, more than the pool holds, twice: the units beyond the pool wait for
    a connection another gives back, rather than each opening a backend of its own that is
    closed again when it is given back (a new PostgreSQL backend, its statements prepared
    again, for every turn over the pool's size in a busy process)."""
    engine = create_engine(postgres_url)
    try:
        first = await _burst(engine, 40, seconds=0.02)
        second = await _burst(engine, 40, seconds=0.02)
        assert len(first) == len(second) == 40  # every unit ran
        assert len(set(first)) == engine.pool.size()
        assert set(second) == set(first)
    finally:
        await engine.dispose()
