"""The installed `partnerbot` command, run as a new user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(args: list[str], env: dict[str, str], stdin: str = "", cwd: Path | None = None):
    return subprocess.run(
        [str(BIN / "partnerbot"), *args],
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def base_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERBOT_")}
    env.update(variables)
    return env


def test_db_upgrade_creates_the_default_sqlite_database(tmp_path):
    result = run(["db", "upgrade"], base_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database is up to date: sqlite+aiosqlite:///./partnerbot.db" in result.stdout
    assert (tmp_path / "partnerbot.db").exists()


def test_chat_runs_the_same_dialogs_in_a_terminal(database_url, tmp_path):
    env = base_env(PARTNERBOT_DATABASE_URL=database_url)
    assert run(["db", "upgrade"], env).returncode == 0
    script = "help\narea add Marr\nme area marr\nme\nrole Bob coordinator\nquit\n"
    result = run(["chat", "--name", "Ann"], env, stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bot> Welcome, Ann! You're now a member of this partnership." in out
    assert "so you're its coordinator" in out
    assert "[Meetings: help meetings]" in out
    assert "bot> Added the area Marr." in out
    assert "bot> You're now in Marr." in out
    assert "Area          Marr" in out
    assert "Sorry, name the member with an @mention, not `Bob`." in out
    assert "Usage: role <@member> member|coordinator|expert|manager" in out


def test_production_refuses_to_start_and_names_the_missing_variable(tmp_path):
    env = base_env(
        PARTNERBOT_ENV="production",
        PARTNERBOT_SLACK_BOT_TOKEN="xoxb-1",
        PARTNERBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/p.db",
    )
    result = run(["serve"], env)
    assert result.returncode == 2
    assert "PARTNERBOT_SLACK_SIGNING_SECRET" in result.stderr
    assert "xoxb-1" not in result.stderr  # never echo a secret


@pytest.mark.parametrize("args", [["frobnicate"], []])
def test_unknown_subcommand_prints_usage(args):
    result = run(args, base_env())
    assert result.returncode == 2
    assert "usage: partnerbot" in result.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_prints_how_to_talk_to_it_and_answers_healthz(tmp_path):
    import json
    import time
    import urllib.request

    port = _free_port()
    env = base_env(
        PARTNERBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/p.db",
        PARTNERBOT_PORT=str(port),
        # 0.0.0.0 with no Teams app id would expose unauthenticated Teams traffic: loopback only.
        PARTNERBOT_HOST="0.0.0.0",
        PYTHONUNBUFFERED="1",
    )
    assert run(["db", "upgrade"], env).returncode == 0
    process = subprocess.Popen(
        [str(BIN / "partnerbot"), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    body = json.load(r)
            except OSError:
                time.sleep(0.1)
        assert body == {"status": "ok"}
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            raise AssertionError(f"serve did not stop on SIGTERM:\n{output[-3000:]}") from None
    # A clean stop: the dispatcher's first batch finishes before the database is closed.
    assert "Traceback" not in output, output
    assert f"partnerbot (development) on http://127.0.0.1:{port}" in output
    assert (
        f"Teams:   POST http://127.0.0.1:{port}/api/messages (no auth: local emulator mode)"
        in output
    )
    assert (
        "Teams has no app id, so its requests are not authenticated: "
        "listening on 127.0.0.1 only, not 0.0.0.0"
    ) in output
    assert "partnerbot chat" in output


@pytest.mark.parametrize(
    ("environ", "flag", "listens_on"),
    [
        ({"PARTNERBOT_HOST": "0.0.0.0"}, None, "127.0.0.1"),
        ({}, "0.0.0.0", "127.0.0.1"),
        ({"PARTNERBOT_HOST": "::"}, None, "127.0.0.1"),
        ({"PARTNERBOT_HOST": "bot.example.org"}, None, "127.0.0.1"),
        ({"PARTNERBOT_HOST": "10.0.0.5"}, "192.168.1.2", "127.0.0.1"),
        ({"PARTNERBOT_HOST": "::1"}, None, "::1"),
        ({"PARTNERBOT_HOST": "localhost"}, None, "localhost"),
        ({}, None, "127.0.0.1"),
        # With an app id every Teams request is authenticated: anywhere goes.
        ({"PARTNERBOT_HOST": "0.0.0.0", "PARTNERBOT_TEAMS_APP_ID": "app"}, None, "0.0.0.0"),
        (
            {
                "PARTNERBOT_ENV": "production",
                "PARTNERBOT_TEAMS_APP_ID": "app",
                "PARTNERBOT_TEAMS_APP_PASSWORD": "pw",
            },
            "0.0.0.0",
            "0.0.0.0",
        ),
        # Production with Slack only serves no Teams at all.
        (
            {
                "PARTNERBOT_ENV": "production",
                "PARTNERBOT_HOST": "0.0.0.0",
                "PARTNERBOT_SLACK_SIGNING_SECRET": "s",
                "PARTNERBOT_SLACK_BOT_TOKEN": "xoxb",
            },
            None,
            "0.0.0.0",
        ),
    ],
)
def test_unauthenticated_teams_listens_on_loopback_only_and_says_so(
    environ, flag, listens_on, caplog
):
    from bot.cli import listen_host
    from config.settings import load_settings

    assert listen_host(load_settings(environ), flag) == listens_on

    moved = listens_on == "127.0.0.1" and (flag or environ.get("PARTNERBOT_HOST"))
    said = "its requests are not authenticated: listening on 127.0.0.1 only" in caplog.text
    assert said == bool(moved)
