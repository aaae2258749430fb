"""The SQLite engine's cursor (storage/sqlite_hop.py) behaves as aiosqlite's own: rows, counts,
ids, errors and transactions, on a real database file; its statements run on the event loop's
thread, and a wait for another connection's lock on aiosqlite's, the loop running meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.db import create_engine
from storage.sqlite_hop import OneHopConnection


@pytest.fixture
async def engine(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hop.db'}")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)")
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The calls aiosqlite runs on its thread, by name."""
    counted: Counter[str] = Counter()
    original = aiosqlite.Connection._execute

    async def counting(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[getattr(fn, "__name__", "?")] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return counted


async def test_rows_counts_and_ids_come_back_as_sqlite_gives_them(engine: Any) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await connection.execute(
            text("INSERT INTO notes (body) VALUES (:body)"), [{"body": "b"}, {"body": "c"}]
        )
        updated = await connection.execute(text("UPDATE notes SET body = body || '!'"))
        assert updated.rowcount == 3
        rows = (await connection.execute(text("SELECT id, body FROM notes ORDER BY id"))).all()
    assert rows == [(1, "a!"), (2, "b!"), (3, "c!")]
    async with engine.connect() as connection:
        result = await connection.execute(text("SELECT body FROM notes ORDER BY id"))
        assert [result.fetchone(), result.fetchmany(1), result.fetchall()] == [
            ("a!",),
            [("b!",)],
            [("c!",)],
        ]
        assert (await connection.execute(text("SELECT body FROM notes WHERE 0"))).all() == []


async def test_statements_and_commits_make_no_trip_to_the_thread(
    engine: Any, trips: Counter[str]
) -> None:
    async with engine.begin() as connection:  # BEGIN with the INSERT, SELECT, COMMIT
        await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 1
    async with engine.connect() as connection:  # and a rollback
        await connection.execute(text("INSERT INTO notes (body) VALUES ('b')"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT body FROM notes"))).scalars().all() == ["a"]
    assert trips == Counter()


async def test_a_write_waiting_for_another_connections_lock_waits_off_the_event_loop(
    engine: Any, tmp_path: Path, trips: Counter[str]
) -> None:
    other = sqlite3.connect(tmp_path / "hop.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing: it holds the write lock
    other.execute("INSERT INTO notes (body) VALUES ('theirs')")
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    ticker = asyncio.create_task(ticking())
    releaser = asyncio.create_task(release())
    try:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('ours')"))
        await releaser
    finally:
        ticker.cancel()
        other.close()
    # The write waited for the lock on aiosqlite's thread; the loop ran on meanwhile.
    assert trips["_waiting"] == 1
    assert ticks >= 10
    async with engine.connect() as connection:
        bodies = (await connection.execute(text("SELECT body FROM notes ORDER BY id"))).all()
    assert bodies == [("theirs",), ("ours",)]


async def test_a_failed_statement_raises_the_dbapi_error_and_its_transaction_is_undone(
    engine: Any,
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
            await connection.execute(text("INSERT INTO notes (body) VALUES ('kept')"))
    async with engine.connect() as connection:
        bodies = (await connection.execute(text("SELECT body FROM notes"))).scalars().all()
        # The connection is usable: the failed transaction was rolled back, not left open.
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, aiosqlite.Connection)
        assert isinstance(raw.dbapi_connection, OneHopConnection)
    assert bodies == ["kept"]


async def test_a_transaction_given_back_open_is_rolled_back(engine: Any) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO notes (body) VALUES ('never committed')"))
        # Closed without a commit: the pool rolls back.
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 0
