"""partnerbot in Microsoft Teams, end to end: the Microsoft 365 Agents Playground plays the Teams
client and its Bot Connector, partnerbot runs as ``partnerbot serve``, and the test is the person
at the keyboard. It asserts what the Playground delivered to that person."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from tests.e2e.playground import Delivered, Partnerbot, Playground, PlaygroundUser, transcript

pytestmark = pytest.mark.e2e


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the user says, and what they must then see from the bot."""

    says: str
    sees: tuple[str, ...]
    buttons: tuple[str, ...] = ()

    def seen_in(self, replies: Sequence[Delivered]) -> bool:
        text = "\n".join(reply.visible for reply in replies)
        shown_buttons = {button for reply in replies for button in reply.buttons}
        return all(part in text for part in self.sees) and set(self.buttons) <= shown_buttons


CONVERSATION = (
    Exchange(
        "help",
        sees=(
            # The first person to talk to a fresh development install becomes its coordinator.
            "You're the first person to talk to this new partnerbot, so you're its coordinator.",
            "partnerbot",
            "directory",
            "checkin",
            "meetings",
            "practice",
        ),
        buttons=("Directory", "Checkin", "Meetings", "Practice"),
    ),
    Exchange("area add Marr", sees=("Added the area Marr.", "me area Marr")),
    Exchange("me area Unknown", sees=("There's no area called Unknown",)),
    Exchange("me area Marr", sees=("You're now in Marr.",)),
)


async def test_a_teams_user_installs_the_app_asks_for_help_and_joins_an_area(
    playground: Playground, partnerbot: Partnerbot
) -> None:
    def diagnostics() -> str:
        return f"{partnerbot.service.describe()}\n{playground.service.describe()}"

    async with PlaygroundUser(playground.base_url, diagnostics=diagnostics) as user:
        # Teams tells the bot when someone adds it, before they type anything.
        await user.install_app()
        welcome = await user.replies(
            0,
            until=lambda replies: any("Hello! I'm partnerbot" in r.visible for r in replies),
            what="the welcome on install",
        )
        assert {"Help", "My profile"} <= {b for r in welcome for b in r.buttons}, welcome

        # Teams sends no names with an install, only ids; the profile must still show the name
        # the user has in Teams.
        profile = Exchange("me", sees=("Your profile", user.name, "Marr", "coordinator"))
        for exchange in (*CONVERSATION, profile):
            since = len(user.delivered)
            await user.say(exchange.says)
            await user.replies(
                since, until=exchange.seen_in, what=f"the reply to {exchange.says!r}"
            )

        name = user.name
        sorry = [m for m in user.delivered if "Sorry, something went wrong" in m.visible]
        assert not sorry, transcript(user.delivered)

    with contextlib.closing(sqlite3.connect(partnerbot.database)) as db:
        members = db.execute(
            "SELECT members.display_name, areas.name FROM members"
            " LEFT JOIN areas ON areas.id = members.area_id"
        ).fetchall()
        roles = db.execute("SELECT role FROM roles").fetchall()
    assert members == [(name, "Marr")]
    assert roles == [("coordinator",)]
