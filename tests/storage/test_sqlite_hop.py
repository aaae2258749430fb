"""The SQLite engine's one-trip cursor (storage/sqlite_hop.py) behaves as aiosqlite's own:
rows, counts, ids, errors and transactions, on a real database file."""

from __future__ import annotations

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


async def test_one_trip_per_statement_and_none_to_roll_back_nothing(
    engine: Any, trips: Counter[str]
) -> None:
    async with engine.begin() as connection:  # BEGIN with the INSERT, SELECT, COMMIT
        await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 1
    # The pool's reset after the commit found no transaction open: no rollback.
    assert trips == Counter({"_run": 2, "commit": 1})


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
