"""Hostile input to the command parser, as properties (hypothesis): whatever a member types is
either a command or a usage error that says what was wrong, never anything else; a command
written the way the grammar says comes back as the arguments it was written with."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dialogs.grammar import COMMANDS, CommandSpec, Kind
from dialogs.parser import MAX_INPUT, Command, MemberRef, UsageError, parse

FIRST_WORDS = sorted({spec.path[0] for spec in COMMANDS})
OPTION_NAMES = sorted({option.name for spec in COMMANDS for option in spec.options})
FLAGS = sorted({flag for spec in COMMANDS for flag in spec.flags})
QUOTES = '"\u201c\u201d\u201e\u00ab\u00bb'

# Words that look like the grammar's: command words, options with odd values, mentions, quotes,
# numbers in other scripts (superscripts, Arabic-Indic digits) and the kinds of white space
# people paste.
grammar_words = st.one_of(
    st.sampled_from(FIRST_WORDS + [w for spec in COMMANDS for w in spec.path[1:]] + FLAGS),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(OPTION_NAMES), st.text(max_size=12)),
    st.builds(lambda u: f"<@{u}>", st.text(max_size=10)),
    st.sampled_from(
        ["²", "\u0661\u0662", "0", "999999999", "1" * 12, "2026-02-30", "24:00", "1h99m"]
    ),
    st.sampled_from([*QUOTES, "'", "/", "/partner", "@", "<@>", "=", ",", "all"]),
    st.text(max_size=15),
)
separators = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u3000"])
grammar_like = st.lists(st.tuples(grammar_words, separators), max_size=12).map(
    lambda parts: "".join(word + sep for word, sep in parts)
)


def parses_or_says_why(text: str) -> Command | UsageError:
    try:
        return parse(text)
    except UsageError as error:
        assert error.problem.strip(), f"a usage error with no message for {text!r}"
        assert error.usage is None or error.usage.startswith(error.spec.path[0])
        return error


@given(st.text(max_size=300))
@example("meeting ²")
@example("checkin start x questions=1,²")
@example("rsvp \u0661 yes")
@example('"')
@example("/")
@example("/partner")
def test_any_text_is_a_command_or_a_usage_error(text):
    parses_or_says_why(text)


@given(grammar_like)
def test_text_that_looks_like_the_grammar_is_a_command_or_a_usage_error(text):
    result = parses_or_says_why(text)
    if isinstance(result, Command):
        # Only words of the grammar start a command.
        words = text.split()
        first = words[1] if words[0].startswith("/") and len(words) > 1 else words[0]
        assert first.casefold().lstrip("/").strip(QUOTES) in FIRST_WORDS


@given(st.text(min_size=1, max_size=20).filter(str.strip), st.integers(1, 3))
def test_text_over_the_bound_is_refused_with_its_length(word, extra):
    text = "help " + word * (MAX_INPUT // len(word) + extra)
    with pytest.raises(UsageError) as refused:
        parse(text)
    assert f"the most is {MAX_INPUT}" in refused.value.problem


def test_digits_that_are_not_ascii_are_a_usage_error_not_a_crash():
    # "²".isdigit() is true, but int("²") raises ValueError.
    with pytest.raises(UsageError, match="must be a whole number, not `²`"):
        parse("meeting ²")
    with pytest.raises(UsageError, match="takes numbers separated by commas"):
        parse("checkin start qi-3.2 questions=1,²")
    with pytest.raises(UsageError, match="must be a whole number"):
        parse("rsvp \u0661 yes")


# -- round trip: a command written as the grammar says parses back to what was written ---------

RESERVED = {w.casefold() for w in FLAGS} | {w.casefold() for spec in COMMANDS for w in spec.path}
word_chars = st.characters(
    min_codepoint=0x21,
    max_codepoint=0x2FFF,
    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
    blacklist_characters=QUOTES + "=",
)
words = st.text(word_chars, min_size=1, max_size=12).filter(
    lambda w: w.casefold() not in RESERVED and not w.isspace() and w == w.strip()
)
list_names = st.text(word_chars.filter(lambda c: c != ","), min_size=1, max_size=10).filter(
    lambda w: w.casefold() not in RESERVED and w == w.strip()
)
user_ids = st.text(st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789:"), min_size=2, max_size=12)


def value_of(kind: Kind, choices: tuple[str, ...], *, quoted: bool) -> st.SearchStrategy:
    """(text as typed, value the parser should give) for one parameter or option."""
    match kind:
        case Kind.WORD if quoted:
            return st.lists(words, min_size=1, max_size=4).map(
                lambda ws: ('"' + " ".join(ws) + '"', " ".join(ws))
            )
        case Kind.WORD:
            return words.map(lambda w: (w, w))
        case Kind.TEXT:
            return st.lists(words, min_size=1, max_size=5).map(lambda ws: (" ".join(ws),) * 2)
        case Kind.INT:
            return st.integers(0, 999_999_999).map(lambda n: (str(n), n))
        case Kind.CHOICE:
            return st.sampled_from(choices).map(lambda c: (c.upper(), c))
        case Kind.MEMBER:
            return st.one_of(
                user_ids.map(lambda u: (f"<@{u}>", MemberRef(user_id=u))),
                user_ids.map(lambda u: (f"<@{u}|{u.lower()}>", MemberRef(user_id=u))),
                words.filter(lambda w: ">" not in w and not w.startswith("<@")).map(
                    lambda w: (f"@{w}", MemberRef(name=w))
                ),
            )
        case Kind.DATE:
            return st.dates(date(1000, 1, 1), date(9999, 12, 31)).map(lambda d: (d.isoformat(), d))
        case Kind.TIME:
            return st.times().map(lambda t: (f"{t.hour}:{t.minute:02d}", time(t.hour, t.minute)))
        case Kind.INT_LIST:
            return st.lists(st.integers(0, 99_999), min_size=1, max_size=6, unique=True).map(
                lambda ns: (",".join(map(str, ns)), tuple(ns))
            )
        case Kind.NAME_LIST:
            return st.lists(list_names, min_size=1, max_size=4).map(
                lambda ns: (",".join(ns), tuple(ns))
            )
        case Kind.DURATION:
            return st.integers(1, 24 * 60).map(
                lambda m: (f"{m // 60}h{m % 60}m" if m > 999 else f"{m}m", timedelta(minutes=m))
            )
        case Kind.OFFSETS:
            unit = {"d": "days", "h": "hours", "m": "minutes"}
            offsets = st.tuples(st.integers(0, 999), st.sampled_from("dhm"))
            return st.lists(offsets, min_size=1, max_size=4).map(
                lambda os: (
                    ",".join(f"{n}{u}" for n, u in os),
                    tuple(timedelta(**{unit[u]: n}) for n, u in os),
                )
            )
    raise AssertionError(kind)


@st.composite
def written_commands(draw: Any, spec: CommandSpec) -> tuple[str, dict[str, Any]]:
    parts = list(spec.path)
    expected: dict[str, Any] = {flag: False for flag in spec.flags}
    for param in spec.params:
        if param.optional and draw(st.booleans()):
            break  # positional: once one is left out, so are the ones after it
        typed, value = draw(value_of(param.kind, param.choices, quoted=param.quoted))
        parts.append(typed)
        expected[param.name] = value
    for option in draw(st.permutations(spec.options)):
        if draw(st.booleans()):
            typed, value = draw(value_of(option.kind, option.choices, quoted=False))
            parts.append(f"{option.name.upper()}={typed}")
            expected[option.name] = value
    for flag in spec.flags:
        if draw(st.booleans()):
            parts.append(flag)
            expected[flag] = True
    return " ".join(parts), expected


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda spec: spec.name)
@settings(max_examples=15)  # per command: some 60 commands
@given(data=st.data())
def test_a_command_written_as_the_grammar_says_parses_back(spec, data):
    text, expected = data.draw(written_commands(spec))
    command = parse(text)
    assert command.spec == spec
    assert command.args == expected
