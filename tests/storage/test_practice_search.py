"""Practice search: the same queries give the same top results on SQLite (FTS5, porter) and
PostgreSQL (english tsvector, GIN) - every test here runs on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from storage.models import PracticeRecord
from storage.practice import PUBLISHED, WITHDRAWN, search_terms

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


@pytest.fixture
async def library(store) -> dict[str, int]:
    """The records above, published an hour apart; title -> id."""
    ids: dict[str, int] = {}
    async with store.unit() as uow:
        areas = {name: await uow.areas.add(name, now=NOW) for name in ("Marr", "Formartine")}
        for number, (title, body, tags, area) in enumerate(LIBRARY):
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
