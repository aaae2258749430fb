"""Slack acks while a report runs: ``checkin report`` over a 100,000-answer history, and other
members' ``/partner help`` acked meanwhile.

The history is bench/report.py's builder (``fill``: 200 members in six areas, twelve QI 3.2
questions, 42 cycles, 100,800 answers; the newest cycle open), in a fresh SQLite file (and a
fresh PostgreSQL database with ``--postgres`` or ``PARTNERBOT_TEST_POSTGRES_URL``). The real
``partnerbot serve`` runs on core 1 with the loopback platforms (bench/loopback.py) on core 0. A
coordinator (in ``PARTNERBOT_ADMINS``) sends ``/partner checkin report`` ``--reports`` times, one
after the other's reply has reached its response_url; throughout, a probe on core 0 sends signed
``/partner help`` from 16 other members, 4 at a time, and times each ack (the HTTP answer).

Reported: the probe's acks before any report (idle) and while reports run (p50, p99, max, and
how many took over 3 s, Slack's limit), the report command's own ack, and the time from the
command to its reply.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import aiohttp

from bench.fanout import postgres_database, sqlite_database
from bench.throughput import (
    Loopback,
    free_port,
    loopback,
    serve_argv,
    server,
    slack_command_body,
    slack_signature,
    write,
)
from bench.throughput import bot_env as throughput_env
from storage.db import create_engine
from storage.repositories import Store

COORDINATOR_INDEX = 9999
PROBE_MEMBERS = 16
PROBE_CONCURRENCY = 4


def coordinator_id() -> str:
    return f"UBENCH{COORDINATOR_INDEX:04d}"


async def command(
    session: aiohttp.ClientSession, url: str, fake: Loopback, index: int, text: str
) -> float:
    """Send one signed slash command; seconds until its ack."""
    body = slack_command_body(fake.url, index, text)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(body, timestamp),
    }
    started = time.perf_counter()
    async with session.post(url + "/slack/events", data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{text!r}: HTTP {response.status}")
    return time.perf_counter() - started


async def probe(
    session: aiohttp.ClientSession, url: str, fake: Loopback, stop: asyncio.Event
) -> list[float]:
    acks: list[float] = []
    counter = 0

    async def one_worker() -> None:
        nonlocal counter
        while not stop.is_set():
            counter += 1
            acks.append(await command(session, url, fake, counter % PROBE_MEMBERS, "help"))
            await asyncio.sleep(0.02)

    await asyncio.gather(*(one_worker() for _ in range(PROBE_CONCURRENCY)))
    return acks


def summary(label: str, acks: Sequence[float]) -> str:
    if not acks:
        return f"{label}: no acks"
    ordered = sorted(acks)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    late = sum(1 for a in acks if a > 3.0)
    return (
        f"{label}: {len(acks)} acks, p50 {1000 * statistics.median(acks):.1f} ms, "
        f"p99 {1000 * p99:.1f} ms, max {1000 * max(acks):.1f} ms, over 3 s: {late}"
    )


async def one_database(args: argparse.Namespace, fake: Loopback, label: str, url: str) -> None:
    try:
        from bench.report import fill
    except ImportError:
        raise SystemExit("bench/report.py (its history builder, fill) is needed") from None

    store = Store(create_engine(url))
    try:
        answers, seconds = await fill(store, args.answers)
    finally:
        await store.close()
    write(f"{label}: {answers:,} answers built in {seconds:.1f} s")
    port = free_port()
    env = {**throughput_env(url, fake, port), "PARTNERBOT_ADMINS": coordinator_id()}
    async with (
        server(f"slowack-{label}", serve_argv(port), env=env, port=port) as target,
        aiohttp.ClientSession() as session,
    ):
        # Register the coordinator and warm the probe's members up.
        await command(session, target.url, fake, COORDINATOR_INDEX, "me")
        for index in range(PROBE_MEMBERS):
            await command(session, target.url, fake, index, "help")
        await asyncio.sleep(1.0)

        stop = asyncio.Event()
        idle = asyncio.create_task(probe(session, target.url, fake, stop))
        await asyncio.sleep(args.idle_seconds)
        stop.set()
        write("  " + summary("probe, no report running", await idle))

        stop = asyncio.Event()
        busy = asyncio.create_task(probe(session, target.url, fake, stop))
        report_acks, report_replies = [], []
        name = f"respond:{COORDINATOR_INDEX}"
        for _ in range(args.reports):
            before = (await fake.stats()).get(name, 0)
            started = time.perf_counter()
            report_acks.append(
                await command(session, target.url, fake, COORDINATOR_INDEX, "checkin report")
            )
            while (await fake.stats()).get(name, 0) == before:
                if time.perf_counter() - started > 300:
                    raise RuntimeError("no report within 300 s")
                await asyncio.sleep(0.05)
            report_replies.append(time.perf_counter() - started)
        stop.set()
        write("  " + summary("probe, reports running", await busy))
        write(
            "  checkin report: acks "
            + ", ".join(f"{1000 * a:.1f} ms" for a in report_acks)
            + "; reply after "
            + ", ".join(f"{r:.2f} s" for r in report_replies)
        )


async def run(args: argparse.Namespace) -> None:
    write(
        f"# Slack acks during reports: {args.answers:,} answers, {args.reports} reports, probe "
        f"{PROBE_CONCURRENCY} at a time from {PROBE_MEMBERS} members"
    )
    write(
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}"
    )
    async with loopback() as fake:
        async with sqlite_database() as url:
            await one_database(args, fake, "SQLite", url)
        if args.postgres:
            async with postgres_database(args.postgres) as url:
                await one_database(args, fake, "PostgreSQL", url)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench slowack", description=__doc__)
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--reports", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PARTNERBOT_TEST_POSTGRES_URL", ""),
        help="also run on a fresh database on this server (default: $PARTNERBOT_TEST_POSTGRES_URL)",
    )
    return parser


def main(argv: Sequence[str]) -> None:
    asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
