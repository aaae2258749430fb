"""Check-in reports: the partners' answers compiled the way a coordinator would by hand (seed 002:
per area, per question, what is working well, the evidence and the improvement priorities), with
rating statistics, a comparison across areas and against the previous cycle, and exports.

Every function here is pure: it takes a ``ReportData`` and returns text, bytes or a neutral view.

Who can be recognised (anonymous cycles only; named cycles show everything with names):

- An area with fewer respondents than ``min_respondents`` is *hidden*: none of its answers, texts,
  ratings, statistics or response counts appear in any output (Markdown, CSV, DOCX, chart, chat
  view). A note says how many areas are not shown, never which.
- Partnership-wide statistics ("All areas") count the hidden areas' ratings only when the hidden
  areas *together* have at least ``min_respondents`` respondents. Otherwise the hidden areas'
  ratings are left out of them too, because the partnership totals minus the areas shown would
  give a small group's ratings exactly.
- Member and organisation are never written for an anonymous cycle, even if an answer has them.

The previous cycle (for "change since the previous cycle") is summarised under its own rule, so an
area hidden then or now has no change shown.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dialogs.checkins.charts import Series, grouped_bars
from dialogs.checkins.report_data import ActionProgress, Answer, ReportData
from dialogs.views import (
    Actions,
    BulletList,
    Button,
    ButtonStyle,
    Facts,
    Heading,
    Image,
    Paragraph,
    Tone,
    View,
)

if TYPE_CHECKING:
    from config.frameworks import Framework

PRIORITIES = "priorities"  # the prompt whose answers become action items
ALL_AREAS = "All areas"
NO_VALUE = "\u2013"  # en dash: no value


# --- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stats:
    """Ratings and texts for one question, in one area or across the partnership.

    ``distribution`` is (level value, count) for every level of the scale, highest first;
    ``median`` is of the ratings given (None when there are none); ``texts`` counts the answers
    with something written, per prompt key."""

    answers: int
    n: int
    distribution: tuple[tuple[int, int], ...]
    median: float | None
    texts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Change:
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True, slots=True)
class Summary:
    """What a report may show. ``areas`` are the areas shown, in the cycle's order; ``hidden`` how
    many were left out; ``pooled_hidden`` whether the hidden areas' ratings are in the
    partnership-wide figures."""

    data: ReportData
    areas: tuple[str, ...]
    hidden: int
    pooled_hidden: bool
    answers: Mapping[str, tuple[Answer, ...]]
    by_area: Mapping[tuple[str, int], Stats]
    overall: Mapping[int, Stats]

    @property
    def framework(self) -> Framework:
        return self.data.cycle.framework

    @property
    def questions(self) -> tuple[int, ...]:
        return self.data.cycle.questions


def statistics_for(answers: Iterable[Answer], framework: Framework) -> Stats:
    """The statistics of some answers to one question. Ratings outside the scale are ignored."""
    answers = tuple(answers)
    values = set(framework.scale.values)
    ratings = [a.rating for a in answers if a.rating is not None and a.rating in values]
    texts = {
        prompt.key: sum(1 for a in answers if _text_of(a, prompt.key))
        for prompt in framework.prompts
    }
    return Stats(
        answers=len(answers),
        n=len(ratings),
        distribution=tuple((v, ratings.count(v)) for v in framework.scale.values),
        median=statistics.median(ratings) if ratings else None,
        texts=texts,
    )


def summarise(data: ReportData) -> Summary:
    """Apply the anonymity rule (see the module docstring) and compute every statistic."""
    cycle = data.cycle
    framework = cycle.framework
    order = list(cycle.areas)
    for answer in data.answers:
        if answer.area not in order:
            order.append(answer.area)
    hidden_areas = {
        area
        for area in order
        if cycle.anonymous and cycle.responded.get(area, 0) < data.min_respondents
    }
    areas = tuple(a for a in order if a not in hidden_areas)
    pooled_hidden = bool(hidden_areas) and (
        sum(cycle.responded.get(a, 0) for a in hidden_areas) >= data.min_respondents
    )
    questions = set(cycle.questions)
    by_area_answers = {
        area: tuple(a for a in data.answers if a.area == area and a.question in questions)
        for area in areas
    }
    by_area = {
        (area, number): statistics_for(
            (a for a in by_area_answers[area] if a.question == number), framework
        )
        for area in areas
        for number in cycle.questions
    }
    counted = [
        a
        for a in data.answers
        if a.question in questions and (a.area not in hidden_areas or pooled_hidden)
    ]
    overall = {
        number: statistics_for((a for a in counted if a.question == number), framework)
        for number in cycle.questions
    }
    return Summary(
        data=data,
        areas=areas,
        hidden=len(hidden_areas),
        pooled_hidden=pooled_hidden,
        answers=by_area_answers,
        by_area=by_area,
        overall=overall,
    )


def changes(
    summary: Summary,
) -> tuple[dict[tuple[str, int], Change], dict[int, Change]] | None:
    """Change in median per (area, question) and per question since the previous cycle, for the
    questions and areas both cycles show; None when there is no previous cycle."""
    if summary.data.previous is None:
        return None
    before = summarise(summary.data.previous)
    common = [q for q in summary.questions if q in before.questions]
    by_area = {
        (area, q): Change(before.by_area[(area, q)].median, summary.by_area[(area, q)].median)
        for area in summary.areas
        if area in before.areas
        for q in common
    }
    overall = {q: Change(before.overall[q].median, summary.overall[q].median) for q in common}
    return by_area, overall


# --- words -----------------------------------------------------------------------------------


def _text_of(answer: Answer, key: str) -> str:
    return _clean(answer.texts.get(key) or "").strip()


# Characters XML 1.0 (and so DOCX) cannot hold; nobody means to type them.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@functools.lru_cache(maxsize=16384)
def _clean(text: str) -> str:
    # Cached: a report cleans each answer's text several times (counts, per area, overall).
    return _UNPRINTABLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _number(value: float) -> str:
    return f"{value:g}"


def median_label(framework: Framework, median: float | None) -> str:
    """The scale's word for a median: "good", or "good to very good" for 4.5."""
    if median is None:
        return "no ratings"
    low, high = int(median // 1), int(-(-median // 1))
    values = framework.scale.values
    if low not in values or high not in values:
        return _number(median)
    if low == high:
        return framework.level(low).label
    return f"{framework.level(low).label} to {framework.level(high).label}"


def _median_text(framework: Framework, stats: Stats) -> str:
    if stats.median is None:
        return NO_VALUE
    return f"{median_label(framework, stats.median)} ({_number(stats.median)}, n={stats.n})"


def _change_text(change: Change) -> str:
    before = NO_VALUE if change.before is None else _number(change.before)
    after = NO_VALUE if change.after is None else _number(change.after)
    delta = change.delta
    if delta is None:
        tail = "new" if change.before is None and change.after is not None else "n/a"
    elif delta == 0:
        tail = "no change"
    else:
        tail = f"{delta:+g}"
    return f"{before} → {after} ({tail})"


def _question_noun(framework: Framework) -> str:
    # HGIOCLD calls its questions "challenge questions"; reports read as partners know them.
    marker = "community learning and development"
    if marker in framework.title.casefold() or marker in framework.source.casefold():
        return "Challenge question"
    return "Question"


def _date(moment: datetime, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y}"


def _title(data: ReportData) -> str:
    title = data.cycle.framework.title
    return title if data.cycle.closed_at is not None else f"{title} (interim report)"


def _dates(data: ReportData) -> str:
    cycle = data.cycle
    opened = _date(cycle.opened_at, data.timezone)
    if cycle.closed_at is not None:
        return (
            f"Partners' answers to check-in {cycle.id}: opened {opened}, closed "
            f"{_date(cycle.closed_at, data.timezone)} ({data.timezone})."
        )
    return (
        f"Partners' answers to check-in {cycle.id} so far: opened {opened}, closes "
        f"{_date(cycle.closes_at, data.timezone)} ({data.timezone}). This is an interim report: "
        "answers may still be added or changed."
    )


def _hidden_note(summary: Summary) -> str | None:
    if not summary.hidden:
        return None
    count = summary.hidden
    noun = "area" if count == 1 else "areas"
    note = f"{count} {noun} not shown: fewer than {summary.data.min_respondents} respondents."
    if summary.pooled_hidden:
        note += " Their ratings are counted in the all-areas figures."
    else:
        note += " Their answers are left out of the all-areas figures too."
    return note


def _attribution(data: ReportData, answer: Answer) -> str:
    if data.cycle.anonymous:
        return ""
    return ", ".join(_clean(p).strip() for p in (answer.member, answer.organisation) if p)


def _selected_areas(summary: Summary, area: str | None) -> tuple[str, ...]:
    if area is None:
        return summary.areas
    return tuple(a for a in summary.areas if a.casefold() == area.casefold())


def _area_note(summary: Summary, area: str | None) -> str | None:
    """Why an asked-for area has no section (without saying whether it was hidden or empty)."""
    if area is None or _selected_areas(summary, area):
        return None
    return f"There is nothing to show for {area} in this check-in."


def _rates(summary: Summary, areas: Sequence[str]) -> list[tuple[str, int, int]]:
    cycle = summary.data.cycle
    return [(a, cycle.invited.get(a, 0), cycle.responded.get(a, 0)) for a in areas]


def _percent(invited: int, responded: int) -> str:
    return f"{round(100 * responded / invited)}%" if invited else NO_VALUE


def _rate_text(invited: int, responded: int) -> str:
    if not invited:
        return f"{responded} responded"
    return f"{responded} of {invited} ({round(100 * responded / invited)}%)"


def _distribution_text(framework: Framework, stats: Stats) -> str:
    return ", ".join(f"{framework.level(v).label} {count}" for v, count in stats.distribution)


def _answers_for(summary: Summary, area: str, number: int) -> tuple[Answer, ...]:
    return tuple(a for a in summary.answers[area] if a.question == number)


# --- Markdown --------------------------------------------------------------------------------

# Escaped anywhere in a line: inline markup, HTML, entities, table cells and headings.
_MD_INLINE = re.compile(r"([\\`*_\[\]<>#|~&!])")
# Escaped at the start of a line: block markers (lists, quotes, setext underlines, fences).
_MD_ORDERED = re.compile(r"^(\d{1,9})([.)])")


def _md_escape(line: str, *, line_start: bool) -> str:
    # Leading spaces would make an indented code block; they mean nothing in an answer.
    line = _MD_INLINE.sub(r"\\\1", line.strip())
    if line_start and line:
        if line[0] in "-+=":
            line = "\\" + line
        line = _MD_ORDERED.sub(r"\1\\\2", line)
    return line


def md_inline(text: str, *, line_start: bool = True) -> str:
    """User text for one line of Markdown: nothing in it can start a block or end a table cell.
    ``line_start=False`` for text that cannot begin a block (a table cell), so "1. Seeking out"
    is not written as "1\\. Seeking out"."""
    return _md_escape(" ".join(_clean(text).split()), line_start=line_start)


def md_lines(text: str) -> str:
    """User text, escaped line by line and joined so it stays inside one list item (hard line
    breaks, indented as continuation lines); blank lines are dropped so the item never ends."""
    lines = (_md_escape(line, line_start=True) for line in _clean(text).split("\n"))
    return "\\\n  ".join(line for line in lines if line)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = [
        "| " + " | ".join(md_inline(h, line_start=False) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    out += [
        "| " + " | ".join(md_inline(c, line_start=False) or " " for c in row) + " |" for row in rows
    ]
    return out


def render_markdown(data: ReportData, *, area: str | None = None) -> str:
    """The full report as Markdown: title and dates, response rates, one section per area (per
    question: ratings, then each prompt's answers as bullets), the partnership summary and the
    change since the previous cycle. ``area`` limits the per-area part to that area."""
    summary = summarise(data)
    framework = summary.framework
    noun = _question_noun(framework)
    areas = _selected_areas(summary, area)
    out: list[str] = [f"# {md_inline(_title(data))}", "", md_inline(_dates(data)), ""]
    if framework.source:
        out += [f"Framework: {md_inline(framework.source)}", ""]
    for note in (_area_note(summary, area), _hidden_note(summary)):
        if note:
            out += [f"*{md_inline(note)}*", ""]

    out += ["## Response rates", ""]
    rows = [(a, str(i), str(r), _percent(i, r)) for a, i, r in _rates(summary, areas)]
    out += [*_md_table(("Area", "Invited", "Responded", "Response rate"), rows), ""]

    for name in areas:
        out += [f"## {md_inline(name)}: {noun.lower()}s from {md_inline(framework.short_title)}"]
        out.append("")
        for number in summary.questions:
            question = framework.question(number)
            stats = summary.by_area[(name, number)]
            out += [f"### {noun} {number}. {md_inline(question.text)}", ""]
            if stats.n:
                label = md_inline(median_label(framework, stats.median))
                out.append(
                    f"Ratings: {stats.n}; median **{label}** ({_number(stats.median or 0)}); "
                    f"{md_inline(_distribution_text(framework, stats))}."
                )
            else:
                out.append("No ratings.")
            out.append("")
            answers = _answers_for(summary, name, number)
            for prompt in framework.prompts:
                out += [f"#### {md_inline(prompt.text)}", ""]
                items = [
                    (text, _attribution(data, a))
                    for a in answers
                    if (text := _text_of(a, prompt.key))
                ]
                if not items:
                    out += ["*Nothing written.*", ""]
                    continue
                for text, who in items:
                    line = f"- {md_lines(text)}"
                    if who:
                        line += f" — *{md_inline(who)}*"
                    out.append(line)
                out.append("")

    out += _md_partnership(summary, areas)
    out += _md_actions(data, area)
    return "\n".join(out).rstrip("\n") + "\n"


def _actions_in(data: ReportData, area: str | None) -> tuple[ActionProgress, ...]:
    if area is None:
        return data.actions
    return tuple(a for a in data.actions if a.area is None or a.area.casefold() == area.casefold())


def action_progress_text(actions: Sequence[ActionProgress]) -> str:
    done = sum(1 for a in actions if a.done)
    return f"Action plan from the previous cycle: {done} of {len(actions)} done."


def _action_rows(actions: Sequence[ActionProgress]) -> list[tuple[str, ...]]:
    return [
        (
            str(a.id),
            _clean(a.text),
            a.area or ALL_AREAS,
            str(a.question) if a.question else NO_VALUE,
            a.owner or NO_VALUE,
            f"{a.due_on:%d %b %Y}" if a.due_on else NO_VALUE,
            "done" if a.done else "open",
        )
        for a in actions
    ]


def _md_actions(data: ReportData, area: str | None) -> list[str]:
    actions = _actions_in(data, area)
    if not actions:
        return []
    rows = _action_rows(actions)
    return [
        "",
        "## Progress on the previous action plan",
        "",
        md_inline(action_progress_text(actions)),
        "",
        *_md_table(("Action", "What", "Area", "Question", "Owner", "Due", "Status"), rows),
    ]


def _md_partnership(summary: Summary, areas: Sequence[str]) -> list[str]:
    framework = summary.framework
    columns = [*areas, ALL_AREAS]
    out = [
        "## Partnership summary",
        "",
        "Median rating for each question, by area (n = number of ratings).",
        "",
    ]
    rows = [
        (
            f"{number}. {framework.question(number).short}",
            *(_median_text(framework, summary.by_area[(a, number)]) for a in areas),
            _median_text(framework, summary.overall[number]),
        )
        for number in summary.questions
    ]
    out += [*_md_table(("Question", *columns), rows), ""]
    found = changes(summary)
    if found is not None:
        by_area, overall = found
        previous = summary.data.previous
        assert previous is not None
        out += [
            "## Change since the previous cycle",
            "",
            md_inline(
                f"Median ratings in check-in {previous.cycle.id} (opened "
                f"{_date(previous.cycle.opened_at, summary.data.timezone)}) → now."
            ),
            "",
        ]
        common = [q for q in summary.questions if q in overall]
        rows = [
            (
                f"{q}. {framework.question(q).short}",
                *(_change_text(by_area[(a, q)]) if (a, q) in by_area else NO_VALUE for a in areas),
                _change_text(overall[q]),
            )
            for q in common
        ]
        out += [*_md_table(("Question", *columns), rows), ""]
    return out


# --- CSV -------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    text = "" if value is None else _clean(str(value))
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def render_csv(data: ReportData, *, area: str | None = None) -> str:
    """One row per answer shown in the report (hidden areas are left out), with a header:
    cycle, framework, area, question, question_short, rating, rating_label, one column per prompt
    key, member, organisation (empty in anonymous cycles)."""
    summary = summarise(data)
    framework = summary.framework
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    prompts = [p.key for p in framework.prompts]
    writer.writerow(
        [
            "cycle",
            "framework",
            "area",
            "question",
            "question_short",
            "rating",
            "rating_label",
            *prompts,
            "member",
            "organisation",
        ]
    )
    values = set(framework.scale.values)
    for name in _selected_areas(summary, area):
        for number in summary.questions:
            question = framework.question(number)
            for answer in _answers_for(summary, name, number):
                rating = answer.rating if answer.rating in values else None
                anonymous = data.cycle.anonymous
                row = [
                    data.cycle.id,
                    framework.key,
                    name,
                    number,
                    question.short,
                    "" if rating is None else rating,
                    "" if rating is None else framework.level(rating).label,
                    *(_text_of(answer, key) for key in prompts),
                    "" if anonymous else answer.member,
                    "" if anonymous else answer.organisation,
                ]
                writer.writerow([csv_cell(c) for c in row])
    return buffer.getvalue()


# --- chart -----------------------------------------------------------------------------------


def render_chart(data: ReportData, *, area: str | None = None) -> bytes:
    """A PNG: median rating by question, one bar per area (with ``area``: that area beside all
    areas), the scale's labels on the y axis, and the previous cycle's medians as markers."""
    summary = summarise(data)
    framework = summary.framework
    areas = _selected_areas(summary, area)
    found = changes(summary)
    by_area_change, overall_change = found if found is not None else ({}, {})

    def before(table: Mapping, keys: Iterable) -> tuple[float | None, ...]:
        if found is None:
            return ()
        return tuple(table[key].before if key in table else None for key in keys)

    series = [
        Series(
            label=name,
            values=tuple(summary.by_area[(name, q)].median for q in summary.questions),
            previous=before(by_area_change, ((name, q) for q in summary.questions)),
        )
        for name in areas
    ]
    if area is not None or not series:
        series.append(
            Series(
                label=ALL_AREAS,
                values=tuple(summary.overall[q].median for q in summary.questions),
                previous=before(overall_change, summary.questions),
            )
        )
    title = f"{framework.short_title}: median rating by question"
    if area is not None and areas:
        title += f", {areas[0]}"
    if data.cycle.closed_at is None:
        title += " (interim)"
    categories = [f"Q{q} {framework.question(q).short}" for q in summary.questions]
    return grouped_bars(
        title=_clean(title),
        categories=categories,
        series=[Series(_clean(s.label), s.values, s.previous) for s in series],
        levels=[(level.value, level.label) for level in framework.scale.levels],
    )


# --- DOCX ------------------------------------------------------------------------------------


def render_docx(data: ReportData, *, area: str | None = None) -> bytes:
    """The report as a Word document a coordinator can publish as it is: the same structure as
    the Markdown, the tables of medians and the chart embedded."""
    # Imported when a report is exported, not when the bot starts: python-docx and lxml add
    # megabytes to every process that never writes one (docs/benchmarks.md, memory).
    from docx import Document
    from docx.shared import Inches

    summary = summarise(data)
    framework = summary.framework
    noun = _question_noun(framework)
    areas = _selected_areas(summary, area)
    document = Document()
    bullet, heading2, heading3 = (
        document.styles[name].style_id for name in ("List Bullet", "Heading 2", "Heading 3")
    )
    properties = document.core_properties
    properties.title = _clean(_title(data))
    properties.subject = framework.short_title
    properties.author = "partnerbot"
    properties.last_modified_by = "partnerbot"
    properties.comments = ""

    document.add_heading(_clean(_title(data)), level=0)
    document.add_paragraph(_dates(data))
    if framework.source:
        document.add_paragraph(f"Framework: {framework.source}")
    for note in (_area_note(summary, area), _hidden_note(summary)):
        if note:
            document.add_paragraph().add_run(_clean(note)).italic = True

    document.add_heading("Response rates", level=1)
    _docx_table(
        document,
        ("Area", "Invited", "Responded", "Response rate"),
        [(a, str(i), str(r), _percent(i, r)) for a, i, r in _rates(summary, areas)],
    )

    for name in areas:
        document.add_heading(
            _clean(f"{name}: {noun.lower()}s from {framework.short_title}"), level=1
        )
        for number in summary.questions:
            stats = summary.by_area[(name, number)]
            _paragraph(document, heading2).add_run(
                f"{noun} {number}. {framework.question(number).text}"
            )
            if stats.n:
                paragraph = document.add_paragraph(f"Ratings: {stats.n}; median ")
                paragraph.add_run(median_label(framework, stats.median)).bold = True
                paragraph.add_run(
                    f" ({_number(stats.median or 0)}); {_distribution_text(framework, stats)}."
                )
            else:
                document.add_paragraph("No ratings.")
            answers = _answers_for(summary, name, number)
            for prompt in framework.prompts:
                _paragraph(document, heading3).add_run(prompt.text)
                items = [
                    (text, _attribution(data, a))
                    for a in answers
                    if (text := _text_of(a, prompt.key))
                ]
                if not items:
                    document.add_paragraph().add_run("Nothing written.").italic = True
                for text, who in items:
                    paragraph = _paragraph(document, bullet)
                    paragraph.add_run(text)
                    if who:
                        paragraph.add_run(f" — {who}").italic = True

    document.add_heading("Partnership summary", level=1)
    document.add_paragraph("Median rating for each question, by area (n = number of ratings).")
    columns = ("Question", *areas, ALL_AREAS)
    _docx_table(
        document,
        columns,
        [
            (
                f"{q}. {framework.question(q).short}",
                *(_median_text(framework, summary.by_area[(a, q)]) for a in areas),
                _median_text(framework, summary.overall[q]),
            )
            for q in summary.questions
        ],
    )
    document.add_paragraph()
    document.add_picture(io.BytesIO(render_chart(data, area=area)), width=Inches(6.3))

    found = changes(summary)
    if found is not None and data.previous is not None:
        by_area, overall = found
        document.add_heading("Change since the previous cycle", level=1)
        document.add_paragraph(
            f"Median ratings in check-in {data.previous.cycle.id} (opened "
            f"{_date(data.previous.cycle.opened_at, data.timezone)}) → now."
        )
        _docx_table(
            document,
            columns,
            [
                (
                    f"{q}. {framework.question(q).short}",
                    *(
                        _change_text(by_area[(a, q)]) if (a, q) in by_area else NO_VALUE
                        for a in areas
                    ),
                    _change_text(overall[q]),
                )
                for q in summary.questions
                if q in overall
            ],
        )

    actions = _actions_in(data, area)
    if actions:
        document.add_heading("Progress on the previous action plan", level=1)
        document.add_paragraph(action_progress_text(actions))
        _docx_table(
            document,
            ("Action", "What", "Area", "Question", "Owner", "Due", "Status"),
            _action_rows(actions),
        )

    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _paragraph(document, style_id: str):
    """A paragraph in style ``style_id`` at the end of the body. python-docx's
    ``add_paragraph(style=...)`` looks the style up by scanning every style's XML and finds the
    end of the body by scanning every paragraph, so a 200-member report took seconds; here both
    are done once."""
    from docx.oxml import OxmlElement
    from docx.text.paragraph import Paragraph

    p = OxmlElement("w:p")
    p.get_or_add_pPr().style = style_id
    document.element.body.sectPr.addprevious(p)
    return Paragraph(p, document._body)


def _docx_table(document, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from docx.shared import Pt

    table = document.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = ""
        run = cell.paragraphs[0].add_run(_clean(text))
        run.bold = True
    for row in rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, row, strict=True):
            cell.text = _clean(text)
    if len(header) > 4:
        for row in table.rows:
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    for run in paragraph.runs:
                        run.font.size = Pt(8)


# --- chat view -------------------------------------------------------------------------------


def _command(fmt: str, area: str | None, *, verb: str = "report") -> str:
    command = f"checkin {verb}" + (f" format={fmt}" if fmt else "")
    if area:
        command += f' area="{area}"' if any(c.isspace() for c in area) else f" area={area}"
    return command


def report_view(data: ReportData, *, area: str | None = None) -> View:
    """The report in chat, kept short: response rates, a line per area for each question (median
    and n, and the change since last time), how many improvement priorities were written, the
    chart, and buttons for the full exports."""
    summary = summarise(data)
    framework = summary.framework
    areas = _selected_areas(summary, area)
    found = changes(summary)
    by_area_change, overall_change = found if found is not None else ({}, {})
    heading = f"{framework.short_title}: check-in report"
    if data.cycle.closed_at is None:
        heading += " (interim)"
    if area is not None and areas:
        heading += f", {areas[0]}"
    blocks: list = [Heading(heading), Paragraph(_dates(data), Tone.MUTED)]

    rates = _rates(summary, areas)
    if rates:
        blocks.append(Facts(tuple((a, _rate_text(i, r)) for a, i, r in rates)))
    for note in (_area_note(summary, area), _hidden_note(summary)):
        if note:
            blocks.append(Paragraph(note, Tone.MUTED))

    has_priorities = any(p.key == PRIORITIES for p in framework.prompts)
    priorities = 0
    for q in summary.questions:
        lines = []
        for name in (*areas, ALL_AREAS):
            stats = summary.overall[q] if name == ALL_AREAS else summary.by_area[(name, q)]
            change = overall_change.get(q) if name == ALL_AREAS else by_area_change.get((name, q))
            line = f"{name}: {median_label(framework, stats.median)}"
            if stats.median is not None:
                line += f" ({_number(stats.median)}, n={stats.n})"
            if change is not None and change.delta is not None:
                line += (
                    ", no change since last cycle"
                    if change.delta == 0
                    else f", {change.delta:+g} since last cycle"
                )
            if name != ALL_AREAS and has_priorities:
                priorities += stats.texts.get(PRIORITIES, 0)
            lines.append(line)
        blocks += [
            Paragraph(f"{q}. {framework.question(q).short}", Tone.STRONG),
            BulletList(tuple(lines)),
        ]
    if has_priorities:
        blocks.append(
            Paragraph(
                f"{priorities} improvement {'priority' if priorities == 1 else 'priorities'} "
                "written; the full text is in the Markdown and Word reports."
            )
        )
    previous_actions = _actions_in(data, area)
    if previous_actions:
        blocks.append(Paragraph(action_progress_text(previous_actions)))
    blocks.append(
        Image(
            f"{framework.short_title}: median rating by question",
            "Bar chart of median ratings by question for each area",
            render_chart(data, area=area),
        )
    )
    blocks.append(
        Actions(
            (
                Button("Markdown", _command("md", area), ButtonStyle.PRIMARY),
                Button("Word (DOCX)", _command("docx", area)),
                Button("CSV", _command("csv", area)),
                Button("Chart (PNG)", _command("png", area)),
                Button("Priorities to actions", _command("", area, verb="priorities")),
            )
        )
    )
    responded = sum(r for _, _, r in rates)
    invited = sum(i for _, i, _ in rates)
    summary_line = f"{heading}: {responded} of {invited} members responded"
    return View(summary=summary_line, blocks=tuple(blocks))
