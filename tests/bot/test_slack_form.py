"""bot/slack.py ``form_fields``: the few fields the quick ack reads from a slash command's form,
exactly as the whole form decoded by ``parse_qsl`` (what bolt reads) has them."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote_plus

from hypothesis import given
from hypothesis import strategies as st

from bot.slack import form_fields

NAMES = frozenset({"command", "ssl_check", "team_id"})
names = st.sampled_from(sorted(NAMES | {"text", "token", "response_url", "team", "x"}))
values = st.text(max_size=30)


@given(
    pairs=st.lists(st.tuples(names, values), max_size=12),
    spaces_as_plus=st.booleans(),
)
def test_the_fields_are_those_the_whole_form_decodes_to(pairs, spaces_as_plus):
    encode = quote_plus if spaces_as_plus else (lambda v: quote_plus(v).replace("+", "%20"))
    body = "&".join(f"{name}={encode(value)}" for name, value in pairs)
    decoded = dict(parse_qsl(body, keep_blank_values=True))
    assert form_fields(body, NAMES) == {k: v for k, v in decoded.items() if k in NAMES}


def test_a_field_without_a_value_is_there_and_empty():
    assert form_fields("ssl_check&command=%2Fpartner&team_id=", NAMES) == {
        "ssl_check": "",
        "command": "/partner",
        "team_id": "",
    }
