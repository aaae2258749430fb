"""bot/slack.py before an ack: ``form_fields``, the few fields the quick ack reads from a slash
command's form, exactly as the whole form decoded by ``parse_qsl`` (what bolt reads) has them;
``SlackSignature``, the same decision on every request as slack_sdk's SignatureVerifier."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote_plus

from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict
from slack_sdk.signature import SignatureVerifier

from bot.slack import SlackSignature, form_fields

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


SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000


@given(
    body=st.text(max_size=200),
    skew=st.integers(min_value=-400, max_value=400),
    damage=st.sampled_from(["none", "signature", "body", "secret"]),
)
def test_the_signature_is_checked_as_slack_sdk_checks_it(body, skew, damage):
    timestamp = str(NOW + skew)
    signer = SignatureVerifier(SECRET if damage != "secret" else SECRET + "x", clock=Clock())
    signature = signer.generate_signature(timestamp=timestamp, body=body)
    if damage == "signature":
        signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    sent = body + "!" if damage == "body" else body
    headers = CIMultiDict({"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
    ours = SlackSignature(SECRET, clock=lambda: NOW).valid(sent, headers)
    assert ours == SignatureVerifier(SECRET, clock=Clock()).is_valid_request(sent, headers)
    assert ours == (damage == "none" and abs(skew) <= 300)


@given(timestamp=st.text(max_size=12), signature=st.text(max_size=80))
def test_any_header_is_refused_or_passed_without_an_error(timestamp, signature):
    headers = CIMultiDict({"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
    assert SlackSignature(SECRET, clock=lambda: NOW).valid("body", headers) is False


def test_a_request_without_the_headers_is_refused():
    assert SlackSignature(SECRET).valid("body", CIMultiDict()) is False


class Clock:
    def now(self) -> float:
        return NOW
