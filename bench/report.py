"""Check-in reports over a long history: 200 members in six areas answering all twelve QI 3.2
questions in every cycle, for enough cycles to hold ``--answers`` answers (default 100,000: 42
cycles, 100,800 answers), on SQLite and PostgreSQL.

The history is bulk-inserted (areas, organisations, members, cycles, participants, answers with
one to three sentences of reflection, some prompts left empty); the newest cycle is open, so the
report compares it with the one before. Then, through the real core as a coordinator in a
private chat (``Partnerbot.handle``, the same call the Teams and Slack edges make), each command
runs ``--runs`` times after a warm-up: ``checkin status`` (the response-rate view), ``checkin
report`` (the chat view with its chart), and the Markdown, CSV and Word exports. The baseline,
in the same run, is ``help`` through the same core: every figure is also a multiple of it.
PostgreSQL is used when PARTNERBOT_BENCH_POSTGRES_URL (or PARTNERBOT_TEST_POSTGRES_URL) is set: a
database is created for the run and dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from config.frameworks import load_frameworks
from dialogs.core import Partnerbot
from dialogs.messages import (
    ConversationAddress,
    ConversationKind,
    IncomingMessage,
    Platform,
    PlatformUser,
)
from dialogs.turn import Partnership
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import Area, Cycle, CycleArea, Member, Organisation, Participant, Response
from storage.repositories import Store

MEMBERS = 200
AREAS = ("Marr", "Formartine", "Banff and Buchan", "Buchan", "Garioch", "Kincardine and Mearns")
QUESTIONS = list(range(1, 13))
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SENTENCES = (
    "Joint planning has started as part of reimagining the partnerships.",
    "Partners share resources and refer learners to each other.",
    "Eighteen partners came to the introductory session.",
    "We need a common framework for planning and evaluation.",
    "Communication between meetings could be better.",
    "Local settings rely on partnerships to reach people.",
    "Bring partners together at area level and in each community.",
    "Evaluation forms show learners' confidence has grown.",
)
COMMANDS = {
    "help (baseline)": "help",
    "checkin status": "checkin status",
    "checkin report (chat, chart)": "checkin report",
    "checkin report format=md": "checkin report format=md",
    "checkin report format=csv": "checkin report format=csv",
    "checkin report format=docx": "checkin report format=docx",
}
CORA = PlatformUser(Platform.SLACK, "T1", "UCORA", "Cora")
CORA_DM = ConversationAddress(Platform.SLACK, "T1", "DCORA", ConversationKind.PERSONAL)


def _texts(rng: random.Random) -> dict[str, str]:
    texts = {}
    for key in ("working_well", "evidence", "priorities"):
        if rng.random() < 0.7:
            texts[key] = " ".join(rng.sample(SENTENCES, rng.randint(1, 3)))
    return texts


async def fill(store: Store, answers: int, seed: int = 3) -> tuple[int, float]:
    """The history; returns the number of answers inserted and the seconds it took."""
    rng = random.Random(seed)
    began = time.perf_counter()
    cycles = max(2, -(-answers // (MEMBERS * len(QUESTIONS))))
    async with store.unit() as uow:
        for n, name in enumerate(AREAS, start=1):
            uow.session.add(Area(id=n, name=name, key=name.casefold(), created_at=NOW))
        for n in range(1, 13):
            uow.session.add(
                Organisation(
                    id=n, name=f"Partner {n}", key=f"partner {n}", is_current=True, created_at=NOW
                )
            )
        await uow.session.flush()
        await uow.session.execute(
            insert(Member),
            [
                {
                    "id": 1000 + m,
                    "display_name": f"Member {m}",
                    "area_id": m % len(AREAS) + 1,
                    "organisation_id": m % 12 + 1,
                    "created_at": NOW,
                }
                for m in range(MEMBERS)
            ],
        )
    inserted = 0
    for c in range(1, cycles + 1):
        opened = NOW - timedelta(days=90 * (cycles - c))
        latest = c == cycles
        async with store.unit() as uow:
            await uow.session.execute(
                insert(Cycle),
                [
                    {
                        "id": c,
                        "framework_key": "qi-3.2",
                        "questions": QUESTIONS,
                        "anonymous": False,
                        "min_respondents": 5,
                        "opened_at": opened,
                        "closes_at": opened + timedelta(days=28),
                        "closed_at": None if latest else opened + timedelta(days=28),
                        "status": "open" if latest else "closed",
                    }
                ],
            )
            await uow.session.execute(
                insert(CycleArea), [{"cycle_id": c, "area_id": a} for a in range(1, 7)]
            )
            await uow.session.execute(
                insert(Participant),
                [
                    {
                        "cycle_id": c,
                        "member_id": 1000 + m,
                        "area_id": m % len(AREAS) + 1,
                        "answered": QUESTIONS,
                        "status": "done",
                        "invited_at": opened,
                    }
                    for m in range(MEMBERS)
                ],
            )
            rows = [
                {
                    "cycle_id": c,
                    "member_id": 1000 + m,
                    "area_id": m % len(AREAS) + 1,
                    "question": q,
                    "rating": rng.randint(1, 6),
                    "texts": _texts(rng),
                    "skipped": False,
                    "created_at": opened,
                    "updated_at": opened,
                }
                for m in range(MEMBERS)
                for q in QUESTIONS
            ]
            await uow.session.execute(insert(Response), rows)
            inserted += len(rows)
    async with store.engine.begin() as connection:
        if store.engine.dialect.name == "postgresql":
            for table, column in (
                ("areas", "id"),
                ("organisations", "id"),
                ("members", "id"),
                ("cycles", "id"),
                ("responses", "id"),
            ):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"(SELECT max({column}) FROM {table}))"
                )
        await connection.exec_driver_sql("ANALYZE")
    return inserted, time.perf_counter() - began


async def measure(store: Store, runs: int) -> dict[str, tuple[float, float]]:
    core = Partnerbot(
        store,
        Partnership(frameworks=load_frameworks(), first_contact_becomes_coordinator=True),
        clock=lambda: NOW + timedelta(days=1),
    )

    async def say(text: str) -> str:
        replies = await core.handle(IncomingMessage(CORA, CORA_DM, text))
        return " ".join(reply.view.summary for reply in replies)

    first = await say("me")  # Cora arrives first: the coordinator
    assert "coordinator" in first, first
    results = {}
    for label, text in COMMANDS.items():
        answer = await say(text)  # warm-up, and a check that it did what it says
        assert "Sorry" not in answer, (text, answer)
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            await say(text)
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
        results[label] = (statistics.median(times), p99)
    return results


async def run_sqlite(answers: int, runs: int) -> tuple[int, float, dict]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        store = Store(create_engine(url))
        try:
            inserted, loaded = await fill(store, answers)
            return inserted, loaded, await measure(store, runs)
        finally:
            await store.close()


async def run_postgres(base: str, answers: int, runs: int) -> tuple[int, float, dict]:
    name = f"partnerbot_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(base).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        store = Store(create_engine(url))
        try:
            inserted, loaded = await fill(store, answers)
            return inserted, loaded, await measure(store, runs)
        finally:
            await store.close()
    finally:
        connection = await asyncpg.connect(admin)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def _table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    databases = list(results)
    lines = [
        "| command | " + " | ".join(f"{d} p50 / p99 ms (x help)" for d in databases) + " |",
        "|---|" + "---:|" * len(databases),
    ]
    for label in COMMANDS:
        cells = []
        for database in databases:
            p50, p99 = results[database][label]
            base = results[database]["help (baseline)"][0]
            cells.append(f"{p50:.1f} / {p99:.1f} ({p50 / base:.0f}x)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench report", description=__doc__)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args(argv)
    postgres = os.environ.get("PARTNERBOT_BENCH_POSTGRES_URL") or os.environ.get(
        "PARTNERBOT_TEST_POSTGRES_URL", ""
    )
    out = sys.stdout
    out.write(
        f"# check-in report over >= {options.answers:,} answers, {options.runs} runs each\n"
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
    )
    results = {}
    inserted, loaded, results["SQLite"] = asyncio.run(run_sqlite(options.answers, options.runs))
    out.write(f"SQLite: {inserted:,} answers loaded in {loaded:.1f} s\n")
    if postgres:
        inserted, loaded, results["PostgreSQL"] = asyncio.run(
            run_postgres(postgres, options.answers, options.runs)
        )
        out.write(f"PostgreSQL: {inserted:,} answers loaded in {loaded:.1f} s\n")
    out.write(_table(results) + "\n")
