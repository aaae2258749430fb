"""Delivery fan-out: one announcement to N members on Slack and Teams, through the real engine.

The members are in a real database (SQLite, or a fresh PostgreSQL database), each with a private
chat stored as if they had talked to the bot (a Slack DM channel id; a Teams personal-chat
ConversationReference). One announcement per member is queued in the outbox, then the real
Dispatcher (SystemClock, SlackSender over slack_sdk, TeamsSender over botbuilder's CloudAdapter)
runs ``run_once`` back to back until every row is sent, against fake platforms in a separate
process (bench/fakes.py) that enforce the documented limits and answer 429 when they are exceeded.

Reported: wall time; per platform the achieved rate as a fraction of what the limits allow; the
429s; this process's CPU time per message during the dispatch; and, in the same run, the CPU per
message of a baseline that makes the same HTTP sends with a bare aiohttp loop (no database, no
SDK), so the dispatcher's cost is also quoted as a ratio (the machines drift; PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy.engine import make_url

from bot.slack_blocks import render_blocks, render_fallback
from bot.teams_cards import render_activity
from config.settings import load_settings
from dialogs.outbox import Kind, ToMember, queue
from dialogs.views import Actions, Button, ButtonStyle, Facts, Heading, Paragraph, View
from scheduler.clock import SystemClock
from scheduler.delivery import Destination, Sender, Sent
from scheduler.dispatcher import Dispatcher, DispatchPolicy
from storage.db import create_engine, is_sqlite
from storage.migrate import upgrade
from storage.repositories import Store

SLACK_TEAM = "TBENCH"
SLACK_TOKEN = "xoxb-bench"
TEAMS_TENANT = "bench-tenant-0000"
TEAMS_BOT = {"id": "28:bench-partnerbot", "name": "partnerbot"}
TEAMS_APP_RATE = 50  # per second per app per tenant (the fake's TEAMS_PER_APP)
CHUNK = 500  # members registered / messages queued per transaction while setting up

ANNOUNCEMENT = View(
    "Marr partnership forum: Thursday 14:00, Room 2",
    (
        Heading("Partnership forum"),
        Paragraph(
            "The next forum is on Thursday. We will review the action plan and hear from the "
            "two new member organisations. Agenda and papers follow a week before."
        ),
        Facts((("When", "Thursday 12 March, 14:00-15:30"), ("Where", "Room 2, Marr House"))),
        Actions(
            (
                Button("I'll be there", "meeting rsvp 42 yes", ButtonStyle.PRIMARY),
                Button("Can't make it", "meeting rsvp 42 no"),
            )
        ),
    ),
)


def write(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# -- the fake platforms, in their own process -----------------------------------------------


@dataclass
class Fakes:
    url: str
    process: asyncio.subprocess.Process

    async def stats(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(f"{self.url}/stats") as response:
            return dict(await response.json())

    async def reset(self, session: aiohttp.ClientSession, *, enforce: bool) -> None:
        async with session.post(f"{self.url}/reset", json={"enforce": enforce}) as response:
            response.raise_for_status()


@asynccontextmanager
async def fake_platforms(slack_workspace_rate: int) -> AsyncIterator[Fakes]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fakes",
        "--slack-workspace-rate",
        str(slack_workspace_rate),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        if not line:
            raise RuntimeError("the fake platforms did not start")
        port = json.loads(line)["port"]
        yield Fakes(f"http://127.0.0.1:{port}", process)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), timeout=10)


# -- databases ------------------------------------------------------------------------------


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def sqlite_database() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="partnerbot-bench-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url


@asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database next to ``admin_url``'s, dropped afterwards."""
    import asyncpg

    name = f"partnerbot_bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


def teams_reference(service_url: str, index: int) -> dict[str, Any]:
    """What the bot stores when a member writes to it in their Teams personal chat."""
    return {
        "user": {"id": f"29:bench-user-{index}", "name": f"Member {index}"},
        "bot": TEAMS_BOT,
        "conversation": {
            "conversationType": "personal",
            "id": f"a:bench-personal-{index}",
            "tenantId": TEAMS_TENANT,
        },
        "channelId": "msteams",
        "locale": "en-GB",
        "serviceUrl": service_url,
    }


def platform_of(index: int, slack_share: float) -> str:
    """Interleaved evenly, so every claimed batch holds both platforms, as a real announcement
    to a mixed membership would."""
    return (
        "slack"
        if math.floor((index + 1) * slack_share) > math.floor(index * slack_share)
        else "teams"
    )


async def populate(
    store: Store, *, members: int, slack_share: float, teams_service_url: str, now: datetime
) -> dict[str, int]:
    """Register the members with a stored private chat each, and queue one announcement each."""
    counts = {"slack": 0, "teams": 0}
    for start in range(0, members, CHUNK):
        async with store.unit() as uow:
            for index in range(start, min(members, start + CHUNK)):
                where = platform_of(index, slack_share)
                counts[where] += 1
                if where == "slack":
                    member, identity = await uow.members.register(
                        platform="slack",
                        tenant_id=SLACK_TEAM,
                        user_id=f"UBENCH{index:05d}",
                        display_name=f"Member {index}",
                        now=now,
                    )
                    identity.dm_channel_id = f"DBENCH{index:05d}"
                else:
                    member, identity = await uow.members.register(
                        platform="teams",
                        tenant_id=TEAMS_TENANT,
                        user_id=f"29:bench-user-{index}",
                        display_name=f"Member {index}",
                        now=now,
                    )
                    reference = teams_reference(teams_service_url, index)
                    identity.conversation_reference = reference
                    identity.dm_channel_id = reference["conversation"]["id"]
                await queue(
                    uow,
                    key=f"bench:announcement:{member.id}",
                    kind=Kind.MEETING_ANNOUNCEMENT,
                    to=ToMember(member.id),
                    view=ANNOUNCEMENT,
                    due_at=now,
                    now=now,
                )
    return counts


# -- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cpu:
    user: float
    system: float

    @classmethod
    def now(cls) -> Cpu:
        usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
        return cls(usage.ru_utime, usage.ru_stime)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.user - other.user, self.system - other.system)

    @property
    def total(self) -> float:
        return self.user + self.system


@dataclass(frozen=True, slots=True)
class BaselineResult:
    messages: int
    seconds: float
    cpu: Cpu

    @property
    def cpu_per_message_ms(self) -> float:
        return 1000 * self.cpu.total / self.messages


async def baseline(fakes: Fakes, *, targets: dict[str, int], concurrency: int) -> BaselineResult:
    """The same sends as the dispatcher makes, by a bare aiohttp loop: one shared session, the
    message rendered once, JSON encoded per request and the JSON answer read. The fake's limits
    are off, so this is the client's cost of an HTTP send and nothing else."""
    blocks = render_blocks(ANNOUNCEMENT)
    fallback = render_fallback(ANNOUNCEMENT)
    activity = render_activity(ANNOUNCEMENT).serialize()
    headers = {"Authorization": f"Bearer {SLACK_TOKEN}"}
    semaphore = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await fakes.reset(session, enforce=False)

        async def slack(index: int) -> None:
            body = {
                "channel": f"DBENCH{index:05d}",
                "text": fallback,
                "blocks": blocks,
                "unfurl_links": False,
                "unfurl_media": False,
            }
            async with (
                semaphore,
                session.post(
                    f"{fakes.url}/slack/api/chat.postMessage", json=body, headers=headers
                ) as response,
            ):
                answer = await response.json()
                assert answer["ok"], answer

        async def teams(index: int) -> None:
            reference = teams_reference(fakes.url + "/teams", index)
            body = {
                **activity,
                "conversation": reference["conversation"],
                "from": reference["bot"],
                "recipient": reference["user"],
                "channelId": "msteams",
                "serviceUrl": reference["serviceUrl"],
            }
            url = f"{fakes.url}/teams/v3/conversations/{reference['conversation']['id']}/activities"
            async with semaphore, session.post(url, json=body) as response:
                answer = await response.json()
                assert "id" in answer, answer

        sends: list[Awaitable[None]] = [slack(i) for i in range(targets["slack"])]
        sends += [teams(i) for i in range(targets["teams"])]
        started, cpu = time.monotonic(), Cpu.now()
        async with asyncio.timeout(120):
            await asyncio.gather(*sends)
        result = BaselineResult(len(sends), time.monotonic() - started, Cpu.now() - cpu)
        stats = await fakes.stats(session)
        accepted = stats["slack"]["accepted"] + stats["teams"]["accepted"]
        assert accepted == len(sends), f"baseline: the fakes accepted {accepted} of {len(sends)}"
        await fakes.reset(session, enforce=True)
    return result


def build_senders(fakes: Fakes, database_url: str) -> dict[str, Sender]:
    """The senders the app builds (bot/delivery.py); an empty Teams app id sends without auth."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack_send import SlackSender
    from bot.teams_send import TeamsSender

    settings = load_settings({"PARTNERBOT_DATABASE_URL": database_url})
    return {
        "slack": SlackSender(AsyncWebClient(token=SLACK_TOKEN, base_url=fakes.url + "/slack/api/")),
        "teams": TeamsSender.from_settings(settings),
    }


async def senders_alone(
    fakes: Fakes, database_url: str, *, targets: dict[str, int], concurrency: int
) -> dict[str, BaselineResult]:
    """The real SlackSender and TeamsSender called in a loop: no database, no dispatcher, no
    pacing (the fake's limits are off). What the platform SDKs cost, apart from the engine."""
    senders = build_senders(fakes, database_url)
    destinations = [
        Destination(
            platform="slack",
            tenant_id=SLACK_TEAM,
            identity_id=index,
            user_id=f"UBENCH{index:05d}",
            dm_channel_id=f"DBENCH{index:05d}",
        )
        for index in range(targets["slack"])
    ]
    destinations += [
        Destination(
            platform="teams",
            tenant_id=TEAMS_TENANT,
            identity_id=index,
            user_id=f"29:bench-user-{index}",
            dm_channel_id=f"a:bench-personal-{index}",
            reference=teams_reference(fakes.url + "/teams", index),
        )
        for index in range(targets["teams"])
    ]
    semaphore = asyncio.Semaphore(concurrency)

    async def send(destination: Destination) -> None:
        async with semaphore:
            outcome = await senders[destination.platform].send(destination, ANNOUNCEMENT)
            assert isinstance(outcome, Sent), outcome

    results: dict[str, BaselineResult] = {}
    async with aiohttp.ClientSession() as session:
        await fakes.reset(session, enforce=False)
        for name in ("slack", "teams"):
            mine = [d for d in destinations if d.platform == name]
            if not mine:
                continue
            started, cpu = time.monotonic(), Cpu.now()
            async with asyncio.timeout(300):
                await asyncio.gather(*(send(d) for d in mine))
            results[name] = BaselineResult(len(mine), time.monotonic() - started, Cpu.now() - cpu)
        await fakes.reset(session, enforce=True)
    for sender in senders.values():
        await sender.close()
    return results


@dataclass
class DispatchResult:
    messages: dict[str, int]
    seconds: float
    cpu: Cpu
    runs: int
    idle_runs: int
    sent: int
    retried: int
    failed: int
    skipped: int
    rate_limited: int
    statuses: dict[str, int]
    fakes: dict[str, Any]
    fakes_cpu: float
    started_at: float  # time.monotonic(); CLOCK_MONOTONIC is system-wide, as the fakes' stamps
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    @property
    def cpu_per_message_ms(self) -> float:
        return 1000 * self.cpu.total / max(1, self.sent)


async def dispatch(
    fakes: Fakes,
    database_url: str,
    *,
    members: int,
    slack_share: float,
    batch: int,
    concurrency: int,
    deadline: float,
) -> DispatchResult:
    store = Store(create_engine(database_url))
    try:
        now = datetime.now(UTC)
        messages = await populate(
            store,
            members=members,
            slack_share=slack_share,
            teams_service_url=fakes.url + "/teams",
            now=now,
        )
        dispatcher = Dispatcher(
            store,
            build_senders(fakes, database_url),
            clock=SystemClock(),
            owner=f"bench:{os.getpid()}",
            single_process=is_sqlite(database_url),
            policy=DispatchPolicy(batch=batch, concurrency=concurrency),
        )
        total = sum(messages.values())
        done = runs = idle = 0
        sent = retried = failed = skipped = limited = 0
        errors: list[str] = []
        async with aiohttp.ClientSession() as session:
            await fakes.reset(session, enforce=True)
            fakes_cpu = (await fakes.stats(session))["cpu_seconds"]
            clock = SystemClock()
            started, cpu = time.monotonic(), Cpu.now()
            stop_at = started + deadline
            while done < total and time.monotonic() < stop_at:
                report = await dispatcher.run_once(clock.now())
                runs += 1
                sent += report.sent
                retried += report.retried
                failed += report.failed
                skipped += report.skipped
                limited += report.rate_limited
                errors += report.errors
                done += report.sent + report.failed + report.skipped
                if not report.claimed:
                    # Rows put back with a later next_attempt_at: wait for them, as the
                    # service's 2 s tick would (but sooner).
                    idle += 1
                    await asyncio.sleep(0.2)
            seconds, cpu = time.monotonic() - started, Cpu.now() - cpu
            stats = await fakes.stats(session)
        await dispatcher.release()
        await dispatcher.close()
        async with store.unit() as uow:
            statuses = await uow.outbox.counts()
        return DispatchResult(
            messages=messages,
            seconds=seconds,
            cpu=cpu,
            runs=runs,
            idle_runs=idle,
            sent=sent,
            retried=retried,
            failed=failed,
            skipped=skipped,
            rate_limited=limited,
            statuses=statuses,
            fakes=stats,
            fakes_cpu=stats["cpu_seconds"] - fakes_cpu,
            started_at=started,
            errors=errors[:5],
        )
    finally:
        await store.close()


def ideal_seconds(messages: int, rate: int) -> float:
    """The last of ``messages`` sends, at the earliest a 1 s sliding window of ``rate`` allows
    (``rate`` at t=0, ``rate`` more at t=1 s...), if every send took no time."""
    return max(0.0, math.ceil(messages / rate) - 1.0)


@dataclass(frozen=True, slots=True)
class PlatformRate:
    platform: str
    messages: int
    accepted: int
    refused: int
    refused_by: dict[str, int]
    seconds: float  # from the start of the dispatch to the last message the platform accepted
    limit: int  # messages per second the binding limit allows

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def fraction(self) -> float:
        """Time the limits alone need / time taken (1.0: as fast as the limits allow)."""
        return ideal_seconds(self.messages, self.limit) / self.seconds if self.seconds else 0.0


def platform_rates(result: DispatchResult, slack_workspace_rate: int) -> list[PlatformRate]:
    rates = []
    for name, limit in (("slack", slack_workspace_rate), ("teams", TEAMS_APP_RATE)):
        stats = result.fakes[name]
        last = stats["last_at"]
        rates.append(
            PlatformRate(
                platform=name,
                messages=result.messages[name],
                accepted=stats["accepted"],
                refused=stats["refused"],
                refused_by=stats["refused_by"],
                seconds=(last - result.started_at) if last is not None else 0.0,
                limit=limit,
            )
        )
    return rates


# -- the benchmark --------------------------------------------------------------------------


def report(
    label: str,
    result: DispatchResult,
    baselines: Sequence[BaselineResult],
    alone: dict[str, BaselineResult],
    slack_workspace_rate: int,
) -> None:
    base = sum(b.cpu_per_message_ms for b in baselines) / len(baselines)
    rates = platform_rates(result, slack_workspace_rate)
    ideal = max(ideal_seconds(r.messages, r.limit) for r in rates)
    write(f"## {label}: {result.total} messages ({result.messages})")
    write(
        f"wall {result.seconds:.1f} s (the limits alone need {ideal:.0f} s: "
        f"{ideal / result.seconds:.0%}); {result.runs} run_once calls ({result.idle_runs} idle)"
    )
    write(
        f"outbox: {result.statuses}; reports: sent {result.sent}, retried {result.retried}, "
        f"failed {result.failed}, skipped {result.skipped}, 429s seen {result.rate_limited}"
    )
    for r in rates:
        write(
            f"  {r.platform}: {r.accepted}/{r.messages} accepted, last at {r.seconds:.1f} s, "
            f"{r.rate:.1f} msg/s of {r.limit}/s allowed = {r.fraction:.0%}; "
            f"429s {r.refused} {r.refused_by or ''}"
        )
    write(
        f"dispatcher CPU {result.cpu.total:.2f} s (user {result.cpu.user:.2f}, "
        f"sys {result.cpu.system:.2f}) = {result.cpu_per_message_ms:.2f} ms/message = "
        f"{result.cpu_per_message_ms / base:.1f}x the bare loop's {base:.3f} ms; "
        f"{result.cpu.total / result.seconds:.0%} of a core; "
        f"fakes' CPU {result.fakes_cpu:.1f} s"
    )
    for name, only in alone.items():
        write(
            f"the {name} sender alone (no database, no pacing, limits off): "
            f"{only.cpu_per_message_ms:.2f} ms CPU/message = "
            f"{only.cpu_per_message_ms / base:.1f}x the bare loop; "
            f"{only.messages / only.seconds:.0f} msg/s"
        )
    mixed = sum(a.cpu.total for a in alone.values()) / max(
        1, sum(a.messages for a in alone.values())
    )
    write(
        f"so the engine (database, pacing, 429 handling) adds "
        f"{result.cpu_per_message_ms - 1000 * mixed:.2f} ms/message to the senders' "
        f"{1000 * mixed:.2f}"
    )
    if result.errors:
        write(f"first errors: {result.errors}")
    write()


async def run(args: argparse.Namespace) -> None:
    databases: list[tuple[str, Callable[[], Any]]] = [("SQLite", sqlite_database)]
    if args.postgres:
        databases.append(("PostgreSQL", lambda: postgres_database(args.postgres)))
    write(
        f"# fan-out: {args.members} members, batch {args.batch}, concurrency "
        f"{args.concurrency}, Slack workspace limit assumed {args.slack_workspace_rate}/s"
    )
    write(
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, command: python -m bench fanout "
        + " ".join(sys.argv[2:] if sys.argv[1:2] == ["fanout"] else sys.argv[1:])
    )
    write()
    async with fake_platforms(args.slack_workspace_rate) as fakes:
        targets = {
            "slack": sum(
                1 for i in range(args.members) if platform_of(i, args.slack_share) == "slack"
            ),
        }
        targets["teams"] = args.members - targets["slack"]
        for label, database in databases:
            async with database() as url:
                before = await baseline(fakes, targets=targets, concurrency=args.concurrency)
                alone = await senders_alone(
                    fakes, url, targets=targets, concurrency=args.concurrency
                )
                result = await dispatch(
                    fakes,
                    url,
                    members=args.members,
                    slack_share=args.slack_share,
                    batch=args.batch,
                    concurrency=args.concurrency,
                    deadline=args.deadline,
                )
                after = await baseline(fakes, targets=targets, concurrency=args.concurrency)
            write(
                f"baseline (bare aiohttp loop, {before.messages} POSTs, limits off): "
                f"{before.cpu_per_message_ms:.3f} ms CPU/message before, "
                f"{after.cpu_per_message_ms:.3f} after; {before.messages / before.seconds:.0f}/s"
            )
            report(label, result, (before, after), alone, args.slack_workspace_rate)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench fanout", description=__doc__)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument(
        "--slack-share", type=float, default=0.5, help="fraction of members on Slack"
    )
    parser.add_argument(
        "--slack-workspace-rate",
        type=int,
        default=10,
        help="assumed Slack workspace limit for chat.postMessage, per second (Slack publishes "
        "'several hundred messages per minute'; 10/s is 600/min)",
    )
    parser.add_argument("--batch", type=int, default=DispatchPolicy().batch)
    parser.add_argument("--concurrency", type=int, default=DispatchPolicy().concurrency)
    parser.add_argument(
        "--deadline", type=float, default=600.0, help="give up dispatching after this (s)"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PARTNERBOT_TEST_POSTGRES_URL", ""),
        help="also run on a fresh database on this server (default: $PARTNERBOT_TEST_POSTGRES_URL)",
    )
    return parser


def main(argv: Sequence[str]) -> None:
    asyncio.run(run(parser().parse_args(argv)))
