"""The database part of a turn, layer by layer: where a Teams ``help`` turn's database time goes.

On each database (an SQLite file; a fresh PostgreSQL database with ``--postgres`` or
PARTNERBOT_TEST_POSTGRES_URL, created and dropped here), 64 members are registered through the
real core, then 32 tasks at once make units of work, ``--turns`` per measurement, with this
process on one core. Each figure is the CPU time of this process per unit (the median of
``--runs``), and a ratio to the whole turn measured in the same run:

- ``turn``: ``Partnerbot.handle`` of ``help``, the whole core turn (no HTTP);
- ``ORM, the turn's statement``: ``Store.unit`` and ``MemberRepository.arrival`` only, what
  the turn asks of the database (the message's id recorded, the sender read);
- ``ORM, as two statements``: the same as ``first_time`` then ``sender`` (SQLite's way, and
  PostgreSQL's before the two became one);
- ``Core connection``: the same statements through an ``AsyncConnection``, no ORM session;
- ``driver`` (PostgreSQL): the same statement on the pooled asyncpg connection itself, with
  asyncpg's own transaction: the floor under SQLAlchemy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from bench.fanout import postgres_database, sqlite_database, write
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
from storage.repositories import _ARRIVAL, _FIRST_TIME, _SENDER, Store

MEMBERS = 64
CONCURRENT = 32


def message(index: int, text: str) -> IncomingMessage:
    user = PlatformUser(Platform.TEAMS, "tenant", f"29:turndb-{index}", f"Member {index}")
    chat = ConversationAddress(
        Platform.TEAMS, "tenant", f"a:chat-{index}", ConversationKind.PERSONAL
    )
    return IncomingMessage(user, chat, text, event_id=uuid.uuid4().hex)


async def cpu_per_unit(work: Callable[[int], Awaitable[None]], turns: int) -> float:
    """µs of this process's CPU per call of ``work``, CONCURRENT tasks at once."""

    async def task(number: int) -> None:
        for step in range(turns // CONCURRENT):
            await work(number * turns + step)

    started = time.process_time()
    await asyncio.gather(*(task(number) for number in range(CONCURRENT)))
    return 1e6 * (time.process_time() - started) / (turns // CONCURRENT * CONCURRENT)


def paths(core: Partnerbot) -> dict[str, Callable[[int], Awaitable[None]]]:
    store = core.store
    engine = store.engine
    dialect = engine.dialect.name
    now = datetime.now(UTC)

    def keys(index: int) -> dict[str, object]:
        return {
            "platform": Platform.TEAMS.value,
            "tenant_id": "tenant",
            "user_id": f"29:turndb-{index % MEMBERS}",
            "event_id": uuid.uuid4().hex,
            "received_at": now,
        }

    async def turn(index: int) -> None:
        await core.handle(message(index % MEMBERS, "help"))

    async def orm(index: int) -> None:
        async with store.unit() as uow:
            await uow.members.arrival(
                "teams",
                "tenant",
                f"29:turndb-{index % MEMBERS}",
                event_id=uuid.uuid4().hex,
                now=now,
            )

    async def orm_two(index: int) -> None:
        async with store.unit() as uow:
            await uow.inbound_events.first_time("teams", uuid.uuid4().hex, now=now)
            await uow.members.sender("teams", "tenant", f"29:turndb-{index % MEMBERS}")

    async def core_connection(index: int) -> None:
        async with engine.begin() as connection:
            if dialect == "postgresql":
                (await connection.execute(_ARRIVAL, keys(index))).one()
            else:
                await connection.execute(_FIRST_TIME[dialect], keys(index))
                (await connection.execute(_SENDER[dialect], keys(index))).first()

    found = {
        "turn": turn,
        "ORM, the turn's statement": orm,
        "ORM, as two statements": orm_two,
        "Core connection": core_connection,
    }
    if dialect == "postgresql":
        compiled = _ARRIVAL.compile(dialect=engine.dialect)
        sql, order = compiled.string, compiled.positiontup or ()

        async def driver(index: int) -> None:
            async with engine.connect() as connection:
                raw = (await connection.get_raw_connection()).driver_connection
                values = keys(index)
                async with raw.transaction():
                    await raw.fetchrow(sql, *(values[name] for name in order))

        found["driver"] = driver
    return found


async def measure(label: str, url: str, args: argparse.Namespace) -> None:
    core = Partnerbot(Store(create_engine(url)), Partnership(frameworks={}))
    try:
        for index in range(MEMBERS):
            await core.handle(message(index, "me"))
        found = paths(core)
        figures: dict[str, list[float]] = {name: [] for name in found}
        for work in found.values():
            await cpu_per_unit(work, CONCURRENT * 10)  # warm: statement caches, the pool
        for _ in range(args.runs):
            for name, work in found.items():  # interleaved, so a slower moment hits them all
                figures[name].append(await cpu_per_unit(work, args.turns))
        turn = statistics.median(figures["turn"])
        write(f"{label}:")
        write("| unit of work | CPU µs | of the turn |")
        write("|---|---:|---:|")
        for name, values in figures.items():
            value = statistics.median(values)
            write(f"| {name} | {value:,.0f} | {100 * value / turn:.0f}% |")
        write()
    finally:
        await core.store.close()


async def run(args: argparse.Namespace) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    write(
        f"# the database part of a turn: {CONCURRENT} at once, {args.turns} units per figure, "
        f"median of {args.runs}; nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}"
    )
    async with sqlite_database() as url:
        await measure("SQLite", url, args)
    if args.postgres:
        async with postgres_database(args.postgres) as url:
            await measure("PostgreSQL", url, args)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench turndb", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--postgres", default=os.environ.get("PARTNERBOT_TEST_POSTGRES_URL"))
    return parser


def main(argv: Sequence[str]) -> None:
    asyncio.run(run(parser().parse_args(argv)))
