from datetime import date, time, timedelta

import pytest

from dialogs.grammar import COMMANDS
from dialogs.parser import MemberRef, UsageError, parse, tokenize


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("help", "help", {}),
        ("HELP Meetings", "help", {"topic": "Meetings"}),
        ("me", "me", {}),
        ("me area Kincardine and Mearns", "me area", {"area": "Kincardine and Mearns"}),
        ("me org St Mary's Centre", "me org", {"organisation": "St Mary's Centre"}),
        ("me tz Australia/Melbourne", "me tz", {"zone": "Australia/Melbourne"}),
        (
            "role <@U123|jane> coordinator",
            "role",
            {"member": MemberRef(user_id="U123"), "role": "coordinator"},
        ),
        ("role @Jane expert", "role", {"member": MemberRef(name="Jane"), "role": "expert"}),
        ("experts trauma", "experts", {"topic": "trauma"}),
        (
            "expert add <@29:1abc> Drug and alcohol addiction",
            "expert add",
            {"member": MemberRef(user_id="29:1abc"), "topic": "Drug and alcohol addiction"},
        ),
        ("partner add Old Org past", "partner add", {"name": "Old Org", "past": True}),
        (
            "checkin start qi-3.2 questions=1,3,4,7 areas=all closes=2026-03-31 anonymous",
            "checkin start",
            {
                "framework": "qi-3.2",
                "questions": (1, 3, 4, 7),
                "areas": ("all",),
                "closes": date(2026, 3, 31),
                "anonymous": True,
            },
        ),
        (
            "checkin report area=Marr format=docx",
            "checkin report",
            {"area": "Marr", "format": "docx"},
        ),
        (
            'meeting schedule "Marr forum" 2026-05-12 10:30 area=Marr where="Town Hall, Inverurie" '
            "duration=1h30m repeat=twice-yearly remind=7d,1d,1h",
            "meeting schedule",
            {
                "title": "Marr forum",
                "date": date(2026, 5, 12),
                "time": time(10, 30),
                "area": ("Marr",),
                "where": "Town Hall, Inverurie",
                "duration": timedelta(minutes=90),
                "repeat": "twice-yearly",
                "remind": (timedelta(days=7), timedelta(days=1), timedelta(hours=1)),
            },
        ),
        ("meeting 12", "meeting", {"id": 12}),
        ("meeting cancel 12", "meeting cancel", {"id": 12}),
        ("rsvp 4 Maybe", "rsvp", {"id": 4, "answer": "maybe"}),
        (
            "practice search family learning tag=numeracy",
            "practice search",
            {"words": "family learning", "tag": "numeracy"},
        ),
        ("practice 7", "practice", {"id": 7}),
        (
            "action add \u201cShare the report with LLCP leads\u201d due=2026-06-01",
            "action add",
            {"text": "Share the report with LLCP leads", "due": date(2026, 6, 1)},
        ),
        ("risk venue=closed for refurbishment", "risk", {"text": "venue=closed for refurbishment"}),
        ("/partner areas", "areas", {}),
    ],
)
def test_parses_the_grammar(text, name, args):
    command = parse(text)
    assert command.name == name
    assert command.args == {**{flag: False for flag in command.spec.flags}, **args}


@pytest.mark.parametrize(
    ("text", "problem", "usage"),
    [
        ("", "there was nothing to do", None),
        ("frobnicate", "I don't know the command `frobnicate`", None),
        ("hepl", "Did you mean `help`?", None),
        ("me area", "`me area` needs the area", "me area <area>"),
        (
            "role @jane boss",
            "the role must be one of member, coordinator, expert, manager, not `boss`",
            "role <@member> member|coordinator|expert|manager [area=<area>]",
        ),
        ("role jane coordinator", "name the member with an @mention, not `jane`", None),
        ("meeting twelve", "the id must be a whole number, not `twelve`", "meeting <id>"),
        (
            "checkin start qi-3.2 questions=1,x",
            "questions= takes numbers separated by commas",
            None,
        ),
        ("checkin start qi-3.2 questions=1,1", "lists a number twice", None),
        ("checkin start qi-3.2 closes=31/03/2026", "`31/03/2026` is not a date", None),
        ("checkin start qi-3.2 colour=blue", "`colour=` is not an option of `checkin start`", None),
        (
            "checkin report format=pdf",
            "the md|csv|docx|png must be one of md, csv, docx, png",
            None,
        ),
        ('meeting schedule "Forum" 2026-05-12 25:00', "`25:00` is not a time", None),
        ('meeting schedule "Forum 2026-05-12 10:00', "a quotation mark is not closed", None),
        ('meeting schedule "F" 2026-05-12 10:00 duration=forever', "is not a duration", None),
        ('meeting schedule "F" 2026-05-12 10:00 remind=7w', "is not a reminder offset", None),
        ("mydata", "`mydata` needs one of: export, delete", None),
        ("me tz Europe/London extra", "I didn't expect `extra` after `me tz`", None),
        ("x" * 5000, "that is too long", None),
    ],
)
def test_bad_input_says_what_was_wrong(text, problem, usage):
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert problem in caught.value.problem
    if usage is not None:
        assert caught.value.usage == usage


def test_curly_quotes_group_words_and_apostrophes_are_letters():
    assert [t.text for t in tokenize("say \u201chello there\u201d to St Mary's")] == [
        "say",
        "hello there",
        "to",
        "St",
        "Mary's",
    ]


def test_every_command_has_a_unique_path_and_a_usage_line():
    paths = [spec.path for spec in COMMANDS]
    assert len(paths) == len(set(paths))
    for spec in COMMANDS:
        assert spec.usage.startswith(spec.name)
