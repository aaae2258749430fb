"""What an operator uploads to install the bot: the Teams app package (checked against the
manifest's published JSON schema, vendored in tests/data/teams/) and the Slack app manifest
(checked against the Web API methods and events the code actually uses)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from PIL import Image

from bot.slack import SAVE_SHORTCUT
from bot.teams import SAVE_ACTION
from dialogs.grammar import COMMANDS
from tests.bot.test_cli import base_env, run

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests/data/teams/MicrosoftTeams.v1.24.schema.json"
APP_ID = "0b7c4f6e-2d1a-4e5b-9c3d-8f7a6b5c4d3e"
VISIBLE_COMMANDS = {spec.name for spec in COMMANDS if not spec.hidden}


def teams_package(tmp_path: Path, *extra: str) -> zipfile.ZipFile:
    out = tmp_path / "app.zip"
    result = run(
        [
            "teams-package",
            "--app-id",
            APP_ID,
            "--name",
            "Marr Partnership",
            "--host",
            "https://partners.example.org/",
            "--output",
            str(out),
            *extra,
        ],
        base_env(),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    return zipfile.ZipFile(out)


def test_the_teams_package_is_a_manifest_of_the_current_schema_with_its_two_icons(tmp_path):
    package = teams_package(tmp_path)
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
    manifest = json.loads(package.read("manifest.json"))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(manifest)
    assert manifest["manifestVersion"] == "1.24"
    assert manifest["$schema"].endswith("/teams/v1.24/MicrosoftTeams.schema.json")
    assert manifest["name"]["short"] == "Marr Partnership"
    assert manifest["validDomains"] == ["partners.example.org"]
    assert manifest["developer"]["privacyUrl"] == "https://partners.example.org/privacy"

    color = Image.open(io.BytesIO(package.read(manifest["icons"]["color"])))
    assert (color.format, color.size) == ("PNG", (192, 192))
    outline = Image.open(io.BytesIO(package.read(manifest["icons"]["outline"]))).convert("RGBA")
    assert outline.size == (32, 32)
    pixels = [outline.getpixel((x, y)) for y in range(32) for x in range(32)]
    # White on transparent: every pixel that shows at all is white.
    assert pixels[0][3] == 0
    assert {(r, g, b) for r, g, b, a in pixels if a > 0} == {(255, 255, 255)}
    assert sum(1 for *_, a in pixels if a == 0) > 32 * 32 // 3


def test_the_teams_app_talks_in_personal_chats_teams_and_group_chats_with_grammar_commands(
    tmp_path,
):
    manifest = json.loads(teams_package(tmp_path).read("manifest.json"))
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert sorted(bot["scopes"]) == ["groupChat", "personal", "team"]
    listed_scopes = [scope for lst in bot["commandLists"] for scope in lst["scopes"]]
    assert sorted(listed_scopes) == ["groupChat", "personal", "team"]
    for command_list in bot["commandLists"]:
        titles = [command["title"] for command in command_list["commands"]]
        assert 1 <= len(titles) <= 10  # Teams shows at most 10 per scope
        assert len(set(titles)) == len(titles)
        # Picking one puts its title in the compose box: it must be a command the bot knows.
        assert set(titles) <= VISIBLE_COMMANDS
        assert "help" in titles
    (extension,) = manifest["composeExtensions"]
    assert extension["botId"] == APP_ID
    (action,) = extension["commands"]
    assert action["id"] == SAVE_ACTION  # the commandId bot/teams.py answers
    assert action["type"] == "action"
    assert action["context"] == ["message"]
    assert action["title"] == "Save to practice library"
    assert action["fetchTask"] is True


def test_rebuilding_the_teams_package_keeps_the_app_id_so_teams_updates_the_app(tmp_path):
    first = json.loads(teams_package(tmp_path).read("manifest.json"))
    second = json.loads(teams_package(tmp_path, "--version", "1.0.1").read("manifest.json"))
    assert first["id"] == second["id"]
    assert second["version"] == "1.0.1"


def test_a_bad_app_id_is_refused_with_what_to_give_instead(tmp_path):
    result = run(
        ["teams-package", "--app-id", "partnerbot", "--name", "P", "--host", "bot.example.org"],
        base_env(),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "--app-id must be the Azure Bot's Microsoft App ID (a GUID)" in result.stderr
    assert not (tmp_path / "partnerbot-teams.zip").exists()


# -- Slack ------------------------------------------------------------------------------------

# Slack's own documentation of each Web API method and event, to the bot scope it needs.
SCOPE_OF_METHOD = {
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "conversations_open": {"im:write"},
    "users_info": {"users:read"},
    # files.getUploadURLExternal and files.completeUploadExternal
    "files_upload_v2": {"files:write"},
    "views_open": set(),
    "auth_test": set(),
}
EVENT_SUBSCRIPTION = {"app_mention": "app_mention", "message": "message.im"}
SCOPE_OF_EVENT = {"app_mention": "app_mentions:read", "message.im": "im:history"}
SLACK_CODE = ("bot/slack.py", "bot/slack_send.py", "bot/delivery.py")


def slack_manifest(*args: str) -> dict:
    result = run(["slack-manifest", "--host", "partners.example.org", *args], base_env())
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def code_uses() -> tuple[set[str], set[str]]:
    """The Web API methods the bot calls and the events it listens to, read from its code."""
    source = "\n".join((ROOT / path).read_text() for path in SLACK_CODE)
    methods = set(re.findall(r"\bclient\.([a-z]+_[A-Za-z0-9_]+)\b", source))
    events = set(re.findall(r"\bbolt\.event\(\"([a-z_.]+)\"\)", source))
    return methods, events


def test_the_slack_manifest_grants_every_scope_the_code_needs():
    manifest = slack_manifest()
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    methods, events = code_uses()
    assert {"chat_postMessage", "users_info", "conversations_open"} <= methods  # the scan works
    unknown = methods - SCOPE_OF_METHOD.keys()
    assert not unknown, f"add the scopes of {unknown} to bot/slack_manifest.py and this table"
    for method in methods:
        assert SCOPE_OF_METHOD[method] <= scopes, method
    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert events == {"app_mention", "message"}
    for event in events:
        assert EVENT_SUBSCRIPTION[event] in subscribed
        assert SCOPE_OF_EVENT[EVENT_SUBSCRIPTION[event]] in scopes
    assert "commands" in scopes  # the slash command


def test_every_slack_request_goes_to_the_one_request_url():
    manifest = slack_manifest()
    url = "https://partners.example.org/slack/events"
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/partner"
    assert command["url"] == url
    assert command["should_escape"] is True  # mentions arrive as <@U123|name>
    assert manifest["settings"]["event_subscriptions"]["request_url"] == url
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    (shortcut,) = manifest["features"]["shortcuts"]
    assert shortcut["type"] == "message"
    assert shortcut["callback_id"] == SAVE_SHORTCUT
    assert shortcut["name"] == "Save to practice library"
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://partners.example.org/slack/oauth_redirect"
    ]
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is False


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--command", "/forum"], {}, "/forum"),
        ([], {"PARTNERBOT_SLACK_COMMAND": "/llcp"}, "/llcp"),
    ],
)
def test_the_slash_command_follows_the_configuration(args, env, expected, tmp_path):
    result = run(
        ["slack-manifest", "--host", "partners.example.org", *args],
        base_env(**env),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (command,) = yaml.safe_load(result.stdout)["features"]["slash_commands"]
    assert command["command"] == expected


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--oauth"], {}), ([], {"PARTNERBOT_SLACK_CLIENT_ID": "123.456"})],
)
def test_installed_through_oauth_the_app_hears_of_uninstalls_and_revoked_tokens(
    args, env, tmp_path
):
    result = run(
        ["slack-manifest", "--host", "partners.example.org", *args], base_env(**env), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert subscribed == ["app_mention", "message.im", "app_uninstalled", "tokens_revoked"]
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://partners.example.org/slack/oauth_redirect"
    ]
    # The one-workspace manifest subscribes to neither: nothing there would handle them.
    assert (
        "app_uninstalled" not in slack_manifest()["settings"]["event_subscriptions"]["bot_events"]
    )
