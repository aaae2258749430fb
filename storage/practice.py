"""The practice library: records, their tags, the tag vocabulary, and full-text search.

Search behaves the same on both databases: the words are stemmed the English way (SQLite FTS5's
``porter`` tokenizer, PostgreSQL's ``english`` configuration), every word must match (a trailing
``*`` matches a prefix), English stop words are dropped before either database sees them
(PostgreSQL would drop them, FTS5 would demand them), and the ranking is the same on both: first
the records with a word in the title, then those with one in the tags, then the rest, each newest
first. (FTS5's ``bm25`` and PostgreSQL's ``ts_rank`` weigh word counts differently, so ranking by
either would put different records first on the two databases; whether a word is in a field is
asked of both the same way: FTS5 ``bm25`` with only that column weighted, tsvector weights A and
B in the query.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Meeting, Member, PracticeRecord, PracticeTag, PracticeTagName

DRAFT = "draft"
PUBLISHED = "published"
WITHDRAWN = "withdrawn"

# Marks around the matched words in a snippet: not markup on any platform, so the renderers
# show them as they are, and a member's own text cannot fake a highlight that breaks a card.
MARK_START, MARK_END, ELLIPSIS = "«", "»", "…"

# Title, body, tags: the column order of the practice_fts table. bm25 is below zero when a
# word matches in a column weighted above zero, and zero when none does.
SQLITE_IN_TITLE = "bm25(practice_fts, 1.0, 0.0, 0.0) < 0"
SQLITE_IN_TAGS = "bm25(practice_fts, 0.0, 0.0, 1.0) < 0"

# PostgreSQL's english.stop (Snowball): dropped from every query on both databases.
STOP_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
    ]
)
_WORD = re.compile(r"[^\W_]+(\*)?")


def is_search_object(name: str | None) -> bool:
    """The full-text machinery that lives outside the models (the FTS5 table, its shadow tables,
    PostgreSQL's generated ``search_vector`` column and its GIN index): schema comparisons leave
    these out."""
    return bool(name) and (
        name.startswith("practice_fts") or name in ("ix_practice_records_search", "search_vector")
    )


@dataclass(frozen=True, slots=True)
class Term:
    word: str
    prefix: bool = False


def search_terms(words: str) -> tuple[Term, ...]:
    """The words of a query, lower-cased, without stop words; ``word*`` asks for a prefix."""
    terms: list[Term] = []
    for match in _WORD.finditer(words.casefold()):
        word = match.group(0).rstrip("*")
        prefix = match.group(1) is not None
        if (word in STOP_WORDS and not prefix) or not word or Term(word, prefix) in terms:
            continue
        terms.append(Term(word, prefix))
    return tuple(terms)


@dataclass(frozen=True, slots=True)
class Hit:
    record: PracticeRecord
    snippet: str


class PracticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: PracticeRecord) -> PracticeRecord:
        self._session.add(record)
        await self._session.flush()
        return record

    async def get(self, record_id: int) -> PracticeRecord | None:
        return await self._session.get(PracticeRecord, record_id)

    async def set_tags(self, record: PracticeRecord, tags: Sequence[str]) -> None:
        await self._session.execute(delete(PracticeTag).where(PracticeTag.record_id == record.id))
        self._session.add_all(PracticeTag(record_id=record.id, tag=tag) for tag in tags)
        record.tag_text = " ".join(tags)
        await self._session.flush()

    async def tags_of(self, record_ids: Sequence[int]) -> dict[int, list[str]]:
        if not record_ids:
            return {}
        rows = await self._session.execute(
            select(PracticeTag.record_id, PracticeTag.tag)
            .where(PracticeTag.record_id.in_(record_ids))
            .order_by(PracticeTag.record_id, PracticeTag.tag)
        )
        found: dict[int, list[str]] = {record_id: [] for record_id in record_ids}
        for record_id, tag in rows:
            found[record_id].append(tag)
        return found

    async def authors_of(self, records: Sequence[PracticeRecord]) -> dict[int, str]:
        """Member id -> display name, for the authors of ``records``."""
        ids = {record.author_id for record in records if record.author_id is not None}
        if not ids:
            return {}
        rows = await self._session.execute(
            select(Member.id, Member.display_name).where(Member.id.in_(ids))
        )
        return {member_id: name for member_id, name in rows}

    async def recent(self, *, limit: int = 10) -> list[PracticeRecord]:
        result = await self._session.scalars(
            select(PracticeRecord)
            .where(PracticeRecord.status == PUBLISHED)
            .order_by(PracticeRecord.published_at.desc(), PracticeRecord.id.desc())
            .limit(limit)
        )
        return list(result)

    async def with_tag(self, tag: str, *, limit: int = 20) -> list[PracticeRecord]:
        result = await self._session.scalars(
            select(PracticeRecord)
            .join(PracticeTag, PracticeTag.record_id == PracticeRecord.id)
            .where(PracticeTag.tag == tag, PracticeRecord.status == PUBLISHED)
            .order_by(PracticeRecord.published_at.desc(), PracticeRecord.id.desc())
            .limit(limit)
        )
        return list(result)

    async def tag_counts(self) -> dict[str, int]:
        """Each tag in use on a published record, with how many records carry it."""
        rows = await self._session.execute(
            select(PracticeTag.tag, func.count())
            .join(PracticeRecord, PracticeRecord.id == PracticeTag.record_id)
            .where(PracticeRecord.status == PUBLISHED)
            .group_by(PracticeTag.tag)
            .order_by(PracticeTag.tag)
        )
        return {tag: count for tag, count in rows}

    async def added_tags(self) -> list[str]:
        result = await self._session.scalars(
            select(PracticeTagName.name).order_by(PracticeTagName.name)
        )
        return list(result)

    async def add_tag(self, name: str, *, by: int | None, now: datetime) -> bool:
        """Add a tag to the vocabulary; False when it was there."""
        if await self._session.get(PracticeTagName, name) is not None:
            return False
        self._session.add(PracticeTagName(name=name, added_by_id=by, created_at=now))
        await self._session.flush()
        return True

    async def published_between(self, start: datetime, end: datetime) -> list[PracticeRecord]:
        result = await self._session.scalars(
            select(PracticeRecord)
            .where(
                PracticeRecord.status == PUBLISHED,
                PracticeRecord.published_at >= start,
                PracticeRecord.published_at < end,
            )
            .order_by(PracticeRecord.published_at, PracticeRecord.id)
        )
        return list(result)

    async def search(
        self,
        terms: Sequence[Term],
        *,
        tag: str | None = None,
        area_id: int | None = None,
        limit: int = 10,
    ) -> list[Hit]:
        """Published records matching every term, best first (ties: newest first)."""
        if not terms:
            return []
        filters = ""
        params: dict[str, object] = {"limit": limit}
        if area_id is not None:
            filters += " AND r.area_id = :area_id"
            params["area_id"] = area_id
        if tag is not None:
            filters += (
                " AND EXISTS (SELECT 1 FROM practice_record_tags t"
                " WHERE t.record_id = r.id AND t.tag = :tag)"
            )
            params["tag"] = tag
        if self._session.get_bind().dialect.name == "postgresql":
            params["query"] = " & ".join(t.word + (":*" if t.prefix else "") for t in terms)
            # The same words, only where the vector has them with the title's (A) or the
            # tags' (B) weight.
            for name, weight in (("in_title", "A"), ("in_tags", "B")):
                params[name] = " | ".join(
                    t.word + (":*" if t.prefix else ":") + weight for t in terms
                )
            statement = text(
                "SELECT m.id, ts_headline('english', m.body, q, :options) AS snippet FROM ("
                " SELECT r.id, r.body,"
                " r.search_vector @@ to_tsquery('english', :in_title) AS in_title,"
                " r.search_vector @@ to_tsquery('english', :in_tags) AS in_tags"
                " FROM practice_records r, to_tsquery('english', :query) AS q"
                f" WHERE r.search_vector @@ q AND r.status = 'published'{filters}"
                " ORDER BY in_title DESC, in_tags DESC, r.id DESC LIMIT :limit"
                ") AS m, to_tsquery('english', :query) AS q"
                " ORDER BY m.in_title DESC, m.in_tags DESC, m.id DESC"
            )
            params["options"] = (
                f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=12, "
                f"ShortWord=2, MaxFragments=1, FragmentDelimiter={ELLIPSIS}"
            )
        else:
            # Each word quoted: FTS5 reads it as a plain string, whatever the member typed.
            params["query"] = " ".join(f'"{t.word}"' + ("*" if t.prefix else "") for t in terms)
            statement = text(
                "SELECT r.id, snippet(practice_fts, 1, :start, :end, :ellipsis, 24) AS snippet"
                " FROM practice_fts JOIN practice_records r ON r.id = practice_fts.rowid"
                f" WHERE practice_fts MATCH :query AND r.status = 'published'{filters}"
                f" ORDER BY {SQLITE_IN_TITLE} DESC, {SQLITE_IN_TAGS} DESC, r.id DESC"
                " LIMIT :limit"
            )
            params.update(start=MARK_START, end=MARK_END, ellipsis=ELLIPSIS)
        rows = (await self._session.execute(statement, params)).all()
        records = {
            record.id: record
            for record in await self._session.scalars(
                select(PracticeRecord).where(PracticeRecord.id.in_([row.id for row in rows]))
            )
        }
        return [Hit(records[row.id], row.snippet or "") for row in rows]

    async def meeting_on(self, now: datetime, area_id: int | None) -> Meeting | None:
        """The scheduled meeting going on at ``now`` for this area (or for everyone)."""
        area = Meeting.area_id.is_(None)
        if area_id is not None:
            area = or_(Meeting.area_id == area_id, area)
        return await self._session.scalar(
            select(Meeting)
            .where(
                area,
                Meeting.status == "scheduled",
                Meeting.starts_at <= now,
                Meeting.ends_at >= now,
            )
            .order_by(Meeting.area_id.is_(None), Meeting.starts_at.desc())
            .limit(1)
        )
