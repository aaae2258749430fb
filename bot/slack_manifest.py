"""The Slack app manifest: paste it into api.slack.com/apps > Create New App > From a manifest.

Every request Slack makes (the slash command, events, buttons, modals, the message shortcut) goes
to one URL, ``https://HOST/slack/events``, which bot/slack.py serves with slack-bolt. Installed
into workspaces through OAuth, Slack sends the installing admin back to
``https://HOST/slack/oauth_redirect`` and tells the app when a workspace uninstalls it or revokes
its tokens (bot/slack_install.py).
"""

from __future__ import annotations

from typing import Any

import yaml

from bot.slack import SAVE_SHORTCUT
from bot.teams_package import host_of

EVENTS_PATH = "/slack/events"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"

# The bot token's scopes, each for the Web API methods or events that need it.
BOT_SCOPES = (
    "app_mentions:read",  # app_mention events: @partnerbot in a channel
    "chat:write",  # chat.postMessage, chat.update, chat.postEphemeral
    "chat:write.public",  # announce meetings in public area channels without being invited first
    "commands",  # the slash command
    "files:write",  # report charts: files.getUploadURLExternal, files.completeUploadExternal
    "im:history",  # message.im events: what a member types in their DM with the bot
    "im:write",  # conversations.open: a member's DM for check-ins and reminders
    "users:read",  # users.info: display names
)
BOT_EVENTS = ("app_mention", "message.im")
# The OAuth mode's too (no scope needed): a workspace's tokens are deleted when they go.
INSTALLATION_EVENTS = ("app_uninstalled", "tokens_revoked")


def slack_manifest(
    *, host: str, name: str = "partnerbot", command: str = "/partner", oauth: bool = False
) -> dict[str, Any]:
    base = f"https://{host_of(host)}"
    events_url = base + EVENTS_PATH
    if not command.startswith("/"):
        command = "/" + command
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name[:35],
            "description": "Check-ins, forum meetings and shared practice for your partnership",
            "background_color": "#2b6a99",
            "long_description": (
                "partnerbot helps a learning partnership work together in Slack: evaluation "
                "check-ins against a self-evaluation framework (asked privately, one question "
                "at a time, compiled into a report per area), forum meetings with RSVPs, "
                "reminders and attendance, and a searchable library of shared practice. "
                f"Type {command} help to begin."
            ),
        },
        "features": {
            "app_home": {
                "home_tab_enabled": False,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name[:80], "always_online": True},
            "slash_commands": [
                {
                    "command": command,
                    "url": events_url,
                    "description": "Talk to partnerbot: check-ins, meetings, practice",
                    "usage_hint": "help | checkin | meetings | practice search <words>",
                    # Mentions arrive as <@U123|name>, which the bot reads as members.
                    "should_escape": True,
                }
            ],
            "shortcuts": [
                {
                    "name": "Save to practice library",
                    "type": "message",
                    "callback_id": SAVE_SHORTCUT,
                    "description": "Turn this message into a practice record to share",
                }
            ],
        },
        "oauth_config": {
            "redirect_urls": [base + OAUTH_REDIRECT_PATH],
            "scopes": {"bot": list(BOT_SCOPES)},
        },
        "settings": {
            "event_subscriptions": {
                "request_url": events_url,
                "bot_events": [*BOT_EVENTS, *(INSTALLATION_EVENTS if oauth else ())],
            },
            "interactivity": {"is_enabled": True, "request_url": events_url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }


def slack_manifest_yaml(**options: Any) -> str:
    return yaml.safe_dump(slack_manifest(**options), sort_keys=False, allow_unicode=True)
