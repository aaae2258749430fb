"""Turn what a member typed into a command, or say exactly what was wrong and how to say it."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from dialogs.grammar import COMMANDS, CommandSpec, Kind, Option, Param

MAX_INPUT = 4000
_QUOTES = {'"', "\u201c", "\u201d", "\u201e", "\u00ab", "\u00bb"}
_MENTION = re.compile(r"<@([^>|\s]+)(?:\|[^>]*)?>")
_DURATION = re.compile(r"^(?:(\d{1,2})h)?(?:(\d{1,3})m)?$")
_OFFSET = re.compile(r"^(\d{1,3})([dhm])$")


def _is_number(text: str) -> bool:
    # ASCII only: "²".isdigit() is true, but int("²") raises.
    return text.isascii() and text.isdigit()


class UsageError(Exception):
    """What was wrong, and (when a command was recognised) its usage line."""

    def __init__(self, problem: str, spec: CommandSpec | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.spec = spec

    @property
    def usage(self) -> str | None:
        return None if self.spec is None else self.spec.usage


@dataclass(frozen=True, slots=True)
class MemberRef:
    """Someone named in a command: by platform mention (``user_id``) or by name (console)."""

    user_id: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        return f"<@{self.user_id}>" if self.user_id else f"@{self.name}"


@dataclass(frozen=True, slots=True)
class Command:
    spec: CommandSpec
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def get(self, name: str, default: Any = None) -> Any:
        return self.args.get(name, default)


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    quoted: bool


def tokenize(text: str) -> list[_Token]:
    """Split on white space; double quotes (straight or curly) group words. Apostrophes are
    letters here ("St Mary's"), not quotes."""
    tokens: list[_Token] = []
    current: list[str] = []
    in_quotes = False
    quoted = False
    started = False
    for char in text:
        if char in _QUOTES:
            # Only a token that opens with a quote is "quoted": where="Town Hall" is an option.
            quoted = quoted or not started
            in_quotes = not in_quotes
            started = True
        elif char.isspace() and not in_quotes:
            if started:
                tokens.append(_Token("".join(current), quoted))
            current, quoted, started = [], False, False
        else:
            current.append(char)
            started = True
    if in_quotes:
        raise UsageError("a quotation mark is not closed")
    if started:
        tokens.append(_Token("".join(current), quoted))
    return tokens


_BY_PATH: dict[tuple[str, ...], CommandSpec] = {spec.path: spec for spec in COMMANDS}
_FIRST_WORDS = sorted({spec.path[0] for spec in COMMANDS})


def parse(text: str) -> Command:
    text = text.strip()
    if not text:
        raise UsageError("there was nothing to do. Try `help`.")
    if len(text) > MAX_INPUT:
        raise UsageError(f"that is too long ({len(text)} characters; the most is {MAX_INPUT}).")
    tokens = tokenize(text)
    if not tokens:
        raise UsageError("there was nothing to do. Try `help`.")
    first = tokens[0].text.casefold()
    if first.startswith("/"):
        # "/partner help" typed where the slash command isn't registered: drop the prefix.
        if len(tokens) > 1 and tokens[1].text.casefold() in _FIRST_WORDS:
            tokens = tokens[1:]
            first = tokens[0].text.casefold()
        first = first.lstrip("/")
    if first not in _FIRST_WORDS:
        guess = difflib.get_close_matches(first, _FIRST_WORDS, n=1)
        hint = f"Did you mean `{guess[0]}`?" if guess else "Try `help`."
        raise UsageError(f"I don't know the command `{tokens[0].text}`. {hint}")
    spec = None
    rest = tokens[1:]
    if rest and not rest[0].quoted:
        spec = _BY_PATH.get((first, rest[0].text.casefold()))
        if spec is not None:
            rest = rest[1:]
    if spec is None:
        spec = _BY_PATH.get((first,))
    if spec is None:
        subcommands = [s.path[1] for s in COMMANDS if s.path[0] == first and len(s.path) > 1]
        given = f" `{rest[0].text}`" if rest else ""
        raise UsageError(
            f"`{first}` needs one of: {', '.join(subcommands)}, not{given or ' nothing'}.",
            _BY_PATH.get((first, subcommands[0])),
        )
    return Command(spec, _bind(spec, rest))


def _bind(spec: CommandSpec, tokens: list[_Token]) -> dict[str, Any]:
    options = {option.name: option for option in spec.options}
    args: dict[str, Any] = {}
    positional: list[_Token] = []
    for token in tokens:
        key, sep, value = token.text.partition("=")
        if sep and not token.quoted and key.casefold() in options:
            option = options[key.casefold()]
            if option.name in args:
                raise UsageError(f"`{option.name}=` is given twice.", spec)
            args[option.name] = _convert(spec, option, value)
        elif token.text.casefold() in spec.flags and not token.quoted:
            args[token.text.casefold()] = True
        else:
            positional.append(token)
    for flag in spec.flags:
        args.setdefault(flag, False)

    index = 0
    for param in spec.params:
        if param.kind is Kind.TEXT:
            words = [token.text for token in positional[index:]]
            index = len(positional)
            value = " ".join(words).strip()
            if not value:
                if param.optional:
                    continue
                raise UsageError(f"`{spec.name}` needs the {param.placeholder}.", spec)
            args[param.name] = value
            continue
        if index >= len(positional):
            if param.optional:
                continue
            raise UsageError(f"`{spec.name}` needs the {param.placeholder}.", spec)
        args[param.name] = _convert(spec, param, positional[index].text)
        index += 1
    if index < len(positional):
        extra = positional[index].text
        if "=" in extra and not positional[index].quoted:
            known = ", ".join(f"{name}=" for name in options) or "no options"
            raise UsageError(
                f"`{extra.partition('=')[0]}=` is not an option of `{spec.name}` "
                f"(it takes {known}).",
                spec,
            )
        raise UsageError(f"I didn't expect `{extra}` after `{spec.name}`.", spec)
    return args


def _convert(spec: CommandSpec, param: Param | Option, raw: str) -> Any:
    label = param.placeholder
    kind = param.kind
    if kind is Kind.WORD:
        if not raw.strip():
            raise UsageError(f"the {label} is empty.", spec)
        return raw.strip()
    if kind is Kind.INT:
        if not _is_number(raw) or len(raw) > 9:
            if isinstance(param, Option):
                raise UsageError(f"{param.name}= takes a whole number, not `{raw}`.", spec)
            raise UsageError(f"the {label} must be a whole number, not `{raw}`.", spec)
        return int(raw)
    if kind is Kind.CHOICE:
        value = raw.casefold()
        if value not in param.choices:
            raise UsageError(
                f"the {label} must be one of {', '.join(param.choices)}, not `{raw}`.", spec
            )
        return value
    if kind is Kind.MEMBER:
        mention = _MENTION.fullmatch(raw)
        if mention:
            return MemberRef(user_id=mention.group(1))
        if raw.startswith("@") and len(raw) > 1:
            return MemberRef(name=raw[1:])
        raise UsageError(f"name the member with an @mention, not `{raw}`.", spec)
    if kind is Kind.DATE:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
                raise ValueError
            return date.fromisoformat(raw)
        except ValueError:
            raise UsageError(f"`{raw}` is not a date; write it as YYYY-MM-DD.", spec) from None
    if kind is Kind.TIME:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", raw)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise UsageError(f"`{raw}` is not a time; write it as HH:MM (24-hour).", spec)
        return time(int(match.group(1)), int(match.group(2)))
    if kind is Kind.INT_LIST:
        parts = [part.strip() for part in raw.split(",")]
        if not raw or not all(_is_number(part) and len(part) < 6 for part in parts):
            raise UsageError(
                f"{param.name}= takes numbers separated by commas, like {label}, not `{raw}`.", spec
            )
        numbers = tuple(int(part) for part in parts)
        if len(set(numbers)) != len(numbers):
            raise UsageError(f"{param.name}= lists a number twice.", spec)
        return numbers
    if kind is Kind.NAME_LIST:
        names = tuple(part.strip() for part in raw.split(",") if part.strip())
        if not names:
            raise UsageError(f"{param.name}= needs a name, or `all`.", spec)
        return names
    if kind is Kind.DURATION:
        match = _DURATION.fullmatch(raw.casefold())
        minutes = 0
        if match and any(match.groups()):
            minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
        if not 0 < minutes <= 24 * 60:
            raise UsageError(f"`{raw}` is not a duration; write it like 90m or 1h30m.", spec)
        return timedelta(minutes=minutes)
    if kind is Kind.OFFSETS:
        offsets = []
        for part in raw.casefold().split(","):
            match = _OFFSET.fullmatch(part.strip())
            if not match:
                raise UsageError(
                    f"`{part}` is not a reminder offset; write them like 7d,1d,1h.", spec
                )
            amount, unit = int(match.group(1)), match.group(2)
            offsets.append(timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount}))
        return tuple(offsets)
    raise AssertionError(f"unhandled kind {kind}")  # pragma: no cover
