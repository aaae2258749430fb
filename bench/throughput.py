"""Request throughput: the real ``partnerbot serve`` against the stock SDKs, in one run.

Every figure is measured by ``wrk`` (1 thread, 32 keep-alive connections, 10 s runs after a 3 s
warm-up, the median of ``--runs``) with the server under test pinned to one core
(``taskset -c 1``) and wrk and the loopback platforms (bench/loopback.py, a process of its own)
on the other. The baselines run in the same invocation, so every figure is also a ratio:

- bare aiohttp, 1 KB POST (bench/baselines.py ``bare``);
- stock slack-bolt ``AsyncApp``, default settings, a slash command that only acks (``bolt``);
- stock botbuilder ``CloudAdapter`` echo bot replying to the loopback connector (``echo``).

The bot, per database (SQLite file; a fresh PostgreSQL database with ``--postgres`` or
``PARTNERBOT_TEST_POSTGRES_URL``, created and dropped here):

- Teams ``help``: a personal-chat message from one of 64 registered members (looked up in the
  database), the reply delivered to the loopback Bot Connector before the turn ends. Each
  activity has its own id (the bot drops re-sent ids).
- Teams check-in answer: the ``checkin answer <cycle> 1`` button (Action.Submit) with a rating
  in its form, alternating so every press changes the saved answer; the reply renders the next
  question.
- Slack ``/partner help``: a signed slash command (signatures made just before each run; Slack's
  window is 5 minutes) from one of 64 members in a channel; the reply goes to its response_url
  after the ack. wrk measures the ack; the loopback counts the replies, so the rate of replies
  delivered during the run is reported too (and the run waits for the rest before the next).
- Two ``serve --reuse-port`` processes on PostgreSQL (Teams ``help``), unpinned, with wrk
  sharing the two cores, against one process pinned to a core.

Each target is measured in rounds with its baseline, one run of each in turn (Teams help, the
check-in answer and the stock echo; Slack help and stock bolt; one process and two), and
quoted as the median of its ratios within a round: the machine's speed drifts more between
minutes than a ratio of two paths measured minutes apart could show.

The resident memory (VmRSS, and the peak VmHWM) of each serve process is read from /proc after
each run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.fanout import postgres_database, sqlite_database
from tests.bot.fake_login import FakeLogin

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
TENANT = "bench-tenant"
TEAM = "TBENCH"
BOT = {"id": "28:bench-partnerbot", "name": "partnerbot"}
COORDINATOR = "29:bench-coordinator"
APP_ID = "5f0c3b1e-bench-4e8f-9a6b-partnerbot00"
APP_PASSWORD = "bench-app-password"
MEMBERS = 64
CONNECTIONS = 32
SERVER_CORE = "1"
CLIENT_CORE = "0"
VENV_BIN = Path(sys.executable).parent


def write(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- processes ------------------------------------------------------------------------------


@dataclass
class Loopback:
    """The remote services on loopback: the platforms (bench/loopback.py, a process of its own)
    and the Bot Framework's sign-in (tests/bot/fake_login.py, a thread here): the Teams paths
    run with authentication on, each activity carrying a channel token the bot checks."""

    url: str
    process: asyncio.subprocess.Process
    token: str = ""  # the Bot Framework channel token wrk sends (one, as Teams reuses it)
    auth_env: dict[str, str] = field(default_factory=dict)

    async def stats(self) -> dict[str, int]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.url}/stats") as r:
            return dict((await r.json())["counts"])


@asynccontextmanager
async def loopback() -> AsyncIterator[Loopback]:
    process = await asyncio.create_subprocess_exec(
        "taskset",
        "-c",
        CLIENT_CORE,
        sys.executable,
        "-m",
        "bench.loopback",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    folder = Path(tempfile.mkdtemp(prefix="partnerbot-login-"))
    login = FakeLogin(folder)
    login.start()
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        url = f"http://127.0.0.1:{json.loads(line)['port']}"
        token = login.sign(audience=APP_ID, service_url=url + "/teams", lifetime=6 * 3600)
        auth_env = {
            "PARTNERBOT_TEAMS_APP_ID": APP_ID,
            "PARTNERBOT_TEAMS_APP_PASSWORD": APP_PASSWORD,
            "PARTNERBOT_TEAMS_OPENID_METADATA_URL": login.metadata_url,
            "PARTNERBOT_TEAMS_LOGIN_URL": login.login_url,
            "REQUESTS_CA_BUNDLE": str(login.ca_file),
        }
        yield Loopback(url, process, token=token, auth_env=auth_env)
    finally:
        await _stop(process)
        login.close()
        shutil.rmtree(folder, ignore_errors=True)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=15)
        except TimeoutError:
            process.kill()
            await process.wait()


@dataclass
class Server:
    label: str
    url: str
    processes: list[asyncio.subprocess.Process]
    log: Path

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def cpu_seconds(self) -> float:
        """User + system CPU of the server processes so far (and their threads)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def memory(self) -> list[tuple[float, float]]:
        """(VmRSS, VmHWM) in MB of each process."""
        found = []
        for pid in self.pids:
            fields = {}
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    fields[name] = int(value.split()[0]) / 1024
            found.append((fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)))
        return found


@asynccontextmanager
async def server(
    label: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    port: int,
    health: str = "/healthz",
    copies: int = 1,
    core: str | None = SERVER_CORE,
) -> AsyncIterator[Server]:
    folder = Path(tempfile.mkdtemp(prefix="partnerbot-tp-"))
    log = folder / f"{label}.log"
    processes = []
    prefix = ["taskset", "-c", core] if core else []
    with log.open("ab") as sink:
        for _ in range(copies):
            processes.append(
                await asyncio.create_subprocess_exec(
                    *prefix,
                    *argv,
                    env={**os.environ, **(env or {})},
                    stdout=sink,
                    stderr=sink,
                    stdin=asyncio.subprocess.DEVNULL,
                )
            )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_up(url + health, processes, log)
        yield Server(label, url, processes, log)
    finally:
        for process in processes:
            await _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


async def _wait_up(url: str, processes: list[asyncio.subprocess.Process], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if any(p.returncode is not None for p in processes):
                raise RuntimeError(f"a server exited at start:\n{_tail(log)}")
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        # With several processes, give the others a moment to bind too.
                        await asyncio.sleep(1.0 if len(processes) > 1 else 0.1)
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def bot_env(database_url: str, fake: Loopback, port: int) -> dict[str, str]:
    return {
        "PARTNERBOT_DATABASE_URL": database_url,
        "PARTNERBOT_PORT": str(port),
        "PARTNERBOT_ENV": "development",
        "PARTNERBOT_ADMINS": COORDINATOR,
        "PARTNERBOT_SLACK_SIGNING_SECRET": SECRET,
        "PARTNERBOT_SLACK_BOT_TOKEN": TOKEN,
        "PARTNERBOT_SLACK_API_URL": fake.url + "/slack/api/",
        "PARTNERBOT_TEAMS_APP_ID": "",
        "PARTNERBOT_TEAMS_APP_PASSWORD": "",
        "PYTHONUNBUFFERED": "1",
        **fake.auth_env,
    }


def serve_argv(port: int, *, reuse_port: bool = False) -> list[str]:
    argv = [str(VENV_BIN / "partnerbot"), "serve", "--port", str(port)]
    return [*argv, "--reuse-port"] if reuse_port else argv


# -- the requests ---------------------------------------------------------------------------


def teams_activity(service_url: str, *, user: str, activity_id: str, **fields: Any) -> dict:
    body = {
        "type": "message",
        "id": activity_id,
        "timestamp": "2026-03-03T09:30:00.1234567Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": user, "name": f"Member {user}", "aadObjectId": "00000000-0000-0000-0000"},
        "conversation": {
            "conversationType": "personal",
            "id": f"a:personal-{user}",
            "tenantId": TENANT,
        },
        "recipient": BOT,
        "channelData": {"tenant": {"id": TENANT}},
        "locale": "en-GB",
    }
    body.update(fields)
    return body


def signed_teams(fake: Loopback, kind: str) -> Callable[[str], str]:
    """The wrk script maker for a Teams path of the bot's, authentication on."""
    return lambda run: teams_script(fake.url + "/teams", kind=kind, run=run, token=fake.token)


def member_id(index: int) -> str:
    return f"29:bench-member-{index}"


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def teams_script(service_url: str, *, kind: str, run: str, cycle: int = 1, token: str = "") -> str:
    """A wrk script: each request a new activity id, the members in turn; with ``token``, the
    channel token in every request's Authorization header."""
    marker_user, marker_id, marker_rating = "@@USER@@", "@@ID@@", "@@RATING@@"
    fields: dict[str, Any]
    if kind == "help":
        fields = {"text": "help"}
    else:
        fields = {"value": {"command": f"checkin answer {cycle} 1", "rating": marker_rating}}
    body = json.dumps(
        teams_activity(service_url, user=marker_user, activity_id=marker_id, **fields)
    )
    template = body.replace("%", "%%")
    template = template.replace(marker_user, "29:bench-member-%d").replace(marker_id, "%s")
    template = template.replace(marker_rating, "%d")
    # string.format's arguments, in the order the placeholders appear in the body.
    lua = {marker_user: "u", marker_id: f'"{run}-" .. counter', marker_rating: "rating"}
    arguments = [lua[m] for m in re.findall("|".join(map(re.escape, lua)), body)]
    return f"""
counter = 0
members = {MEMBERS}
template = {lua_string(template)}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""}
request = function()
  counter = counter + 1
  local u = counter % members
  local rating = (math.floor(counter / members) % 6) + 1
  return wrk.format(nil, "/api/messages", nil, string.format(template, {", ".join(arguments)}))
end
"""


def slack_signature(body: str, timestamp: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


def slack_command_body(fake_url: str, index: int, text: str) -> str:
    return urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "bench",
            "channel_id": "CBENCH0001",
            "channel_name": "general",
            "user_id": f"UBENCH{index:04d}",
            "user_name": f"member{index}",
            "command": "/partner",
            "text": text,
            "api_app_id": "ABENCH",
            "response_url": f"{fake_url}/respond/{index}",
            "trigger_id": f"{index}.1.bench",
        }
    )


def slack_script(fake_url: str, *, text: str = "help", users: int = MEMBERS) -> str:
    """Signed slash commands from ``users`` members in turn; signed now, valid 5 minutes."""
    timestamp = str(int(time.time()))
    rows = []
    for index in range(users):
        body = slack_command_body(fake_url, index, text)
        rows.append(f"{{{lua_string(body)}, {lua_string(slack_signature(body, timestamp))}}}")
    return f"""
counter = 0
bodies = {{{", ".join(rows)}}}
request = function()
  counter = counter + 1
  local row = bodies[(counter % #bodies) + 1]
  local headers = {{}}
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["X-Slack-Request-Timestamp"] = "{timestamp}"
  headers["X-Slack-Signature"] = row[2]
  return wrk.format("POST", "/slack/events", headers, row[1])
end
"""


def bare_script() -> str:
    body = json.dumps({"padding": "x" * 1000})
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {lua_string(body)}
"""


# -- wrk ------------------------------------------------------------------------------------


@dataclass
class Run:
    rate: float
    p50: float
    p99: float
    requests: int
    errors: int
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(text)
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> Run:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\n\s+50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\n\s+99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    assert total is not None
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets:
        errors += sum(int(x) for x in sockets.groups())
    seconds = _ms(total.group(2) + total.group(3)) / 1000
    return Run(rate, p50, p99, int(total.group(1)), errors, seconds)


async def wrk(
    url: str,
    script: str,
    *,
    seconds: float,
    connections: int = CONNECTIONS,
    core: str | None = CLIENT_CORE,
) -> Run:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
        path = file.name
    try:
        prefix = ["taskset", "-c", core] if core else []
        process = await asyncio.create_subprocess_exec(
            *prefix,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            path,
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
    finally:
        os.unlink(path)
    text = output.decode()
    try:
        return parse_wrk(text)
    except (AttributeError, ValueError, AssertionError):
        raise RuntimeError(f"wrk said:\n{text}") from None


@dataclass
class Result:
    label: str
    runs: list[Run]
    memory_mb: list[tuple[float, float]] = field(default_factory=list)
    note: str = ""

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50 for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99 for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    def extra(self, name: str) -> float | None:
        values = [r.extra[name] for r in self.runs if name in r.extra]
        return statistics.median(values) if values else None

    @property
    def peak_rss(self) -> float:
        return max((rss for rss, _ in self.memory_mb), default=0.0)

    @property
    def peak_hwm(self) -> float:
        return max((hwm for _, hwm in self.memory_mb), default=0.0)


@dataclass
class Driven:
    """One thing wrk drives: ``make_script(run id)`` is called just before each run (fresh
    Slack signatures, fresh activity ids); ``before``/``after`` count what the run delivered."""

    label: str
    target: Server
    make_script: Callable[[str], str]
    path: str = ""
    before: Callable[[], Any] | None = None
    after: Callable[[Any, Run], Any] | None = None
    core: str | None = CLIENT_CORE


async def _run_once(path: Driven, seconds: float) -> Run:
    script = path.make_script(uuid.uuid4().hex[:8])
    state = await path.before() if path.before else None
    cpu = path.target.cpu_seconds()
    run = await wrk(path.target.url + path.path, script, seconds=seconds, core=path.core)
    if not run.requests:
        raise SystemExit(
            f"wrk completed no request to {path.path} in {seconds} s: is the machine busy?"
        )
    if path.after is not None:
        run.extra.update(await path.after(state, run))
    # After the backlog (Slack's work after the ack) is delivered: the whole cost.
    run.extra["server CPU ms/request"] = 1000 * (path.target.cpu_seconds() - cpu) / run.requests
    return run


async def measure_rounds(paths: Sequence[Driven], args: argparse.Namespace) -> list[Result]:
    """A warm-up of each path, then ``args.runs`` rounds of one run of each path in turn. Paths
    measured in the same rounds are measured side by side in time, so the ratio of two is taken
    round by round (``paired``) as well as from their medians: these machines drift by tens of
    per cent between one minute and the next, and a baseline measured minutes before its
    target can make a ratio of the drift."""
    for path in paths:
        await _run_once(path, args.warmup)
    results = [Result(path.label, []) for path in paths]
    for _ in range(args.runs):
        for path, result in zip(paths, results, strict=True):
            result.runs.append(await _run_once(path, args.seconds))
            result.memory_mb.extend(path.target.memory())
    for result in results:
        runs = result.runs
        write(
            f"  {result.label}: {result.rate:,.0f} req/s, p50 {result.p50:.2f} ms, p99 "
            f"{result.p99:.2f} ms, errors {result.errors}, RSS {result.peak_rss:.0f} MB (peak "
            f"{result.peak_hwm:.0f})"
            + "".join(f", {name} {result.extra(name) or 0:,.2f}" for name in runs[0].extra)
        )
    return results


async def measure(
    label: str,
    target: Server,
    make_script: Callable[[str], str],
    args: argparse.Namespace,
    *,
    path: str = "",
    after: Callable[[Any, Run], Any] | None = None,
    before: Callable[[], Any] | None = None,
    core: str | None = CLIENT_CORE,
) -> Result:
    """One path on its own: a warm-up, then ``args.runs`` runs."""
    (result,) = await measure_rounds(
        [Driven(label, target, make_script, path, before, after, core)], args
    )
    return result


def paired(result: Result, baseline: Result) -> float:
    """The median, over the rounds both were measured in, of ``result``'s rate over
    ``baseline``'s in the same round."""
    return statistics.median(
        run.rate / base.rate for run, base in zip(result.runs, baseline.runs, strict=True)
    )


# -- setting the bot up over HTTP -----------------------------------------------------------


async def say(
    session: aiohttp.ClientSession, url: str, fake: Loopback, user: str, text: str
) -> None:
    body = teams_activity(fake.url + "/teams", user=user, activity_id=uuid.uuid4().hex, text=text)
    headers = {"Authorization": f"Bearer {fake.token}"} if fake.token else None
    async with session.post(url + "/api/messages", json=body, headers=headers) as response:
        if response.status >= 300:
            raise RuntimeError(
                f"{text!r} from {user}: HTTP {response.status} {await response.text()}"
            )


async def prepare(target: Server, fake: Loopback) -> None:
    """An area, 64 members in it (registered by talking to the bot on Teams), a check-in open
    for them; and the Slack members known (their first command registers them)."""
    async with aiohttp.ClientSession() as session:
        await say(session, target.url, fake, COORDINATOR, "area add North")
        for index in range(MEMBERS):
            await say(session, target.url, fake, member_id(index), "me area North")
        await say(
            session, target.url, fake, COORDINATOR, "checkin start qi-3.2 questions=1,3 areas=all"
        )
        timestamp = str(int(time.time()))
        for index in range(MEMBERS):
            body = slack_command_body(fake.url, index, "me")
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": slack_signature(body, timestamp),
            }
            async with session.post(target.url + "/slack/events", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
        await drained(fake, "respond", MEMBERS)
        # The check-in's invitations go out through the outbox: let them, before measuring.
        await drained(fake, "teams", 2 * MEMBERS + 2)


async def drained(fake: Loopback, counter: str, at_least: int, *, within: float = 120.0) -> float:
    """Wait until ``counter`` has reached ``at_least`` and stopped moving, or has not moved for
    10 s (a reply the bot rightly left out: a double-clicked check-in answer); seconds waited."""
    started = moved = time.monotonic()
    last = -1
    while time.monotonic() - started < within:
        now = (await fake.stats()).get(counter, 0)
        if now == last and (now >= at_least or time.monotonic() - moved > 10):
            break
        if now != last:
            moved = time.monotonic()
        last = now
        await asyncio.sleep(0.25)
    return time.monotonic() - started


# -- the benchmark --------------------------------------------------------------------------


@dataclass
class Baselines:
    """The stock SDKs' servers, up for the whole benchmark so that each can be measured again
    in the same rounds as the partnerbot path it is the baseline of."""

    bolt: Driven
    echo: Driven


@asynccontextmanager
async def baseline_servers(fake: Loopback) -> AsyncIterator[Baselines]:
    python = [sys.executable, "-m", "bench.baselines"]
    bolt_port, echo_port = free_port(), free_port()
    bolt_argv = [*python, "bolt", "--port", str(bolt_port), "--slack-api"]
    bolt_argv += [fake.url + "/slack/api/", "--signing-secret", SECRET]
    echo_argv = [*python, "echo", "--port", str(echo_port)]
    async with (
        server("bolt", bolt_argv, port=bolt_port, health="/") as bolt,
        server("echo", echo_argv, port=echo_port, health="/") as echo,
    ):
        counted = await _counting(fake, "teams")
        yield Baselines(
            Driven(
                "stock bolt AsyncApp, slash command ack only",
                bolt,
                lambda _: slack_script(fake.url),
            ),
            Driven(
                "stock botbuilder CloudAdapter echo",
                echo,
                # Authentication off (no app id): the stock echo's cheapest configuration.
                lambda run: teams_script(fake.url + "/teams", kind="help", run=run),
                before=counted[0],
                after=counted[1],
            ),
        )


async def baselines(args: argparse.Namespace, stock: Baselines) -> dict[str, Result]:
    write("baselines (same run):")
    found: dict[str, Result] = {}
    python = [sys.executable, "-m", "bench.baselines"]
    port = free_port()
    async with server("bare", [*python, "bare", "--port", str(port)], port=port, health="/") as s:
        found["bare"] = await measure("bare aiohttp, 1 KB POST", s, lambda _: bare_script(), args)
    found["bolt"], found["echo"] = await measure_rounds([stock.bolt, stock.echo], args)
    return found


async def _counting(
    fake: Loopback, counter: str, target: Server | None = None
) -> tuple[Callable[[], Any], Callable[..., Any]]:
    """before/after hooks: replies the loopback got during a run, per second, and how long the
    server took to deliver the rest after wrk stopped. With ``target``, the Slack requests it
    refused as overloaded (its /metrics) are counted, and no reply is waited for them."""

    async def before() -> tuple[int, float]:
        return (await fake.stats()).get(counter, 0), await _refused(target)

    async def after(state: tuple[int, float], run: Run) -> dict[str, float]:
        start, refused_before = state
        at_end = (await fake.stats()).get(counter, 0)
        refused = int(await _refused(target) - refused_before)
        expected = start + run.requests - run.errors - refused
        waited = await drained(fake, counter, expected, within=180)
        total = (await fake.stats()).get(counter, 0)
        found = {
            "replies/s during run": (at_end - start) / run.seconds,
            "replies total/requests": (total - start) / max(1, run.requests),
            "s to drain": waited,
        }
        if target is not None:
            found["refused as busy"] = refused
        return found

    return before, after


async def _refused(target: Server | None) -> float:
    if target is None:
        return 0.0
    async with aiohttp.ClientSession() as session, session.get(target.url + "/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith("partnerbot_slack_refused_total "):
            return float(line.split()[1])
    return 0.0


async def bot_paths(
    args: argparse.Namespace, fake: Loopback, label: str, url: str, stock: Baselines
) -> dict[str, Result]:
    """The bot's paths on one database, each in rounds with what its target is a ratio to:
    Teams help, the check-in answer and the stock echo in turn; Slack help and stock bolt."""
    found: dict[str, Result] = {}
    port = free_port()
    env = bot_env(url, fake, port)
    write(f"partnerbot serve on {label}, in rounds with the stock SDKs:")
    async with server(f"serve-{label}", serve_argv(port), env=env, port=port) as s:
        await prepare(s, fake)
        teams = await _counting(fake, "teams")
        help_, answer = (
            Driven(name, s, signed_teams(fake, kind), before=teams[0], after=teams[1])
            for name, kind in (("Teams help", "help"), ("Teams check-in answer", "answer"))
        )
        found["help"], found["answer"], found["echo"] = await measure_rounds(
            [help_, answer, stock.echo], args
        )
        if args.profile:
            # Before the Slack path, whose replies may still be draining after it.
            await profile(args, fake, s, label, ("teams-help", "teams-answer"))
        slack = await _counting(fake, "respond", s)
        found["slack"], found["bolt"] = await measure_rounds(
            [
                Driven(
                    "Slack /partner help",
                    s,
                    lambda _: slack_script(fake.url),
                    before=slack[0],
                    after=slack[1],
                ),
                stock.bolt,
            ],
            args,
        )
        if args.profile:
            await profile(args, fake, s, label, ("slack-help",))
    return found


async def scale_out(args: argparse.Namespace, fake: Loopback, url: str) -> dict[str, Result]:
    """Teams help on PostgreSQL: one process on one core (wrk on the other) and two
    SO_REUSEPORT processes on both cores (wrk sharing them), both up at once on the same
    database and measured in rounds, one run of each in turn. Bare aiohttp the same way first:
    the most two processes gain on this machine when what drives them shares their cores."""
    found: dict[str, Result] = {}

    def ports() -> tuple[int, int]:
        return free_port(), free_port()

    write("scale-out, bare aiohttp (the machine's ceiling), in rounds:")
    one, two = ports()
    bare = [sys.executable, "-m", "bench.baselines", "bare", "--reuse-port", "--port"]
    async with (
        server("bare-x1", [*bare, str(one)], port=one, health="/") as x1,
        server("bare-x2", [*bare, str(two)], port=two, health="/", copies=2, core=None) as x2,
    ):
        found["bare-x1"], found["bare-x2"] = await measure_rounds(
            [
                Driven("1 process", x1, lambda _: bare_script()),
                Driven("2 processes", x2, lambda _: bare_script(), core=None),
            ],
            args,
        )
    write("scale-out on PostgreSQL (Teams help), in rounds:")
    one, two = ports()
    async with (
        server(
            "serve-x1",
            serve_argv(one, reuse_port=True),
            env=bot_env(url, fake, one),
            port=one,
        ) as x1,
        server(
            "serve-x2",
            serve_argv(two, reuse_port=True),
            env=bot_env(url, fake, two),
            port=two,
            copies=2,
            core=None,
        ) as x2,
    ):
        await prepare(x1, fake)  # the database both share: members, their area, a check-in
        found["x1"], found["x2"] = await measure_rounds(
            [
                Driven("1 process", x1, signed_teams(fake, "help")),
                Driven("2 processes", x2, signed_teams(fake, "help"), core=None),
            ],
            args,
        )
    return found


async def profile(
    args: argparse.Namespace, fake: Loopback, target: Server, label: str, paths: Sequence[str]
) -> None:
    """py-spy over one run of each of ``paths`` (collapsed stacks in --profile-dir)."""
    spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    folder = Path(args.profile_dir)
    os.makedirs(folder, exist_ok=True)
    scripts = {
        "teams-help": signed_teams(fake, "help"),
        "teams-answer": signed_teams(fake, "answer"),
        "slack-help": lambda _: slack_script(fake.url),
    }
    for name in paths:
        make = scripts[name]
        out = folder / f"{label.lower()}-{name}.txt"
        recorder = await asyncio.create_subprocess_exec(
            spy,
            "record",
            "--format",
            "raw",
            "-r",
            "250",
            "-d",
            str(int(args.seconds)),
            "-o",
            str(out),
            "-p",
            str(target.pids[0]),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await wrk(target.url, make(uuid.uuid4().hex[:8]), seconds=args.seconds)
        await recorder.wait()
        write(f"  profile: {out}")


def report(
    base: dict[str, Result], bots: dict[str, dict[str, Result]], scale: dict[str, Result]
) -> None:
    """The table (medians; each ratio column against the baseline's first measurement), then
    the targets, each the median of its ratios round by round (``measure_rounds``)."""
    bare, bolt, echo = base["bare"].rate, base["bolt"].rate, base["echo"].rate
    write()
    write(
        "| path | req/s | p50 ms | p99 ms | of bare | x bolt ack | x stock echo | CPU ms/req "
        "| RSS MB (peak) |"
    )
    write("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(label: str, r: Result) -> None:
        write(
            f"| {label} | {r.rate:,.0f} | {r.p50:.2f} | {r.p99:.2f} | {r.rate / bare:.1%} | "
            f"{r.rate / bolt:.2f} | {r.rate / echo:.2f} | "
            f"{r.extra('server CPU ms/request') or 0:.2f} | "
            + (f"{r.peak_rss:.0f} ({r.peak_hwm:.0f}) |" if r.memory_mb else "|")
        )

    row("bare aiohttp, 1 KB POST", base["bare"])
    row("stock bolt, slash command ack only", base["bolt"])
    row("stock botbuilder echo", base["echo"])
    for db, found in bots.items():
        for key, name in (
            ("help", "Teams help"),
            ("answer", "Teams check-in answer"),
            ("echo", "stock botbuilder echo, in the Teams rounds"),
            ("slack", "Slack /partner help (ack)"),
            ("bolt", "stock bolt ack, in the Slack rounds"),
        ):
            if key in found:
                row(f"{name}, {db}", found[key])
    for key, r in scale.items():
        if key.startswith("bare-"):
            row(f"bare aiohttp, {key[6:]} process(es)", r)
        else:
            row(f"PostgreSQL Teams help, {key[1:]} process(es)", r)
    write()
    write("Targets, each the median of the ratios within a round:")
    for db, found in bots.items():
        if {"help", "answer", "echo", "slack", "bolt"} <= found.keys():
            slack = found["slack"]
            write(
                f"{db}: Teams help = {paired(found['help'], found['echo']):.1f}x stock echo "
                f"(target 8x); check-in answer = {paired(found['answer'], found['help']):.0%} "
                f"of help (target 50%); Slack help acks = "
                f"{paired(slack, found['bolt']):.2f}x bolt ack-only (target 1x), p99 "
                f"{slack.p99:.1f} ms (target < 20); replies delivered during the run "
                f"{slack.extra('replies/s during run') or 0:,.0f}/s, "
                f"{slack.extra('s to drain') or 0:.1f} s to deliver the rest; "
                f"{slack.extra('refused as busy') or 0:,.0f} refused as busy"
            )
    if {"x1", "x2"} <= scale.keys():
        write(
            f"two processes = {paired(scale['x2'], scale['x1']):.2f}x one (target 1.6x); "
            f"bare aiohttp: {paired(scale['bare-x2'], scale['bare-x1']):.2f}x"
        )


async def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    write(
        f"# request throughput: wrk -t1 -c{CONNECTIONS}, {args.seconds:g} s runs after a "
        f"{args.warmup:g} s warm-up, median of {args.runs}; server on core {SERVER_CORE}, wrk and "
        f"the loopback platforms on core {CLIENT_CORE}"
    )
    write(
        f"nproc {os.cpu_count()}, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}"
    )
    databases: list[tuple[str, Callable[[], Any]]] = []
    if "sqlite" in args.databases:
        databases.append(("SQLite", sqlite_database))
    if args.postgres and "postgres" in args.databases:
        databases.append(("PostgreSQL", lambda: postgres_database(args.postgres)))
    async with loopback() as fake, baseline_servers(fake) as stock:
        base = await baselines(args, stock)
        bots: dict[str, dict[str, Result]] = {}
        for label, database in databases:
            async with database() as url:
                bots[label] = await bot_paths(args, fake, label, url, stock)
        scale: dict[str, Result] = {}
        if args.postgres and args.scale:
            async with postgres_database(args.postgres) as url:
                scale = await scale_out(args, fake, url)
    report(base, bots, scale)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench throughput", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="measured runs per path (median)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--no-scale", dest="scale", action="store_false")
    parser.add_argument("--profile", action="store_true", help="py-spy one run of each path")
    parser.add_argument("--profile-dir", default="bench-profiles")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("PARTNERBOT_TEST_POSTGRES_URL", ""),
        help="also run on a fresh database on this server (default: $PARTNERBOT_TEST_POSTGRES_URL)",
    )
    return parser


def main(argv: Sequence[str]) -> None:
    asyncio.run(run(parser().parse_args(argv)))
