"""Practice search over N records (default 100,000) on SQLite and PostgreSQL, through the real
repository (``uow.practice.search``: FTS5 bm25 / tsvector + GIN ts_rank, top 10 with snippets).

The records are synthetic but shaped like the library: a title of 4-8 words and a body of 30-80
words drawn from a Zipf-like vocabulary (so there are rare, medium and common words), 1-3 tags
each, spread over six areas. Each query runs ``--runs`` times after a warm-up, one at a time, and
p50 / p99 latency is reported in milliseconds. PostgreSQL is used when
PARTNERBOT_BENCH_POSTGRES_URL (or PARTNERBOT_TEST_POSTGRES_URL) is set: a database is created for
the run and dropped after.
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

from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import Area, PracticeRecord, PracticeTag
from storage.practice import search_terms
from storage.repositories import Store

TAGS = ["engagement", "parents", "trauma", "language", "evaluation", "literacy", "schools"]
COMMON = [
    "learning",
    "parents",
    "families",
    "community",
    "support",
    "course",
    "partnership",
    "group",
]
MEDIUM = [
    "interpreter",
    "cooking",
    "mentoring",
    "enrolment",
    "wellbeing",
    "numeracy",
    "digital",
    "library",
]
RARE = ["zephyrine", "quillwort", "marramgrass"]
QUERIES = {
    "rare term": "zephyrine",
    "medium term": "interpreters",
    "two terms AND": "cooking parents",
    "common term (≈10% of rows)": "learning",
    "3-letter prefix": "men*",
    "medium term + tag filter": "mentoring",
}


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    syllables = [c + v for c in "bcdfghklmnprstvw" for v in "aeiou"]
    filler = sorted({"".join(rng.choices(syllables, k=3)) for _ in range(22_000)})[:20_000]
    words = COMMON + MEDIUM + filler
    # With about 55 words a row: each common word is in about 10% of rows, each medium word in
    # about 1%, each filler word in about 0.3%.
    weights = [40.0] * len(COMMON) + [4.0] * len(MEDIUM) + [1.0] * len(filler)
    return words, weights


def records(n: int, seed: int = 7) -> list[tuple[dict, list[str]]]:
    rng = random.Random(seed)
    words, weights = vocabulary(rng)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        title = " ".join(rng.choices(words, weights, k=rng.randint(4, 8)))
        body = rng.choices(words, weights, k=rng.randint(30, 80))
        if i % 40_000 == 0:
            body.append(RARE[0])
        tags = rng.sample(TAGS, rng.randint(1, 3))
        at = start + timedelta(minutes=i)
        rows.append(
            (
                {
                    "title": title.capitalize(),
                    "body": " ".join(body),
                    "kind": "story",
                    "tag_text": " ".join(tags),
                    "links": [],
                    "area_id": 1 + i % 6,
                    "status": "published",
                    "created_at": at,
                    "updated_at": at,
                    "published_at": at,
                },
                tags,
            )
        )
    return rows


async def fill(store: Store, n: int) -> float:
    began = time.perf_counter()
    async with store.unit() as uow:
        for number in range(6):
            uow.session.add(
                Area(name=f"Area {number}", key=f"area {number}", created_at=datetime.now(UTC))
            )
    data = records(n)
    for offset in range(0, n, 5000):
        chunk = data[offset : offset + 5000]
        async with store.unit() as uow:
            for index, (row, _) in enumerate(chunk, start=offset + 1):
                row["id"] = index
            await uow.session.execute(insert(PracticeRecord), [row for row, _ in chunk])
            await uow.session.execute(
                insert(PracticeTag),
                [{"record_id": row["id"], "tag": tag} for row, tags in chunk for tag in tags],
            )
    async with store.engine.begin() as connection:
        if store.engine.dialect.name == "postgresql":
            await connection.exec_driver_sql("ANALYZE")
            await connection.exec_driver_sql(
                "SELECT setval('practice_records_id_seq', (SELECT max(id) FROM practice_records))"
            )
        else:
            await connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - began


async def measure(store: Store, runs: int) -> dict[str, tuple[float, float, int]]:
    results = {}
    for label, words in QUERIES.items():
        tag = "trauma" if "tag" in label else None
        terms = search_terms(words)
        timings = []
        hits = 0
        for run in range(runs + 5):
            began = time.perf_counter()
            async with store.unit() as uow:
                found = await uow.practice.search(terms, tag=tag, limit=10)
            if run >= 5:
                timings.append((time.perf_counter() - began) * 1000)
            hits = len(found)
        timings.sort()
        p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
        results[label] = (statistics.median(timings), p99, hits)
    return results


async def run_sqlite(n: int, runs: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await asyncio.to_thread(upgrade, url)
        store = Store(create_engine(url))
        try:
            loaded = await fill(store, n)
            return loaded, await measure(store, runs)
        finally:
            await store.close()


async def run_postgres(base: str, n: int, runs: int) -> tuple[float, dict]:
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
            loaded = await fill(store, n)
            return loaded, await measure(store, runs)
        finally:
            await store.close()
    finally:
        connection = await asyncpg.connect(admin)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench search", description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    options = parser.parse_args(argv)
    postgres = os.environ.get("PARTNERBOT_BENCH_POSTGRES_URL") or os.environ.get(
        "PARTNERBOT_TEST_POSTGRES_URL", ""
    )
    results = {"SQLite FTS5 (porter, bm25)": asyncio.run(run_sqlite(options.records, options.runs))}
    if postgres:
        results["PostgreSQL (english tsvector, GIN, ts_rank)"] = asyncio.run(
            run_postgres(postgres, options.records, options.runs)
        )
    out = sys.stdout
    out.write(
        f"Practice search over {options.records:,} records, top 10 with snippets, "
        f"{options.runs} runs per query (CPython {platform.python_version()}).\n\n"
    )
    names = list(results)
    out.write("| query | " + " | ".join(f"{name} p50 / p99 ms (hits)" for name in names) + " |\n")
    out.write("|---|" + "---:|" * len(names) + "\n")
    for label in QUERIES:
        cells = []
        for name in names:
            p50, p99, hits = results[name][1][label]
            cells.append(f"{p50:.2f} / {p99:.2f} ({hits})")
        out.write(f"| {label} | " + " | ".join(cells) + " |\n")
    out.write(
        "\nLoading (insert + index): "
        + ", ".join(f"{name} {results[name][0]:.1f} s" for name in names)
        + "\n"
    )
