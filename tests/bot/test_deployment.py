"""The deployment of docs/deploy.md, as processes: two `partnerbot serve` replicas and one
`partnerbot worker` on one PostgreSQL database migrated by `partnerbot db upgrade`, with Slack
traffic spread over both replicas. What one replica saves the other sees, and every queued
message reaches Slack exactly once, sent by the worker alone."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from storage.db import create_engine
from storage.models import OutboxMessage
from storage.outbox import Status
from storage.repositories import Store
from tests.bot.fake_slack import SECRET, TOKEN, FakeSlack, SlackSender
from tests.bot.test_cli import base_env, run
from tests.bot.test_slack import slash
from tests.storage.test_backup import bare_postgres_database

BIN = Path(sys.executable).parent / "partnerbot"
ADMIN = "U1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """Started partnerbot processes; stopped with SIGTERM, as a container runtime stops them."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[tuple[str, asyncio.subprocess.Process]] = []

    async def start(self, name: str, env: dict[str, str], *args: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            str(BIN), *args, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
        log.close()
        self.running.append((name, process))

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()[-3000:]

    async def stop(self) -> dict[str, int | None]:
        codes = {}
        for _, process in self.running:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for name, process in self.running:
            try:
                codes[name] = await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                codes[name] = await process.wait()
        self.running.clear()
        return codes


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack(users={ADMIN: "Aisha Khan", "U2": "Ben Ortiz", "U3": "Cara Lewis"})
    await fake.start()
    yield fake
    await fake.close()


async def ready(base: str, processes: Processes, name: str) -> None:
    """Wait for the replica's /readyz, as a load balancer does before sending it traffic."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(60):
        while True:
            try:
                async with session.get(base + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            for started, process in processes.running:
                if started == name and process.returncode is not None:
                    raise AssertionError(f"{name} exited:\n{processes.log(name)}")
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _explained(fake: FakeSlack, name: str, expected: str) -> AsyncIterator[None]:
    try:
        yield
    except TimeoutError:
        seen = [(c.method, c.body.get("text")) for c in fake.calls if c.method.startswith("resp")]
        raise AssertionError(f"no {expected!r} on response/{name}; saw {seen}") from None


async def answer(fake: FakeSlack, name: str, expected: str) -> str:
    """The reply on a command's response_url that says ``expected``."""
    async with _explained(fake, name, expected), asyncio.timeout(20):
        while True:
            calls = fake.calls_to(f"response/{name}")
            for call in calls:
                for text in [call.body.get("text") or "", *call.texts()]:
                    if expected in text:
                        return text
            await fake.wait_for(f"response/{name}", count=len(calls) + 1, within=20)


def invitations(fake: FakeSlack) -> list[str]:
    """The channels the check-in invitation was posted to, once per post."""
    return [
        call.body["channel"]
        for call in fake.calls_to("chat.postMessage")
        if (call.body.get("text") or "").startswith("Partnership check-in:")
    ]


async def test_two_web_replicas_and_a_worker_on_one_postgresql(postgres, fake_slack, tmp_path):
    if postgres is None:
        pytest.skip("PARTNERBOT_TEST_POSTGRES_URL is not set")
    database_url = await bare_postgres_database(postgres)
    env = base_env(
        PARTNERBOT_DATABASE_URL=database_url,
        PARTNERBOT_ENV="production",
        PARTNERBOT_ADMINS=ADMIN,
        PARTNERBOT_SLACK_SIGNING_SECRET=SECRET,
        PARTNERBOT_SLACK_BOT_TOKEN=TOKEN,
        PARTNERBOT_SLACK_API_URL=fake_slack.api_url,
        PARTNERBOT_DISPATCH_INTERVAL="0.2",
    )
    # The release step: migrations before any replica starts.
    migrated = run(["db", "upgrade"], env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr

    web_env = {**env, "PARTNERBOT_DISPATCHER_IN_WEB": "false"}  # the worker sends, not the web
    processes = Processes(tmp_path)
    bases = []
    try:
        for n in (1, 2):
            port = free_port()
            await processes.start(
                f"web{n}", web_env, "serve", "--host", "127.0.0.1", "--port", str(port)
            )
            bases.append(f"http://127.0.0.1:{port}")
        await processes.start("worker", env, "worker")
        for n, base in enumerate(bases, start=1):
            await ready(base, processes, f"web{n}")
        web1, web2 = (SlackSender(base + "/slack/events") for base in bases)

        # Each request goes to whichever replica the load balancer picks; state is shared.
        steps = [
            (web1, ADMIN, "area add Marr", "Added the area Marr."),
            (web2, "U2", "me area Marr", "You're now in Marr."),
            (web1, "U3", "me area marr", "You're now in Marr."),
            (web2, ADMIN, "me area Marr", "You're now in Marr."),
            (
                web1,
                ADMIN,
                "role <@U2|ben> coordinator",
                "Ben Ortiz is now a partnership coordinator.",
            ),
            (web2, "U2", "areas", "Marr - 3 members"),
            (
                web2,
                "U2",
                "checkin start qi-3.2 questions=1,3 areas=all closes=2030-03-31",
                "Inviting 3 members privately.",
            ),
        ]
        for n, (replica, user, text, expected) in enumerate(steps):
            status, _ = await replica.command(slash(fake_slack, text, response=f"r{n}", user=user))
            assert status == 200
            await answer(fake_slack, f"r{n}", expected)

        # The worker sends the three invitations privately (and the weekly cadence warning
        # for the new area to its coordinators, whenever its job runs).
        async with asyncio.timeout(30):
            while len(invitations(fake_slack)) < 3:
                await fake_slack.wait_for(
                    "chat.postMessage",
                    count=len(fake_slack.calls_to("chat.postMessage")) + 1,
                    within=30,
                )
    finally:
        codes = await processes.stop()
    assert codes == {"web1": 0, "web2": 0, "worker": 0}, {n: processes.log(n) for n in codes}

    assert Counter(invitations(fake_slack)) == {f"D{user}": 1 for user in (ADMIN, "U2", "U3")}
    store = Store(create_engine(database_url))
    try:
        async with store.unit() as uow:
            rows = (await uow.session.scalars(select(OutboxMessage))).all()
    finally:
        await store.close()
    sent = [row for row in rows if row.status == Status.SENT]
    assert len([row for row in sent if row.key.endswith(":invite")]) == 3
    # Nothing twice: one post for each message sent, invitations and cadence warnings alike.
    assert len(fake_slack.calls_to("chat.postMessage")) == len(sent)
    assert all(
        row.key.endswith(":invite") or row.key.startswith("meeting:cadence:") for row in sent
    )
    assert {row.status for row in rows if row not in sent} <= {Status.PENDING}  # later nudges
    # Only the worker sent: its log says so, the replicas' do not.
    assert "dispatched: " in processes.log("worker")
    for name in ("web1", "web2"):
        assert "dispatched: " not in processes.log(name)


ROOT = Path(__file__).resolve().parents[2]


def test_the_image_installs_the_packages_ci_tests_and_runs_the_commands_tested_here():
    """No Docker engine here: check that the Dockerfile copies every package pyproject.toml
    installs, installs it with pip as the Makefile does, and that the process types in
    deploy/compose.yaml are the `partnerbot` commands the test above runs."""
    import tomllib

    import yaml

    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    assert {package.rstrip("*") for package in packages} <= copied
    assert "python -m pip install ." in dockerfile
    assert 'ENTRYPOINT ["partnerbot"]' in dockerfile

    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    commands = {
        name: service["command"]
        for name, service in compose["services"].items()
        if service.get("image") == "partnerbot:latest"
    }
    assert commands == {
        "migrate": ["db", "upgrade"],
        "web1": ["serve"],
        "web2": ["serve"],
        "worker": ["worker", "--metrics-port", "9100"],
    }
    for service in ("web1", "web2", "worker"):
        environment = compose["services"][service]["environment"]
        assert environment["PARTNERBOT_DISPATCHER_IN_WEB"] == "false"
        assert environment["PARTNERBOT_DATABASE_URL"].startswith("postgresql+asyncpg://")
    help_text = run(["--help"], base_env()).stdout
    for command in ("serve", "worker", "db"):
        assert command in help_text
    caddy = (ROOT / "deploy/Caddyfile").read_text()
    assert "reverse_proxy web1:3978 web2:3978" in caddy
    assert "health_uri /readyz" in caddy


@pytest.mark.parametrize("reachable", [True, False])
def test_ci_runs_make_test_with_ci_on_and_postgresql_only_when_it_is_reachable(
    tmp_path, postgres, reachable
):
    """`.ci/run` in a copy of the project whose `make` only notes how it was called, so the
    script's own checks run for real (the suite itself is not run again from inside it)."""
    import os
    import shutil
    import subprocess

    if postgres is None:
        pytest.skip("PARTNERBOT_TEST_POSTGRES_URL is not set")
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci/run", tmp_path / ".ci/run")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    tools = tmp_path / "bin"
    tools.mkdir()
    calls = tmp_path / "make-calls"
    (tools / "make").write_text(
        '#!/bin/sh\necho "$* CI=$CI URL=$PARTNERBOT_TEST_POSTGRES_URL" >> "$MAKE_CALLS"\n'
    )
    (tools / "make").chmod(0o755)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"postgresql+asyncpg://postgres@127.0.0.1:{probe.getsockname()[1]}/test"
    url = postgres.url if reachable else closed
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(
        PATH=f"{tools}:{env['PATH']}", MAKE_CALLS=str(calls), PARTNERBOT_TEST_POSTGRES_URL=url
    )
    result = subprocess.run(
        [str(tmp_path / ".ci/run")], env=env, capture_output=True, text=True, timeout=60
    )
    made = calls.read_text().splitlines()
    if reachable:
        assert result.returncode == 0, result.stderr
        assert made == [f".venv/.installed-dev CI=true URL={url}", f"test CI=true URL={url}"]
    else:
        assert result.returncode == 1
        assert f"CI: PostgreSQL is not reachable at {closed}" in result.stderr
        assert made == [f".venv/.installed-dev CI=true URL={url}"]  # and never `make test`
