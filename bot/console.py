"""``partnerbot chat``: the same dialogs in a terminal, as a named local member."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TextIO

from bot.render_text import render_text
from dialogs.core import Partnerbot
from dialogs.messages import (
    ConversationAddress,
    ConversationKind,
    IncomingMessage,
    Platform,
    PlatformUser,
)

PROMPT = "you> "


def console_user(name: str | None) -> PlatformUser:
    display = (name or getpass.getuser()).strip()
    return PlatformUser(Platform.CONSOLE, "", display.casefold(), display)


async def chat(
    core: Partnerbot, *, name: str | None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    user = console_user(name)
    address = ConversationAddress(
        Platform.CONSOLE, "", f"console:{user.user_id}", ConversationKind.PERSONAL
    )
    interactive = stdin.isatty()
    if interactive:
        stdout.write(
            f"partnerbot console - you are {user.display_name}. Type `help`, or `quit` to leave.\n"
        )
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            break
        text = line.strip()
        if text.casefold() in {"quit", "exit"}:
            break
        if not text:
            continue
        replies = await core.handle(IncomingMessage(user, address, text))
        for reply in replies:
            stdout.write(indent(render_text(reply.view)) + "\n")
        stdout.flush()


def indent(text: str) -> str:
    return "\n".join(
        "bot> " + line if i == 0 else "     " + line for i, line in enumerate(text.splitlines())
    )
