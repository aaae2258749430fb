"""Check-in reports: four Aberdeenshire areas answering HGIOCLD QI 3.2 challenge questions 1, 3, 4
and 7, in the spirit of the partners' feedback the council compiled by hand (seed 002)."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from docx import Document
from docx.enum.shape import WD_INLINE_SHAPE
from matplotlib.image import imread

from config.frameworks import Framework, load_frameworks
from dialogs.checkins import reports
from dialogs.checkins.report_data import Answer, CycleFacts, ReportData
from dialogs.views import Actions, Facts, Heading, Image

PNG = b"\x89PNG\r\n\x1a\n"
MARR, KM, BB, FORM = "Marr", "Kincardine and Mearns", "Banff and Buchan", "Formartine"
AREAS = (MARR, KM, BB, FORM)
QUESTIONS = (1, 3, 4, 7)
PROMPT_HEADINGS = {
    "working_well": "What is working well?",
    "evidence": "How do you know? What evidence do you have of positive impact?",
    "priorities": "What are your improvement priorities?",
}

# (area, question, rating, working well, evidence, priorities, member, organisation)
ANSWERS_2024 = [
    (MARR, 1, 3, "We are still in transition; it is early days.",
     "18 partners came to the introductory session.",
     "Bring partners together at Marr level and in each community.",
     "Aileen Gordon", "Marr Community Trust"),
    (MARR, 1, 3, "People don't always know they are working in partnership.", "",
     "Explain the different levels of partnership working.",
     "Callum Reid", "Aberdeenshire Council CLD"),
    (MARR, 1, 4, "", "Mapping of current work across Marr.", "",
     "Fiona Duguid", "Deeside Adult Learning"),
    (MARR, 3, 2, "Not impressed with the change from 16 to 6 partnerships.", "",
     "People need to be made to feel included.", "Aileen Gordon", "Marr Community Trust"),
    (MARR, 3, 2, "", "Decisions are not always made clearly.", "",
     "Callum Reid", "Aberdeenshire Council CLD"),
    (MARR, 3, 3, "", "", "", "Fiona Duguid", "Deeside Adult Learning"),
    (MARR, 4, 4, "Good understanding of the four priorities.", "", "Be careful with language so "
     "more organisations see themselves as part of the partnership.",
     "Aileen Gordon", "Marr Community Trust"),
    (MARR, 4, 5, "", "", "", "Callum Reid", "Aberdeenshire Council CLD"),
    (MARR, 7, 3, "", "Different systems and expectations for planning and evaluation.",
     "Develop a common framework through a supported CPD discussion.",
     "Fiona Duguid", "Deeside Adult Learning"),
    (KM, 1, 4, "Local settings rely on partnerships to reach people.",
     "Outcomes improved through partnership initiatives since Covid.", "",
     "Morag Low", "Stonehaven Family Learning"),
    (KM, 1, 5, "Always developing and improving, with varying degrees of success.", "", "",
     "Ewan Mitchell", "Mearns Youth Forum"),
    (KM, 3, 2, "Local partners work well.", "Moving from sixteen to six has been challenging.",
     "Evaluate the impact of the new structure.", "Morag Low", "Stonehaven Family Learning"),
    (KM, 3, 1, "", "", "A structure that helps grass-roots work.",
     "Ewan Mitchell", "Mearns Youth Forum"),
    (KM, 4, 3, "", "The language can be complicated.", "Training for all partners.",
     "Morag Low", "Stonehaven Family Learning"),
    (KM, 7, 4, "Some of us already plan jointly.", "",
     "Agree how to monitor and evaluate across partners.",
     "Ewan Mitchell", "Mearns Youth Forum"),
    (BB, 1, 4, "Diversionary project and youth hub.", "Just Ask project referrals.", "",
     "Shona Buchan", "Peterhead Community Hub"),
    (BB, 1, 5, "Detached work at the Vinery.", "", "", "Gary Ritchie", "Fraserburgh Academy"),
    (BB, 3, 5, "The local authority is very supportive and flexible.", "",
     "Invite more partners into the partnership.", "Shona Buchan", "Peterhead Community Hub"),
    (BB, 3, 6, "", "", "", "Gary Ritchie", "Fraserburgh Academy"),
    (BB, 4, 4, "Joint objectives and aims with identified priorities.", "", "",
     "Shona Buchan", "Peterhead Community Hub"),
    (BB, 7, 4, "We jointly plan our pieces of work.", "",
     "Monitor progress through Engage.", "Gary Ritchie", "Fraserburgh Academy"),
    (FORM, 1, 6, "A good working relationship: sharing ideas and resources.", "", "",
     "Iain Sim", "Ellon Academy"),
    (FORM, 3, 5, "", "Well documented and shared.", "", "Iain Sim", "Ellon Academy"),
    (FORM, 4, 3, "", "",
     "Rebuild relationships after the restructuring of staff and areas.",
     "Iain Sim", "Ellon Academy"),
    (FORM, 7, None, "Good pre-activity planning; post-activity evaluation completed.", "", "",
     "Iain Sim", "Ellon Academy"),
]  # fmt: skip

# One rating per area and question, a year earlier: the medians to compare with.
PREVIOUS_2023 = {
    (MARR, 1): 2, (MARR, 3): 3, (MARR, 4): 4, (MARR, 7): 3,
    (KM, 1): 4, (KM, 3): 3, (KM, 4): 3, (KM, 7): 3,
    (BB, 1): 4, (BB, 3): 5, (BB, 4): 4, (BB, 7): 4,
    (FORM, 1): 5, (FORM, 3): 5, (FORM, 4): 4,
}  # fmt: skip

NAMES = {a[6] for a in ANSWERS_2024} | {a[7] for a in ANSWERS_2024}


@pytest.fixture(scope="module")
def qi() -> Framework:
    return load_frameworks()["qi-3.2"]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def answer(row: tuple, *, anonymous: bool = False) -> Answer:
    area, question, rating, well, evidence, priorities, member, organisation = row
    texts = {
        key: value
        for key, value in (
            ("working_well", well),
            ("evidence", evidence),
            ("priorities", priorities),
        )
        if value
    }
    # Anonymous answers keep the names here on purpose: the report must not write them anyway.
    return Answer(area, question, rating, texts, member, organisation)


def cycle(
    framework: Framework,
    *,
    id: int,
    anonymous: bool = False,
    closed: bool = True,
    responded: dict[str, int] | None = None,
    year: int = 2024,
) -> CycleFacts:
    responded = responded or {MARR: 3, KM: 2, BB: 2, FORM: 1}
    return CycleFacts(
        id=id,
        framework=framework,
        questions=QUESTIONS,
        areas=AREAS,
        anonymous=anonymous,
        opened_at=moment(f"{year}-02-01T09:00"),
        closes_at=moment(f"{year}-03-31T17:00"),
        closed_at=moment(f"{year}-03-31T17:00") if closed else None,
        invited={MARR: 10, KM: 6, BB: 8, FORM: 9},
        responded=responded,
    )


def previous_data(framework: Framework) -> ReportData:
    answers = tuple(Answer(area, q, rating, {}) for (area, q), rating in PREVIOUS_2023.items())
    return ReportData(cycle(framework, id=3, year=2023), answers)


@pytest.fixture
def named(qi: Framework) -> ReportData:
    return ReportData(
        cycle(qi, id=7),
        tuple(answer(row) for row in ANSWERS_2024),
        previous=previous_data(qi),
    )


@pytest.fixture
def anonymous(qi: Framework) -> ReportData:
    # Banff and Buchan: 3 respondents, fewer than 5, so it must not show.
    responded = {MARR: 6, KM: 5, BB: 3, FORM: 7}
    return ReportData(
        cycle(qi, id=8, anonymous=True, responded=responded),
        tuple(answer(row, anonymous=True) for row in ANSWERS_2024),
    )


# --- reading the Markdown back -----------------------------------------------------------------


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text.replace("\\\n", "\n"))


def markdown_sections(markdown: str) -> dict[tuple[str, str, str], list[str]]:
    """Bullets by (area heading, question heading, prompt heading), unescaped, with the
    continuation lines of a bullet joined back into it."""
    sections: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    h2 = h3 = h4 = ""
    bullet: list[str] | None = None
    for line in markdown.split("\n"):
        if bullet is not None and line.startswith("  "):
            bullet.append(line[2:])
            continue
        if bullet is not None:
            sections[(h2, h3, h4)].append(unescape("\n".join(bullet)))
            bullet = None
        if line.startswith("## "):
            h2, h3, h4 = unescape(line[3:]), "", ""
        elif line.startswith("### "):
            h3, h4 = unescape(line[4:]), ""
        elif line.startswith("#### "):
            h4 = unescape(line[5:])
        elif line.startswith("- "):
            bullet = [line[2:]]
    if bullet is not None:
        sections[(h2, h3, h4)].append(unescape("\n".join(bullet)))
    return sections


def markdown_table(markdown: str, heading: str) -> list[list[str]]:
    """The first table after ``## heading``, as rows of unescaped cells (separator row dropped)."""
    lines = markdown.split("\n")
    start = lines.index(f"## {heading}")
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            if not all(set(c.strip()) <= {"-"} for c in cells):
                rows.append([unescape(c.strip()) for c in cells])
        elif rows:
            break
    return rows


def area_heading(area: str) -> str:
    return f"{area}: challenge questions from QI 3.2 Partnership working"


def question_heading(framework: Framework, number: int) -> str:
    return f"Challenge question {number}. {framework.question(number).text}"


def attributed(text: str, member: str, organisation: str, *, markdown: bool = False) -> str:
    who = f"{member}, {organisation}"
    return f"{text} — *{who}*" if markdown else f"{text} — {who}"


# --- statistics ----------------------------------------------------------------------------------


def test_medians_distributions_and_text_counts(named: ReportData):
    summary = reports.summarise(named)
    marr_q1 = summary.by_area[(MARR, 1)]
    assert marr_q1.n == 3
    assert marr_q1.median == 3
    assert dict(marr_q1.distribution) == {6: 0, 5: 0, 4: 1, 3: 2, 2: 0, 1: 0}
    assert [v for v, _ in marr_q1.distribution] == [6, 5, 4, 3, 2, 1]
    assert marr_q1.texts == {"working_well": 2, "evidence": 2, "priorities": 2}

    km_q1 = summary.by_area[(KM, 1)]
    assert km_q1.median == 4.5
    assert reports.median_label(named.cycle.framework, km_q1.median) == "good to very good"

    # Formartine's question 7 answer has text but no rating.
    form_q7 = summary.by_area[(FORM, 7)]
    assert (form_q7.answers, form_q7.n, form_q7.median) == (1, 0, None)
    assert form_q7.texts["working_well"] == 1

    # Across the partnership: question 3 ratings 2,2,3 | 2,1 | 5,6 | 5 -> median 2.5.
    overall_q3 = summary.overall[3]
    assert overall_q3.n == 8
    assert overall_q3.median == 2.5
    assert dict(overall_q3.distribution) == {6: 1, 5: 2, 4: 0, 3: 1, 2: 3, 1: 1}
    assert summary.hidden == 0


def test_change_in_median_per_area_and_overall(named: ReportData):
    summary = reports.summarise(named)
    found = reports.changes(summary)
    assert found is not None
    by_area, overall = found
    assert by_area[(MARR, 1)].delta == 1  # 2 -> 3
    assert by_area[(MARR, 3)].delta == -1  # 3 -> 2
    assert by_area[(BB, 3)].delta == 0.5  # 5 -> 5.5
    assert by_area[(FORM, 7)].delta is None  # not rated either time
    # Question 1 across the partnership: 2,4,4,5 (median 4) -> 3,3,4,4,5,4,5,6 (median 4)
    assert overall[1].before == 4 and overall[1].after == 4 and overall[1].delta == 0
    assert reports.changes(reports.summarise(previous_data(named.cycle.framework))) is None


# --- Markdown ------------------------------------------------------------------------------------


def test_markdown_puts_every_answer_under_its_area_and_question(named: ReportData, qi):
    markdown = reports.render_markdown(named)
    sections = markdown_sections(markdown)
    expected_keys = set()
    for row in ANSWERS_2024:
        area, number, _, well, evidence, priorities, member, organisation = row
        for key, text in (
            ("working_well", well),
            ("evidence", evidence),
            ("priorities", priorities),
        ):
            if not text:
                continue
            where = (area_heading(area), question_heading(qi, number), PROMPT_HEADINGS[key])
            expected_keys.add(where)
            assert attributed(text, member, organisation, markdown=True) in sections[where], where
    # Nothing landed anywhere else.
    assert {k for k, v in sections.items() if v} == expected_keys
    total = sum(len(v) for v in sections.values())
    assert total == sum(bool(t) for row in ANSWERS_2024 for t in row[3:6])

    # Areas in the cycle's order, each with the four questions in order, as the seed reads.
    h2 = [line[3:] for line in markdown.split("\n") if line.startswith("## ")]
    assert h2 == [
        "Response rates",
        *(area_heading(a) for a in AREAS),
        "Partnership summary",
        "Change since the previous cycle",
    ]
    h3 = [unescape(line[4:]) for line in markdown.split("\n") if line.startswith("### ")]
    assert h3 == [question_heading(qi, n) for _ in AREAS for n in QUESTIONS]
    assert markdown.startswith(f"# {qi.title}\n")
    assert "closed Sun 31 Mar 2024 (Europe/London)" in markdown
    assert "interim" not in markdown.casefold()


def test_markdown_shows_ratings_rates_and_the_partnership_table(named: ReportData, qi):
    markdown = reports.render_markdown(named)
    assert "Ratings: 3; median **satisfactory** (3); excellent 0, very good 0, good 1, " in markdown

    rates = markdown_table(markdown, "Response rates")
    assert rates[0] == ["Area", "Invited", "Responded", "Response rate"]
    assert rates[1] == [MARR, "10", "3", "30%"]
    assert [row[0] for row in rates[1:]] == list(AREAS)

    table = markdown_table(markdown, "Partnership summary")
    assert table[0] == ["Question", *AREAS, "All areas"]
    assert [row[0] for row in table[1:]] == [f"{n}. {qi.question(n).short}" for n in QUESTIONS]
    q1 = dict(zip(table[0], table[1], strict=True))
    assert q1[MARR] == "satisfactory (3, n=3)"
    assert q1[KM] == "good to very good (4.5, n=2)"
    assert q1["All areas"] == "good (4, n=8)"
    q7 = dict(zip(table[0], table[4], strict=True))
    assert q7[FORM] == reports.NO_VALUE


def test_markdown_change_since_previous_cycle_has_the_right_sign(named: ReportData):
    markdown = reports.render_markdown(named)
    table = markdown_table(markdown, "Change since the previous cycle")
    assert table[0] == ["Question", *AREAS, "All areas"]
    q1 = dict(zip(table[0], table[1], strict=True))
    q3 = dict(zip(table[0], table[2], strict=True))
    assert q1[MARR] == "2 → 3 (+1)"
    assert q3[MARR] == "3 → 2 (-1)"
    assert q3[BB] == "5 → 5.5 (+0.5)"
    assert q1["All areas"] == "4 → 4 (no change)"
    without = reports.render_markdown(
        ReportData(named.cycle, named.answers, previous=None, timezone=named.timezone)
    )
    assert "Change since the previous cycle" not in without


def test_an_open_cycle_gives_an_interim_report(qi):
    data = ReportData(cycle(qi, id=9, closed=False), tuple(answer(r) for r in ANSWERS_2024[:3]))
    markdown = reports.render_markdown(data)
    assert markdown.split("\n")[0] == f"# {qi.title} (interim report)"
    assert "closes Sun 31 Mar 2024" in markdown
    assert "interim" in reports.report_view(data).summary


def test_dates_are_shown_in_the_report_time_zone(qi):
    data = ReportData(
        cycle(qi, id=9), tuple(answer(r) for r in ANSWERS_2024[:1]), timezone="Pacific/Auckland"
    )
    # 17:00 UTC on 31 March is already 1 April in Auckland.
    assert "closed Mon 1 Apr 2024 (Pacific/Auckland)" in reports.render_markdown(data)


def test_one_area_only(named: ReportData, qi):
    markdown = reports.render_markdown(named, area=KM)
    sections = markdown_sections(markdown)
    assert {key[0] for key, items in sections.items() if items} == {area_heading(KM)}
    assert markdown_table(markdown, "Partnership summary")[0] == ["Question", KM, "All areas"]
    missing = reports.render_markdown(named, area="Buchan Coast")
    assert "There is nothing to show for Buchan Coast in this check-in." in missing
    assert not any(markdown_sections(missing).values())


# --- anonymous cycles --------------------------------------------------------------------------


def test_anonymous_report_names_nobody_and_hides_a_small_area(anonymous: ReportData, qi):
    markdown = reports.render_markdown(anonymous)
    table = reports.render_csv(anonymous)
    document = docx_text(reports.render_docx(anonymous))
    for output in (markdown, table, document):
        for name in NAMES:
            assert name not in output
        assert BB not in output
        assert "1 area not shown: fewer than 5 respondents." in output or output is table
        for row in ANSWERS_2024:
            for text in row[3:6]:
                if text and row[0] == BB:
                    assert text not in output

    sections = markdown_sections(markdown)
    shown = [row for row in ANSWERS_2024 if row[0] != BB]
    for area, number, _, well, _, _, _, _ in shown:
        if well:
            where = (
                area_heading(area),
                question_heading(qi, number),
                PROMPT_HEADINGS["working_well"],
            )
            assert well in sections[where]  # unattributed: the bullet is the text alone

    # Banff and Buchan's 3 respondents are too few to pool, so the all-areas figures leave
    # them out as well (else the totals minus the areas shown would give their ratings).
    summary = reports.summarise(anonymous)
    assert summary.areas == (MARR, KM, FORM)
    assert not summary.pooled_hidden
    assert summary.overall[3].n == sum(summary.by_area[(a, 3)].n for a in summary.areas)
    assert "Their answers are left out of the all-areas figures too." in markdown

    rows = list(csv.DictReader(io.StringIO(table)))
    assert {r["area"] for r in rows} == {MARR, KM, FORM}
    assert all(r["member"] == "" and r["organisation"] == "" for r in rows)

    view = reports.report_view(anonymous)
    flat = repr(view)
    assert BB not in flat and not any(name in flat for name in NAMES)


def test_hidden_areas_are_pooled_into_partnership_figures_when_together_large_enough(qi):
    # Banff and Buchan (3) and Formartine (2) are each too small, together 5.
    data = ReportData(
        cycle(qi, id=10, anonymous=True, responded={MARR: 6, KM: 5, BB: 3, FORM: 2}),
        tuple(answer(row) for row in ANSWERS_2024),
    )
    summary = reports.summarise(data)
    assert summary.areas == (MARR, KM)
    assert summary.hidden == 2 and summary.pooled_hidden
    assert summary.overall[3].n == 8  # every rating, as in the named cycle
    markdown = reports.render_markdown(data)
    assert "2 areas not shown: fewer than 5 respondents." in markdown
    assert BB not in markdown and FORM not in markdown


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_has_one_row_per_answer_and_parses_back(named: ReportData):
    rows = list(csv.reader(io.StringIO(reports.render_csv(named))))
    assert rows[0] == [
        "cycle",
        "framework",
        "area",
        "question",
        "question_short",
        "rating",
        "rating_label",
        "working_well",
        "evidence",
        "priorities",
        "member",
        "organisation",
    ]
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(body) == len(ANSWERS_2024)
    first = body[0]
    assert first["cycle"] == "7" and first["framework"] == "qi-3.2"
    assert (first["area"], first["question"], first["question_short"]) == (
        MARR,
        "1",
        "Seeking out partnerships",
    )
    assert (first["rating"], first["rating_label"]) == ("3", "satisfactory")
    assert first["member"] == "Aileen Gordon"
    assert first["organisation"] == "Marr Community Trust"
    unrated = [r for r in body if r["area"] == FORM and r["question"] == "7"]
    assert unrated[0]["rating"] == "" and unrated[0]["rating_label"] == ""
    assert [r["area"] for r in body] == [row[0] for row in ANSWERS_2024]


def test_csv_cells_cannot_run_as_formulas(qi):
    hostile = Answer(
        MARR,
        1,
        4,
        {"working_well": "=SUM(A1)", "evidence": "+44 7700 900123", "priorities": "-1 budget"},
        member="@admin",
        organisation='=HYPERLINK("http://x")',
    )
    data = ReportData(cycle(qi, id=11), (hostile,))
    (row,) = csv.DictReader(io.StringIO(reports.render_csv(data)))
    assert row["working_well"] == "'=SUM(A1)"
    assert row["evidence"] == "'+44 7700 900123"
    assert row["priorities"] == "'-1 budget"
    assert row["member"] == "'@admin"
    assert row["organisation"] == '\'=HYPERLINK("http://x")'


# --- hostile text in Markdown ------------------------------------------------------------------

HOSTILE = "# heading\n| pipe |\n=SUM(A1)\n---\n1. one\n\n    indented\n<b>bold</b> *star* `tick`"


LITERAL = {"softbreak": "\n", "hardbreak": "\n", "em_open": "<em>", "em_close": "</em>"}


def test_hostile_text_does_not_break_the_markdown(qi):
    markdown_it = pytest.importorskip("markdown_it")
    answers = (
        Answer(MARR, 1, 4, {"working_well": HOSTILE, "priorities": "| a | b |"}, "M | x", "# Org"),
        Answer(KM, 1, 5, {"evidence": "> quote\n- dash"}, "Ewan", "Forum"),
    )
    data = ReportData(cycle(qi, id=12), answers)
    markdown = reports.render_markdown(data)
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(markdown)

    headings = [
        (t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"
    ]
    # title, response rates, 4 areas x (1 + 4 questions x (1 + 3 prompts)), summary
    assert len(headings) == 1 + 1 + 4 * (1 + 4 * 4) + 1
    assert headings[0][0] == "h1"
    assert sum(1 for tag, _ in headings if tag == "h1") == 1
    assert not any(
        t.type in {"html_block", "code_block", "fence", "blockquote_open", "hr"} for t in tokens
    )

    # Every table row has as many cells as its header.
    for i, token in enumerate(tokens):
        if token.type == "table_open":
            widths, cells = [], 0
            for inner in tokens[i + 1 :]:
                if inner.type == "table_close":
                    break
                if inner.type in {"th_open", "td_open"}:
                    cells += 1
                elif inner.type == "tr_close":
                    widths.append(cells)
                    cells = 0
            assert len(set(widths)) == 1, widths

    # The hostile answer is one bullet, its text shown literally.
    items = []
    for i, token in enumerate(tokens):
        if token.type == "list_item_open":
            inline = next(t for t in tokens[i:] if t.type == "inline")
            items.append("".join(LITERAL.get(c.type, c.content) for c in inline.children))
    assert len(items) == 3
    shown = items[0]
    for piece in ("# heading", "| pipe |", "=SUM(A1)", "---", "1. one", "indented", "<b>bold</b>"):
        assert piece in shown
    assert "*star*" in shown and "`tick`" in shown
    assert shown.endswith(" — <em>M | x, # Org</em>")  # our emphasis, their text
    assert items[2].startswith("> quote")

    sections = markdown_sections(markdown)
    where = (area_heading(MARR), question_heading(qi, 1), PROMPT_HEADINGS["working_well"])
    assert len(sections[where]) == 1 and "# heading" in sections[where][0]


# --- DOCX ----------------------------------------------------------------------------------------


def docx_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    texts = [p.text for p in document.paragraphs]
    for table in document.tables:
        texts += [cell.text for row in table.rows for cell in row.cells]
    properties = document.core_properties
    texts += [properties.author or "", properties.last_modified_by or "", properties.title or ""]
    return "\n".join(texts)


def test_docx_reads_like_the_markdown_with_a_chart(named: ReportData, qi):
    document = Document(io.BytesIO(reports.render_docx(named)))
    paragraphs = [(p.style.name, p.text) for p in document.paragraphs]
    assert paragraphs[0] == ("Title", qi.title)

    headings1 = [text for style, text in paragraphs if style == "Heading 1"]
    assert headings1 == [
        "Response rates",
        *(area_heading(a) for a in AREAS),
        "Partnership summary",
        "Change since the previous cycle",
    ]
    headings2 = [text for style, text in paragraphs if style == "Heading 2"]
    assert headings2 == [question_heading(qi, n) for _ in AREAS for n in QUESTIONS]

    # Every answer's text, as a bullet under its area, question and prompt, in order.
    found: list[tuple[str, str, str, str]] = []
    h1 = h2 = h3 = ""
    for style, text in paragraphs:
        if style == "Heading 1":
            h1 = text
        elif style == "Heading 2":
            h2 = text
        elif style == "Heading 3":
            h3 = text
        elif style == "List Bullet":
            found.append((h1, h2, h3, text))
    expected = []
    for area in AREAS:
        for number in QUESTIONS:
            rows = [r for r in ANSWERS_2024 if r[0] == area and r[1] == number]
            for index, key in enumerate(("working_well", "evidence", "priorities")):
                expected += [
                    (
                        area_heading(area),
                        question_heading(qi, number),
                        PROMPT_HEADINGS[key],
                        attributed(r[3 + index], r[6], r[7]),
                    )
                    for r in rows
                    if r[3 + index]
                ]
    assert found == expected

    summary_table = document.tables[1]
    assert [c.text for c in summary_table.rows[0].cells] == ["Question", *AREAS, "All areas"]
    assert summary_table.rows[1].cells[1].text == "satisfactory (3, n=3)"
    change_table = document.tables[2]
    assert change_table.rows[2].cells[1].text == "3 → 2 (-1)"

    pictures = document.inline_shapes
    assert len(pictures) == 1 and pictures[0].type == WD_INLINE_SHAPE.PICTURE
    assert document.core_properties.author == "partnerbot"


def test_docx_keeps_hostile_and_unprintable_text_as_text(qi):
    text = "# heading\x00\x07 | pipe | =SUM(A1)"
    data = ReportData(cycle(qi, id=13), (Answer(MARR, 1, 4, {"working_well": text}, "A", "B"),))
    document = Document(io.BytesIO(reports.render_docx(data)))
    bullets = [p.text for p in document.paragraphs if p.style.name == "List Bullet"]
    assert bullets == ["# heading | pipe | =SUM(A1) — A, B"]


# --- PNG -----------------------------------------------------------------------------------------


def test_chart_is_a_png_that_reads_back(named: ReportData):
    png = reports.render_chart(named)
    assert png.startswith(PNG) and len(png) > 1000
    pixels = imread(io.BytesIO(png), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] >= 400 and pixels.shape[1] >= 600
    assert reports.render_chart(named) == png  # same data, same picture
    without_previous = ReportData(named.cycle, named.answers)
    assert reports.render_chart(without_previous) != png  # the previous medians are drawn

    one_area = reports.render_chart(named, area=MARR)
    assert one_area.startswith(PNG) and one_area != png
    empty = reports.render_chart(ReportData(named.cycle, ()))
    assert imread(io.BytesIO(empty), format="png").ndim == 3


def test_chart_and_markdown_take_odd_area_names(qi):
    odd = "Buchan $x^$ | #1"
    facts = cycle(qi, id=14)
    data = ReportData(
        CycleFacts(**{**{f: getattr(facts, f) for f in facts.__slots__}, "areas": (odd,)}),
        (Answer(odd, 1, 4, {"working_well": "Fine."}),),
    )
    assert reports.render_chart(data).startswith(PNG)
    sections = markdown_sections(reports.render_markdown(data))
    assert sections[(area_heading(odd), question_heading(qi, 1), PROMPT_HEADINGS["working_well"])]


# --- chat view -----------------------------------------------------------------------------------


def test_chat_view_is_short_with_the_chart_and_export_buttons(named: ReportData):
    view = reports.report_view(named)
    assert isinstance(view.blocks[0], Heading)
    facts = next(b for b in view.blocks if isinstance(b, Facts))
    assert [label for label, _ in facts.items] == list(AREAS)
    assert dict(facts.items)[MARR] == "3 of 10 (30%)"
    lines = [
        item for b in view.blocks if hasattr(b, "items") and b is not facts for item in b.items
    ]
    assert f"{MARR}: satisfactory (3, n=3), +1 since last cycle" in lines
    assert f"{MARR}: weak (2, n=3), -1 since last cycle" in lines
    texts = [getattr(b, "text", "") for b in view.blocks]
    priorities = sum(1 for row in ANSWERS_2024 if row[5])
    assert priorities == 12
    assert (
        f"{priorities} improvement priorities written; the full text is in the Markdown and Word "
        "reports." in texts
    )
    image = next(b for b in view.blocks if isinstance(b, Image))
    assert image.data.startswith(PNG)
    actions = next(b for b in view.blocks if isinstance(b, Actions))
    assert [b.command for b in actions.buttons] == [
        "checkin report format=md",
        "checkin report format=docx",
        "checkin report format=csv",
        "checkin report format=png",
        "checkin priorities",
    ]
    one_area = reports.report_view(named, area=KM)
    buttons = next(b for b in one_area.blocks if isinstance(b, Actions)).buttons
    assert buttons[0].command == 'checkin report format=md area="Kincardine and Mearns"'
    assert buttons[-1].command == 'checkin priorities area="Kincardine and Mearns"'
    assert "Aileen Gordon" not in repr(view)  # answers' texts and names stay in the exports
