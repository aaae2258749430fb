"""Practice search: the same queries give the same top results on SQLite (FTS5, porter) and
PostgreSQL (english tsvector, GIN) - every test here runs on both."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.db import create_engine
from storage.models import PracticeRecord
from storage.practice import PUBLISHED, WITHDRAWN, search_terms
from storage.repositories import Store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

LIBRARY = [
    # (title, body, tags, area)
    (
        "Engaging parents through family cooking nights",
        "Parents who had never come to a class came to cook with their children; we talked "
        "about courses over dinner.",
        ["engagement", "parents"],
        "Marr",
    ),
    (
        "Trauma-informed welcome at the front desk",
        "Staff trained in trauma awareness changed how the first conversation goes for parents "
        "affected by family violence.",
        ["family-violence", "trauma"],
        "Formartine",
    ),
    (
        "Interpreters for enrolment days",
        "Booking interpreters removed language barriers for refugee families enrolling their "
        "children.",
        ["language", "culture"],
        "Marr",
    ),
    (
        "Adult learning principles in two pages",
        "A short guide to adult learning: learners bring experience, want relevance, and "
        "engage when they set their own goals.",
        ["adult-learning", "engagement"],
        None,
    ),
    (
        "Peer mentors from recovery groups",
        "Mentors with lived experience of drug and alcohol addiction supported learners back "
        "into education.",
        ["drug-alcohol"],
        "Formartine",
    ),
    (
        "Evaluation evidence from learner stories",
        "We collected learner stories as evidence of impact for the partnership evaluation.",
        ["evaluation"],
        "Marr",
    ),
]


async def load(store: Store, rows: Sequence[tuple[str, str, list[str], str | None]]) -> dict:
    """Publish the records, an hour apart; title -> id."""
    ids: dict[str, int] = {}
    async with store.unit() as uow:
        areas = {name: await uow.areas.add(name, now=NOW) for name in ("Marr", "Formartine")}
        for number, (title, body, tags, area) in enumerate(rows):
            at = NOW + timedelta(hours=number)
            record = await uow.practice.add(
                PracticeRecord(
                    title=title,
                    body=body,
                    kind="story",
                    links=[],
                    area_id=areas[area].id if area else None,
                    status=PUBLISHED,
                    created_at=at,
                    updated_at=at,
                    published_at=at,
                )
            )
            await uow.practice.set_tags(record, tags)
            ids[title] = record.id
    return ids


@pytest.fixture
async def library(store) -> dict[str, int]:
    """The records above, published an hour apart; title -> id."""
    return await load(store, LIBRARY)


async def titles(store, words: str, **filters) -> list[str]:
    async with store.unit() as uow:
        if "area" in filters:
            area = await uow.areas.by_name(filters.pop("area"))
            filters["area_id"] = area.id
        hits = await uow.practice.search(search_terms(words), **filters)
        return [hit.record.title for hit in hits]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        # Stemming: "engagement", "engaging", "engage" are one word on both databases.
        (
            "engagement",
            [
                "Engaging parents through family cooking nights",
                "Adult learning principles in two pages",
            ],
        ),
        ("parent", ["Engaging parents through family cooking nights"]),
        ("interpreter", ["Interpreters for enrolment days"]),
        # Every word must match; stop words are dropped on both.
        ("the language of barriers", ["Interpreters for enrolment days"]),
        ("addictions alcohol", ["Peer mentors from recovery groups"]),
        ("learners stories", ["Evaluation evidence from learner stories"]),
        # A prefix.
        ("evalu*", ["Evaluation evidence from learner stories"]),
        ("nothing-like-this", []),
    ],
)
async def test_the_same_words_find_the_same_records_first(store, library, words, expected):
    found = await titles(store, words)
    assert found[: len(expected)] == expected
    if not expected:
        assert found == []


async def test_a_title_match_ranks_above_a_body_match(store, library):
    found = await titles(store, "trauma")
    assert found == ["Trauma-informed welcome at the front desk"]

    # "parents" is in the title of one record and the body of another.
    found = await titles(store, "parents")
    assert found[0] == "Engaging parents through family cooking nights"
    assert "Trauma-informed welcome at the front desk" in found


async def test_filters_by_tag_and_area(store, library):
    assert await titles(store, "learners", tag="drug-alcohol") == [
        "Peer mentors from recovery groups"
    ]
    assert await titles(store, "parents", area="Formartine") == [
        "Trauma-informed welcome at the front desk"
    ]


async def test_snippets_mark_the_matched_words(store, library):
    async with store.unit() as uow:
        [hit] = await uow.practice.search(search_terms("interpreters"))
    assert "«Booking» «interpreters»" not in hit.snippet
    assert "«interpreters»" in hit.snippet
    assert hit.snippet.startswith("Booking")


async def test_withdrawn_and_edited_records_are_searched_as_they_are_now(store, library):
    async with store.unit() as uow:
        record = await uow.practice.get(library["Interpreters for enrolment days"])
        record.status = WITHDRAWN
        cooking = await uow.practice.get(library["Engaging parents through family cooking nights"])
        cooking.body = "Family cooking nights with a bilingual chef."
        await uow.practice.set_tags(cooking, ["engagement", "language"])

    assert await titles(store, "interpreters") == []
    assert await titles(store, "bilingual") == ["Engaging parents through family cooking nights"]
    assert await titles(store, "dinner") == []
    assert await titles(store, "language", tag="language") == [
        "Engaging parents through family cooking nights"
    ]


async def test_what_a_member_types_cannot_break_the_query(store, library):
    for words in ['"unclosed', "NEAR(a b)", "a OR b AND", "x:* | !y", "'; DROP TABLE x; --"]:
        await titles(store, words)
    async with store.unit() as uow:
        assert await uow.session.scalar(text("SELECT count(*) FROM practice_records")) == 6


def test_search_terms_drop_stop_words_and_keep_prefixes():
    assert [(t.word, t.prefix) for t in search_terms("The FAMILY, and famil* of it")] == [
        ("family", False),
        ("famil", True),
    ]


# -- the same answers from both engines ------------------------------------------------------

SUBJECTS = [
    "parents",
    "family learning",
    "trauma",
    "family violence",
    "language barriers",
    "interpreters",
    "adult learning principles",
    "drug and alcohol recovery",
    "school transitions",
    "evaluation evidence",
    "volunteers",
    "digital skills",
]
WAYS = [
    "a drop-in at the school gate",
    "cooking nights",
    "peer mentors",
    "a short guide",
    "learner stories",
    "home visits",
    "a community cafe",
    "taster sessions",
]


def generated_library(count: int) -> list[tuple[str, str, list[str], str | None]]:
    """Records written the way members write them, from a fixed seed: titles and stories
    mixing the partnership's subjects, so words recur with different weights."""
    chance = random.Random(20260302)
    rows: list[tuple[str, str, list[str], str | None]] = []
    for number in range(count):
        subject, other = chance.sample(SUBJECTS, 2)
        way = chance.choice(WAYS)
        title = f"{subject.capitalize()} through {way} ({number})"
        body = (
            f"We tried {way} for {subject}. "
            + " ".join(chance.sample([*SUBJECTS, *WAYS], chance.randint(2, 6)))
            + f". Next we will look at {other}, and share what worked with partners."
        )
        tags = sorted({subject.split()[0], other.split()[0]})
        rows.append((title, body, tags, chance.choice(["Marr", "Formartine", None])))
    return rows


CROSS_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("parents", {}),
    ("engagement", {}),
    ("family learning", {}),
    ("trauma", {}),
    ("violence", {}),
    ("language barriers", {}),
    ("interpreter", {}),
    ("adult learning", {}),
    ("recovery alcohol", {}),
    ("school gate", {}),
    ("evalu*", {}),
    ("mentors", {}),
    ("learner stories", {}),
    ("cooking", {"area": "Marr"}),
    ("volunteers", {"tag": "digital"}),
    ("the skills of volunteers", {"area": "Formartine"}),
    ("nothing-like-this", {}),
]
TOP = 5


@pytest.fixture
async def both_engines(
    tmp_path: Any, sqlite_template: bytes, postgres: Any
) -> AsyncIterator[dict[str, Store]]:
    """One SQLite and one PostgreSQL database, both migrated and empty, side by side."""
    if postgres is None:
        pytest.skip("PARTNERBOT_TEST_POSTGRES_URL is not set")
    path = tmp_path / "partnerbot.db"
    path.write_bytes(sqlite_template)
    url = await postgres.fresh()
    stores = {
        "sqlite": Store(create_engine(f"sqlite+aiosqlite:///{path}")),
        "postgres": Store(create_engine(url)),
    }
    yield stores
    for store in stores.values():
        await store.close()
    await postgres.drop(make_url(url).database or "")


async def ranked_ids(store: Store, words: str, filters: dict[str, Any]) -> list[int]:
    async with store.unit() as uow:
        options = dict(filters)
        if "area" in options:
            options["area_id"] = (await uow.areas.by_name(options.pop("area"))).id
        hits = await uow.practice.search(search_terms(words), limit=50, **options)
        return [hit.record.id for hit in hits]


@pytest.mark.postgres
async def test_sqlite_and_postgresql_give_the_same_top_results(both_engines):
    rows = [*LIBRARY, *generated_library(120)]
    ids = {name: await load(store, rows) for name, store in both_engines.items()}
    assert ids["sqlite"] == ids["postgres"]  # the same records under the same ids

    found_something = 0
    for words, filters in CROSS_QUERIES:
        sqlite = await ranked_ids(both_engines["sqlite"], words, filters)
        postgres = await ranked_ids(both_engines["postgres"], words, filters)
        # The same records match (stemming, stop words, prefixes, filters) ...
        assert set(sqlite) == set(postgres), (words, filters)
        # ... and the same ones come first.
        assert sqlite[:TOP] == postgres[:TOP], (words, filters)
        found_something += bool(sqlite)
    assert found_something == len(CROSS_QUERIES) - 1  # all but the nonsense word
