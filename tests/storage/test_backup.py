"""`partnerbot export` and `partnerbot import`: a partnership used through the real core moves
from SQLite to PostgreSQL and back with every row of every table intact, and keeps working."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from config.frameworks import load_frameworks
from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from storage.backup import tables
from storage.db import create_engine
from storage.repositories import Store
from tests.bot.test_cli import base_env, run
from tests.conftest import _asyncpg_dsn
from tests.dialogs.conversation import FrozenClock, channel, person, say

ANN, BOB, CAT = person("Ann"), person("Bob"), person("Cat")


def core_on(url: str) -> Partnerbot:
    return Partnerbot(
        Store(create_engine(url)),
        Partnership(first_contact_becomes_coordinator=True, frameworks=load_frameworks()),
        clock=FrozenClock(),
    )


async def populate(url: str) -> None:
    """A partnership in use: areas, members with organisations and expertise, a check-in with
    answers, queued invitations, a meeting with an RSVP, shared practice, an action."""
    core = core_on(url)
    try:
        for who, text, expected in [
            (ANN, "area add Marr", "Added the area Marr."),
            (ANN, "area add Formartine", "Added the area Formartine."),
            (ANN, "me area Marr", "You're now in Marr."),
            (ANN, "me org Aberdeenshire Council", ""),
            (BOB, "me area Marr", "You're now in Marr."),
            (CAT, "me area Formartine", "You're now in Formartine."),
            (CAT, "me tz Europe/Paris", ""),
            (ANN, "checkin start qi-3.2 questions=1,3 areas=all closes=2026-03-31", "Opened"),
            (ANN, 'meeting schedule "Marr forum" 2026-05-12 10:30 area=Marr', ""),
            (ANN, "area channel Marr", ""),
        ]:
            answer = await say(core, who, text, where=channel() if "channel" in text else None)
            assert expected in answer, (text, answer)
        await say(core, ANN, "expert add @Bob Family violence and trauma", [BOB])
        answer = await say(
            core,
            BOB,
            "checkin answer 1 1",
            form={
                "rating": "5",
                "working_well": "Joint planning has started — réunions à Inverurie",
                "evidence": "61 partners attended",
                "priorities": "",
            },
        )
        assert "Saved question 1." in answer
        await say(core, BOB, "rsvp 1 yes")
        answer = await say(
            core,
            BOB,
            'practice share "Interpreters on enrolment day" Booking interpreters removed '
            "language barriers for refugee families #language #refugees",
        )
        assert "Shared practice #1" in answer
        await say(core, ANN, 'action add "Share the timetable" owner=@Bob due=2026-04-30', [BOB])
    finally:
        await core.store.close()


async def rows_of(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order, as the models read them."""
    engine = create_engine(url)
    found = {}
    try:
        async with engine.connect() as connection:
            for table in tables():
                key = list(table.primary_key.columns) or list(table.columns)
                result = await connection.execute(select(table).order_by(*key))
                found[table.name] = [tuple(row) for row in result]
    finally:
        await engine.dispose()
    return found


async def bare_postgres_database(postgres) -> str:
    """A new PostgreSQL database with nothing in it, not even the schema."""
    name = f"partnerbot_t_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(_asyncpg_dsn(postgres.url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    postgres.created.append(name)
    return make_url(postgres.url).set(database=name).render_as_string(hide_password=False)


def progress_of(stderr: str, verb: str) -> dict[str, str]:
    """What each table's progress line last showed (each rewrite starts with a carriage
    return): {table: "[####....] done / total rows"}."""
    shown = {}
    for line in stderr.splitlines():
        last = line.rsplit("\r", 1)[-1]
        if last.startswith(f"  {verb} "):
            table, bar = last[len(verb) + 3 :].split(maxsplit=1)
            shown[table] = bar
    return shown


def partnerbot(args: list[str], url: str, cwd: Path):
    result = run(args, base_env(PARTNERBOT_DATABASE_URL=url), cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


async def test_a_partnership_moves_from_sqlite_to_postgresql_and_back_with_nothing_lost(
    tmp_path, sqlite_template, postgres
):
    if postgres is None:
        pytest.skip("PARTNERBOT_TEST_POSTGRES_URL is not set")
    first = tmp_path / "first.db"
    first.write_bytes(sqlite_template)
    sqlite_url = f"sqlite+aiosqlite:///{first}"
    await populate(sqlite_url)
    before = await rows_of(sqlite_url)
    for table in ("areas", "members", "responses", "outbox", "cycles", "practice_records"):
        assert before[table], f"{table} should have rows to move"

    exported = partnerbot(["export", "to-postgres.jsonl"], sqlite_url, tmp_path)
    total = sum(len(rows) for rows in before.values())
    assert f"exported {total:,} rows of {len(before)} tables" in exported.stderr
    # A progress bar per table, with its total, on stderr (the line rewritten as it grows).
    shown = progress_of(exported.stderr, "exported")
    assert shown["areas"] == "[########################]         2 / 2 rows"
    assert shown.keys() == before.keys()  # every table, the empty ones too
    for table, rows in before.items():
        assert shown[table].endswith(f" {len(rows):,} / {len(rows):,} rows"), table

    postgres_url = await bare_postgres_database(postgres)
    imported = partnerbot(["import", "to-postgres.jsonl"], postgres_url, tmp_path)
    assert f"imported {total:,} rows" in imported.stderr
    shown = progress_of(imported.stderr, "imported")
    assert shown == {
        table: f"[{'#' * 24}] {len(rows):>9,} / {len(rows):,} rows"
        for table, rows in before.items()
        if rows
    }
    assert await rows_of(postgres_url) == before

    partnerbot(["export", "back.jsonl"], postgres_url, tmp_path)
    second_url = f"sqlite+aiosqlite:///{tmp_path / 'second.db'}"  # a file that isn't there yet
    partnerbot(["import", "back.jsonl"], second_url, tmp_path)
    assert await rows_of(second_url) == before

    # The two files differ only in when they were made.
    there = (tmp_path / "to-postgres.jsonl").read_text().splitlines()
    back = (tmp_path / "back.jsonl").read_text().splitlines()
    assert there[1:] == back[1:]
    assert json.loads(there[0])["tables"] == [table.name for table in tables()]

    # Both copies keep working: new ids follow the imported ones, search finds what moved.
    for url in (postgres_url, second_url):
        core = core_on(url)
        try:
            assert "Added the area Garioch." in await say(core, ANN, "area add Garioch")
            found = await say(core, CAT, "practice search interpreters")
            assert "Interpreters on enrolment day" in found
            assert "Shared practice #2" in await say(
                core, CAT, 'practice share "Cooking nights" Parents came #engagement'
            )
        finally:
            await core.store.close()


async def test_import_refuses_a_database_that_already_holds_data(database_url, tmp_path):
    await populate(database_url)
    before = await rows_of(database_url)
    partnerbot(["export", "backup.jsonl"], database_url, tmp_path)
    result = run(
        ["import", "backup.jsonl"], base_env(PARTNERBOT_DATABASE_URL=database_url), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "partnerbot: import failed: the database already holds data (areas: 2" in result.stderr
    assert "import into an empty database" in result.stderr
    assert await rows_of(database_url) == before


async def test_a_cut_short_backup_imports_nothing(tmp_path, sqlite_template):
    source = tmp_path / "source.db"
    source.write_bytes(sqlite_template)
    await populate(f"sqlite+aiosqlite:///{source}")
    partnerbot(["export", "backup.jsonl"], f"sqlite+aiosqlite:///{source}", tmp_path)
    lines = (tmp_path / "backup.jsonl").read_text().splitlines()
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    target = tmp_path / "target.db"
    target.write_bytes(sqlite_template)
    url = f"sqlite+aiosqlite:///{target}"
    result = run(["import", "cut.jsonl"], base_env(PARTNERBOT_DATABASE_URL=url), cwd=tmp_path)
    assert result.returncode == 1
    assert "the backup is cut short (no end line): nothing was imported" in result.stderr
    assert all(not rows for rows in (await rows_of(url)).values())
