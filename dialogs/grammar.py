"""The text grammar of DESIGN.md as data: one spec per command. Help and usage come from here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    WORD = "word"  # one token
    TEXT = "text"  # the rest of the line
    INT = "int"
    MEMBER = "member"  # <@id> mention or @name
    CHOICE = "choice"
    DATE = "date"  # YYYY-MM-DD
    TIME = "time"  # HH:MM
    INT_LIST = "int_list"  # 1,3,4,7
    NAME_LIST = "name_list"  # a,b or all
    DURATION = "duration"  # 90m, 1h30m, 2h
    OFFSETS = "offsets"  # 7d,1d,1h


class Role(StrEnum):
    MEMBER = "member"
    COORDINATOR = "coordinator"
    EXPERT = "expert"
    MANAGER = "manager"


class Who(StrEnum):
    """Who may run a command (dialogs/permissions.py decides, in one place)."""

    ANYONE = "anyone"  # every member of the partnership
    # Partnership coordinators, and an area's coordinators for their own area (the handler
    # asks dialogs/permissions.py about the area it acts on).
    COORDINATORS = "coordinators"
    PARTNERSHIP = "partnership coordinators"  # areas and roles: the whole partnership's
    LEADS = "coordinators and programme managers"  # reports and priorities (an area's, or all)
    OVERSIGHT = "partnership coordinators and programme managers"  # the audit trail


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: Kind
    placeholder: str
    optional: bool = False
    choices: tuple[str, ...] = ()
    quoted: bool = False  # shown as "<title>" in usage


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    kind: Kind
    placeholder: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandSpec:
    path: tuple[str, ...]
    summary: str
    topic: str
    params: tuple[Param, ...] = ()
    options: tuple[Option, ...] = ()
    flags: tuple[str, ...] = ()
    who: Who = Who.ANYONE
    # Commands that buttons send (with the card's inputs); not listed in help.
    hidden: bool = False
    # The handler writes nothing, or writes only once nothing can refuse it any more: it runs
    # without the savepoint that lets a refusal undo a command's writes (two statements a
    # turn). The hottest commands: help, a check-in answer, a skip.
    refuses_before_writing: bool = False

    @property
    def name(self) -> str:
        return " ".join(self.path)

    @property
    def coordinator_only(self) -> bool:
        return self.who is not Who.ANYONE

    @property
    def usage(self) -> str:
        parts = list(self.path)
        for param in self.params:
            shown = f'"<{param.placeholder}>"' if param.quoted else f"<{param.placeholder}>"
            if param.kind is Kind.CHOICE:
                shown = "|".join(param.choices)
            parts.append(f"[{shown}]" if param.optional else shown)
        parts += [f"[{option.name}=<{option.placeholder}>]" for option in self.options]
        parts += [f"[{flag}]" for flag in self.flags]
        return " ".join(parts)


ROLES = tuple(role.value for role in Role)
FORMATS = ("md", "csv", "docx", "png")
REPEATS = ("twice-yearly", "termly", "yearly")
RSVPS = ("yes", "no", "maybe")
PRACTICE_KINDS = ("idea", "story", "resource", "document")

_AREA = Option("area", Kind.WORD, "area")

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        ("help",),
        "what I can do, or more on one topic",
        "start",
        (Param("topic", Kind.WORD, "topic", optional=True),),
        refuses_before_writing=True,
    ),
    # -- directory --------------------------------------------------------------------------
    CommandSpec(("me",), "your profile: area, organisation, time zone, roles", "directory"),
    CommandSpec(
        ("me", "area"), "set the area you work in", "directory", (Param("area", Kind.TEXT, "area"),)
    ),
    CommandSpec(
        ("me", "org"),
        "set your organisation",
        "directory",
        (Param("organisation", Kind.TEXT, "organisation"),),
    ),
    CommandSpec(
        ("me", "tz"),
        "set your time zone (e.g. Europe/London)",
        "directory",
        (Param("zone", Kind.WORD, "IANA zone"),),
    ),
    CommandSpec(("areas",), "the partnership's areas and their members", "directory"),
    CommandSpec(
        ("area", "add"),
        "add an area",
        "directory",
        (Param("name", Kind.TEXT, "name"),),
        who=Who.PARTNERSHIP,
    ),
    CommandSpec(
        ("role",),
        "give a member a role; coordinator area=<area> makes them that area's coordinator",
        "directory",
        (
            Param("member", Kind.MEMBER, "@member"),
            Param("role", Kind.CHOICE, "role", choices=ROLES),
        ),
        (_AREA,),
        who=Who.PARTNERSHIP,
    ),
    CommandSpec(
        ("experts",),
        "find subject-matter experts",
        "directory",
        (Param("topic", Kind.TEXT, "topic", optional=True),),
    ),
    CommandSpec(
        ("expert", "add"),
        "record a member's expertise",
        "directory",
        (Param("member", Kind.MEMBER, "@member"), Param("topic", Kind.TEXT, "topic")),
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("me", "expertise"),
        "list a topic you can advise on (e.g. family violence and trauma)",
        "directory",
        (Param("topic", Kind.TEXT, "topic"),),
    ),
    CommandSpec(("partners",), "the directory of organisations, current and past", "directory"),
    CommandSpec(
        ("partner", "add"),
        "add an organisation to the directory",
        "directory",
        (Param("name", Kind.TEXT, "organisation"),),
        flags=("past",),
        who=Who.COORDINATORS,
    ),
    # -- check-ins --------------------------------------------------------------------------
    CommandSpec(("checkin",), "resume your open check-in", "checkin"),
    CommandSpec(("checkin", "frameworks"), "the self-evaluation frameworks available", "checkin"),
    CommandSpec(
        ("checkin", "start"),
        "open a check-in cycle; anonymous ones hide areas with fewer than min= respondents "
        "(default 5)",
        "checkin",
        (Param("framework", Kind.WORD, "framework"),),
        (
            Option("questions", Kind.INT_LIST, "1,3,4,7"),
            Option("areas", Kind.NAME_LIST, "a,b|all"),
            Option("closes", Kind.DATE, "YYYY-MM-DD"),
            Option("min", Kind.INT, "n"),
        ),
        flags=("anonymous",),
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("checkin", "status"),
        "response rates and who is outstanding",
        "checkin",
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("checkin", "remind"),
        "nudge now who hasn't finished (nudged anyway 7 and 2 days before close)",
        "checkin",
        who=Who.COORDINATORS,
    ),
    CommandSpec(("checkin", "close"), "close the open cycle", "checkin", who=Who.COORDINATORS),
    CommandSpec(
        ("checkin", "answer"),
        "save an answer (the card's button)",
        "checkin",
        (Param("cycle", Kind.INT, "cycle"), Param("question", Kind.INT, "question")),
        hidden=True,
        refuses_before_writing=True,
    ),
    CommandSpec(
        ("checkin", "skip"),
        "skip a question",
        "checkin",
        (Param("cycle", Kind.INT, "cycle"), Param("question", Kind.INT, "question")),
        hidden=True,
        refuses_before_writing=True,
    ),
    CommandSpec(
        ("checkin", "edit"),
        "change an answer",
        "checkin",
        (Param("cycle", Kind.INT, "cycle"), Param("question", Kind.INT, "question")),
        hidden=True,
    ),
    CommandSpec(
        ("checkin", "later"), "stop for now; your answers are kept", "checkin", hidden=True
    ),
    CommandSpec(
        ("checkin", "report"),
        "the report of a cycle",
        "checkin",
        (),
        (_AREA, Option("format", Kind.CHOICE, "md|csv|docx|png", choices=FORMATS)),
        who=Who.LEADS,
    ),
    CommandSpec(
        ("checkin", "priorities"),
        "the improvement priorities of the latest cycle, to turn into actions",
        "checkin",
        (),
        (_AREA,),
        who=Who.LEADS,
    ),
    # -- meetings ---------------------------------------------------------------------------
    CommandSpec(
        ("meeting", "schedule"),
        "schedule a forum meeting or a series",
        "meetings",
        (
            Param("title", Kind.WORD, "title", quoted=True),
            Param("date", Kind.DATE, "YYYY-MM-DD"),
            Param("time", Kind.TIME, "HH:MM"),
        ),
        (
            Option("area", Kind.NAME_LIST, "area|all"),
            Option("where", Kind.WORD, "place or link"),
            Option("duration", Kind.DURATION, "90m"),
            Option("repeat", Kind.CHOICE, "twice-yearly|termly|yearly", choices=REPEATS),
            Option("remind", Kind.OFFSETS, "7d,1d,1h"),
        ),
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("meeting", "change"),
        "move a meeting or change its place or length (those going get a calendar update)",
        "meetings",
        (Param("id", Kind.INT, "id"),),
        (
            Option("date", Kind.DATE, "YYYY-MM-DD"),
            Option("time", Kind.TIME, "HH:MM"),
            Option("where", Kind.WORD, "place or link"),
            Option("duration", Kind.DURATION, "90m"),
        ),
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("meeting", "invite"),
        "invite every organisation, current and past; names those nobody there can be told at",
        "meetings",
        (Param("id", Kind.INT, "id"),),
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("area", "channel"),
        "announce an area's meetings in this channel",
        "meetings",
        (Param("area", Kind.TEXT, "area"),),
        who=Who.COORDINATORS,
    ),
    CommandSpec(("meetings",), "upcoming meetings and each area's standing", "meetings"),
    CommandSpec(("meeting",), "one meeting", "meetings", (Param("id", Kind.INT, "id"),)),
    CommandSpec(
        ("meeting", "cancel"),
        "cancel a meeting (those going get a calendar cancellation)",
        "meetings",
        (Param("id", Kind.INT, "id"),),
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("meeting", "attendance"),
        "who attended a meeting",
        "meetings",
        (Param("id", Kind.INT, "id"),),
    ),
    CommandSpec(
        ("meeting", "cadence"),
        "how often an area (or the whole partnership: all) should meet",
        "meetings",
        (Param("area", Kind.WORD, "area|all"), Param("per_year", Kind.WORD, "times-a-year|off")),
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("rsvp",),
        "answer a meeting invitation",
        "meetings",
        (Param("id", Kind.INT, "id"), Param("answer", Kind.CHOICE, "answer", choices=RSVPS)),
    ),
    CommandSpec(
        ("attend",),
        "check in to a meeting that is on now (coordinators: mark a member)",
        "meetings",
        (Param("id", Kind.INT, "id"), Param("member", Kind.MEMBER, "@member", optional=True)),
    ),
    # -- practice ---------------------------------------------------------------------------
    CommandSpec(
        ("practice", "share"),
        "record an idea, story, resource or document: a form, or all on one line with #tags",
        "practice",
        (
            Param("title", Kind.WORD, "title", optional=True, quoted=True),
            Param("text", Kind.TEXT, "text #tag #tag", optional=True),
        ),
        (
            Option("kind", Kind.CHOICE, "|".join(PRACTICE_KINDS), choices=PRACTICE_KINDS),
            _AREA,
            Option("link", Kind.WORD, "https://…"),
            Option("meeting", Kind.INT, "meeting id"),
        ),
    ),
    CommandSpec(
        ("practice", "edit"),
        "change a practice record you shared (the form), or the forum it was shared at",
        "practice",
        (Param("id", Kind.INT, "id"),),
        (Option("meeting", Kind.INT, "meeting id"),),
    ),
    CommandSpec(
        ("practice", "withdraw"),
        "take a practice record you shared out of the library",
        "practice",
        (Param("id", Kind.INT, "id"),),
    ),
    CommandSpec(("practice", "tags"), "the library's tags and how often each is used", "practice"),
    CommandSpec(
        ("practice", "tag"),
        "practice records with a tag",
        "practice",
        (Param("tag", Kind.WORD, "tag"),),
    ),
    CommandSpec(
        ("tag", "add"),
        "add a tag members can use on practice records",
        "practice",
        (Param("tag", Kind.WORD, "tag"),),
        who=Who.COORDINATORS,
    ),
    CommandSpec(
        ("practice", "save"),
        "save the practice form (the form's button)",
        "practice",
        (Param("id", Kind.INT, "id", optional=True),),
        hidden=True,
    ),
    CommandSpec(
        ("practice", "draft"),
        "a draft record from a chat message (the message shortcut)",
        "practice",
        hidden=True,
    ),
    CommandSpec(
        ("practice", "search"),
        "search the practice library",
        "practice",
        (Param("words", Kind.TEXT, "words"),),
        (Option("tag", Kind.WORD, "tag"), _AREA),
    ),
    CommandSpec(("practice", "recent"), "the newest practice records", "practice"),
    CommandSpec(("practice",), "one practice record", "practice", (Param("id", Kind.INT, "id"),)),
    # -- actions ----------------------------------------------------------------------------
    CommandSpec(("actions",), "the action plan", "actions", (), (_AREA,)),
    CommandSpec(
        ("action", "add"),
        "add an action-plan item",
        "actions",
        (Param("text", Kind.WORD, "text", quoted=True),),
        (
            Option("owner", Kind.MEMBER, "@member"),
            Option("due", Kind.DATE, "YYYY-MM-DD"),
            Option("area", Kind.WORD, "area"),
            Option("question", Kind.INT, "n"),
        ),
    ),
    CommandSpec(
        ("action", "edit"),
        "give an action to someone else or change its due date (its owner, or a coordinator)",
        "actions",
        (Param("id", Kind.INT, "id"),),
        (Option("owner", Kind.MEMBER, "@member"), Option("due", Kind.DATE, "YYYY-MM-DD")),
    ),
    CommandSpec(
        ("action", "done"), "mark an action done", "actions", (Param("id", Kind.INT, "id"),)
    ),
    # -- privacy and risk -------------------------------------------------------------------
    CommandSpec(
        ("risk",),
        "report a risk to delivery to the programme managers",
        "privacy",
        (Param("text", Kind.TEXT, "description of the risk"),),
    ),
    CommandSpec(
        ("mydata", "export"),
        "a copy of everything held about you, as a JSON file (in private)",
        "privacy",
    ),
    CommandSpec(
        ("mydata", "delete"),
        "erase your data: asks first; with confirm, erases at once (in private)",
        "privacy",
        flags=("confirm",),
    ),
    CommandSpec(
        ("audit",),
        "what coordinators did: cycles, roles, reports, erasures",
        "privacy",
        (),
        (
            Option(
                "action",
                Kind.WORD,
                "cycle opened|cycle closed|role changed|report exported|data erased|"
                "answers expired",
            ),
        ),
        who=Who.OVERSIGHT,
    ),
)

TOPICS: dict[str, str] = {
    "directory": "Your profile, areas, roles, partners and experts",
    "checkin": "Evaluation check-ins and their reports",
    "meetings": "Forum meetings, RSVPs and attendance",
    "practice": "The shared practice library",
    "actions": "The action plan",
    "privacy": "Your data, and reporting risks",
}

# Words people type for a topic.
TOPIC_ALIASES: dict[str, str] = {
    "me": "directory",
    "areas": "directory",
    "area": "directory",
    "role": "directory",
    "roles": "directory",
    "experts": "directory",
    "expert": "directory",
    "partners": "directory",
    "partner": "directory",
    "profile": "directory",
    "checkins": "checkin",
    "check-in": "checkin",
    "evaluation": "checkin",
    "report": "checkin",
    "meeting": "meetings",
    "forum": "meetings",
    "forums": "meetings",
    "rsvp": "meetings",
    "attend": "meetings",
    "library": "practice",
    "tag": "practice",
    "tags": "practice",
    "action": "actions",
    "mydata": "privacy",
    "risk": "privacy",
    "data": "privacy",
    "gdpr": "privacy",
    "erase": "privacy",
    "export": "privacy",
}


def topic_for(word: str) -> str | None:
    word = word.casefold()
    if word in TOPICS:
        return word
    return TOPIC_ALIASES.get(word)


def commands_in(topic: str) -> tuple[CommandSpec, ...]:
    return tuple(spec for spec in COMMANDS if spec.topic == topic and not spec.hidden)
