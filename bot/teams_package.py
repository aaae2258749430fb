"""The Teams app package: manifest.json and its two icons in a zip, ready to upload in Teams
(Apps > Manage your apps > Upload an app) or the Teams admin centre.

The manifest follows schema v1.24. Teams shows at most 10 commands per scope in its command menu,
so the lists below name the top-level commands; the rest are one ``help`` away.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from bot.teams import SAVE_ACTION, TASK_TITLE
from dialogs.grammar import COMMANDS, CommandSpec

MANIFEST_VERSION = "1.24"
SCHEMA_URL = (
    f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/"
    "MicrosoftTeams.schema.json"
)
ACCENT = "#2B6A99"
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
MAX_COMMANDS = 10  # per scope, Teams' own limit on the command menu

# What people mostly do in a chat with the bot, and in a team channel or group chat.
PERSONAL_COMMANDS = (
    ("help",),
    ("checkin",),
    ("meetings",),
    ("practice", "search"),
    ("practice", "share"),
    ("practice", "recent"),
    ("experts",),
    ("actions",),
    ("me",),
    ("mydata", "export"),
)
CHANNEL_COMMANDS = (
    ("help",),
    ("areas",),
    ("meetings",),
    ("meeting", "schedule"),
    ("checkin", "status"),
    ("practice", "search"),
    ("practice", "recent"),
    ("experts",),
    ("partners",),
    ("actions",),
)

_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class PackageError(ValueError):
    """The package cannot be built from these options; the message says which one to fix."""


@dataclass(frozen=True, slots=True)
class TeamsApp:
    app_id: str  # the Azure Bot's Microsoft App ID
    name: str
    host: str  # the public host name people's Teams clients reach the bot at
    developer: str = "partnerbot"
    version: str = "1.0.0"
    website_url: str = ""
    privacy_url: str = ""
    terms_url: str = ""

    @property
    def domain(self) -> str:
        return host_of(self.host)


def host_of(host: str) -> str:
    """``https://bot.example.org/`` and ``bot.example.org`` both mean ``bot.example.org``."""
    found = re.sub(r"^[A-Za-z]+://", "", host.strip()).split("/", 1)[0]
    if not found or " " in found:
        raise PackageError(f"--host must be a host name such as bot.example.org, not {host!r}")
    return found


def _commands(paths: tuple[tuple[str, ...], ...]) -> list[dict[str, str]]:
    by_path: dict[tuple[str, ...], CommandSpec] = {spec.path: spec for spec in COMMANDS}
    listed = []
    for path in paths[:MAX_COMMANDS]:
        spec = by_path[path]
        # The title is what Teams puts in the compose box, so it is the command itself.
        listed.append({"title": spec.name, "description": f"{spec.usage} - {spec.summary}"[:128]})
    return listed


def manifest(app: TeamsApp) -> dict[str, Any]:
    if not _GUID.match(app.app_id):
        raise PackageError(
            f"--app-id must be the Azure Bot's Microsoft App ID (a GUID), not {app.app_id!r}"
        )
    if not app.name.strip():
        raise PackageError("--name must not be empty")
    if not _SEMVER.match(app.version):
        raise PackageError(f"--version must be three numbers such as 1.0.2, not {app.version!r}")
    base = f"https://{app.domain}"
    short_name = app.name.strip()
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": app.version,
        # The Teams app's own id; derived from the bot's so that rebuilding the package updates
        # the installed app instead of adding a second one.
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"partnerbot-teams-app:{app.app_id.lower()}")),
        "developer": {
            "name": app.developer[:32],
            "websiteUrl": app.website_url or base + "/",
            "privacyUrl": app.privacy_url or base + "/privacy",
            "termsOfUseUrl": app.terms_url or base + "/terms",
        },
        "name": {"short": short_name[:30], "full": short_name[:100]},
        "description": {
            "short": "Check-ins, forum meetings and shared practice for your partnership"[:80],
            "full": (
                "partnerbot helps a learning partnership work together in Teams: evaluation "
                "check-ins against a self-evaluation framework (asked privately, one question "
                "at a time, compiled into a report per area), forum meetings with RSVPs, "
                "reminders and attendance, and a searchable library of shared practice. "
                "Type help to the bot to begin."
            ),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": ACCENT,
        "bots": [
            {
                "botId": app.app_id,
                "scopes": ["personal", "team", "groupChat"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    {"scopes": ["personal"], "commands": _commands(PERSONAL_COMMANDS)},
                    {"scopes": ["team", "groupChat"], "commands": _commands(CHANNEL_COMMANDS)},
                ],
            }
        ],
        "composeExtensions": [
            {
                "botId": app.app_id,
                "commands": [
                    {
                        "id": SAVE_ACTION,
                        "type": "action",
                        "title": TASK_TITLE[:32],
                        "description": "Turn this message into a practice record to share",
                        "context": ["message"],
                        # The bot builds the form from the message (bot/teams.py, fetchTask).
                        "fetchTask": True,
                    }
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [app.domain],
    }


def _mark(size: int, colour: tuple[int, int, int, int]) -> Image.Image:
    """Two overlapping rings - partners - drawn large and scaled down for smooth edges."""
    scale = 4
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    radius = big * 0.26
    width = max(scale * 2, round(big * 0.07))
    for cx in (big * 0.37, big * 0.63):
        cy = big / 2
        draw.ellipse(
            (cx - radius, cy - radius, cx + radius, cy + radius), outline=colour, width=width
        )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def color_icon() -> bytes:
    """192x192, full colour: white rings on the accent colour."""
    size = 192
    accent = tuple(int(ACCENT[i : i + 2], 16) for i in (1, 3, 5))
    image = Image.new("RGBA", (size, size), (*accent, 255))
    image.alpha_composite(_mark(size, (255, 255, 255, 255)))
    return _png(image)


def outline_icon() -> bytes:
    """32x32, white on a transparent background, as Teams requires of the outline icon."""
    return _png(_mark(32, (255, 255, 255, 255)))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write_package(app: TeamsApp, path: Path | str) -> Path:
    """The zip Teams takes: manifest.json and the icons at its root, nothing else."""
    data = manifest(app)
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(data, indent=2, ensure_ascii=False))
        archive.writestr(COLOR_ICON, color_icon())
        archive.writestr(OUTLINE_ICON, outline_icon())
    return path
