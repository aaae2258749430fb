"""Helpers for the end-to-end test against the Microsoft 365 Agents Playground.

The Playground (npm ``@microsoft/m365agentsplayground``) is Microsoft's Teams client emulator: it
plays the Teams client and a mocked Bot Connector, so the bot under test talks to it exactly as it
talks to Teams. Its own web client uses a small HTTP and websocket API, which this module drives:

- ``GET  /_internal/v1/testConfig``: the tenant, the bot, the signed-in user and the chats (the
  personal chat's id changes on every start);
- ``POST /_debug/conversation/{chat}/installation``: the user installs the app
  (``installationUpdate`` and ``conversationUpdate`` with ``membersAdded`` go to the bot);
- ``POST /_conversation/v1/conversations/{chat}/messages``: the user sends a message;
- websocket ``/_ws_conversation/v1/conversations/stream``: what the client shows, as
  ``{"action": "createMessage" | "updateMessage" | "typing", "actionConversationId", "message"}``.
  A message with text and cards arrives as two messages, as Teams shows it. Messages sent while
  no client is connected are buffered and delivered when one connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import html as htmllib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp

logger = logging.getLogger(__name__)

PLAYGROUND_PACKAGE = "@microsoft/m365agentsplayground"
PLAYGROUND_VERSION = "0.2.28"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "playground"

NPM_INSTALL_TIMEOUT = 240.0
START_TIMEOUT = 30.0
REPLY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
POLL_INTERVAL = 0.05

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Variables that would point the Playground or the bot at something other than this test's own.
_FOREIGN_ENV = re.compile(
    r"^(PARTNERBOT_|M365_AGENTS_PLAYGROUND_|TEAMSAPPTESTER_|TEAMS_APP_TEST_TOOL_)"
    r"|^(BOT_ENDPOINT|SEND_INSTALLATION_ACTIVITY|DEFAULT_CHANNEL_ID)$"
)

T = TypeVar("T")


class PlaygroundUnavailable(Exception):
    """node or npm is missing, or npm could not install the Playground."""


# --- installing ----------------------------------------------------------------------------------


def node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PlaygroundUnavailable("node and npm are needed to run the Agents Playground")
    return node, npm


def installed_cli(cache_dir: Path = CACHE_DIR) -> Path | None:
    """The Playground's cli.js if the pinned version is installed in ``cache_dir``."""
    package_dir = cache_dir / "node_modules" / Path(*PLAYGROUND_PACKAGE.split("/"))
    try:
        version = json.loads((package_dir / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    cli = package_dir / "cli.js"
    return cli if version == PLAYGROUND_VERSION and cli.is_file() else None


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    # Two test runs in one checkout must not run npm into the same folder at once.
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_playground(
    npm: str, cache_dir: Path = CACHE_DIR, *, timeout: float = NPM_INSTALL_TIMEOUT
) -> Path:
    """Install the pinned Playground into ``cache_dir`` unless it is there; return its cli.js."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(cache_dir / ".install.lock"):
        cli = installed_cli(cache_dir)
        if cli is not None:
            return cli
        command = [
            npm,
            "install",
            "--prefix",
            str(cache_dir),
            "--no-audit",
            "--no-fund",
            "--save-exact",
            f"{PLAYGROUND_PACKAGE}@{PLAYGROUND_VERSION}",
        ]
        try:
            done = subprocess.run(
                command,
                cwd=cache_dir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PlaygroundUnavailable(
                f"npm install {PLAYGROUND_PACKAGE} took longer than {timeout:.0f} s"
            ) from None
        cli = installed_cli(cache_dir)
        if done.returncode != 0 or cli is None:
            raise PlaygroundUnavailable(
                f"npm install {PLAYGROUND_PACKAGE}@{PLAYGROUND_VERSION} failed "
                f"(exit {done.returncode}): {_tail(done.stderr or done.stdout)}"
            )
        return cli


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without anything aimed at another bot or Playground, plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if not _FOREIGN_ENV.search(name)}
    env.update(extra)
    return env


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Service:
    """A child process in a process group of its own, its output in a log file."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                list(self.argv),
                env=dict(self.env),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                # Its own session, so stop() can end it with everything it started.
                start_new_session=True,
            )
        except BaseException:
            self.stop()
            raise

    @property
    def exited(self) -> bool:
        return self.process is None or self.process.poll() is not None

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def describe(self) -> str:
        state = "running"
        if self.process is not None and self.process.returncode is not None:
            state = f"exited with {self.process.returncode}"
        return f"--- {self.name} ({state}), last lines of {self.log_path}:\n{_tail(self.output())}"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            _end_group(process)
        if self._log is not None:
            self._log.close()
            self._log = None


def _end_group(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; anything it left behind in its group goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return


def wait_until(
    check: Callable[[], T | None], *, timeout: float, what: str, describe: Callable[[], str]
) -> T:
    """Poll ``check`` until it returns something other than None, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}\n{describe()}"
            )
        time.sleep(POLL_INTERVAL)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Partnerbot:
    """``partnerbot serve`` on loopback, with its own SQLite database."""

    service: Service
    port: int
    database: Path

    @property
    def messages_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"


def start_partnerbot(python: str, workdir: Path, *, attempts: int = 3) -> Partnerbot:
    database = workdir / "partnerbot.db"
    env = child_env(
        {
            "PARTNERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "PARTNERBOT_ENV": "development",
            "PYTHONUNBUFFERED": "1",
        }
    )
    # The working directory is the test's own, so no developer's .env is read.
    upgrade = subprocess.run(
        [python, "-m", "bot.cli", "db", "upgrade"],
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    if upgrade.returncode != 0:
        raise AssertionError(f"partnerbot db upgrade failed:\n{_tail(upgrade.stderr)}")
    for attempt in range(1, attempts + 1):
        port = free_port()
        service = Service(
            "partnerbot",
            [python, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=workdir,
            log_path=workdir / "partnerbot.log",
        )
        service.start()
        healthz = f"http://127.0.0.1:{port}/healthz"

        def ready(service: Service = service, healthz: str = healthz) -> str | None:
            if service.exited:
                return "exited"
            return "up" if http_ok(healthz) else None

        try:
            state = wait_until(
                ready,
                timeout=START_TIMEOUT,
                what=f"partnerbot at {healthz}",
                describe=service.describe,
            )
        except BaseException:
            service.stop()
            raise
        if state == "up":
            return Partnerbot(service, port, database)
        failure = service.describe()
        lost_port = "address already in use" in service.output().lower()
        service.stop()
        # Another process may take the port between free_port() and the bind: try another.
        if not lost_port or attempt == attempts:
            raise AssertionError(f"partnerbot serve did not start\n{failure}")
    raise AssertionError("unreachable")


_LISTENING = re.compile(r"Listening on (\d+)")


@dataclass
class Playground:
    service: Service
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_playground(
    node: str, cli: Path, bot_endpoint: str, workdir: Path, *, attempts: int = 3
) -> Playground:
    env = child_env(
        {
            # Otherwise it opens a browser, and exits when it cannot.
            "TEAMSAPPTESTER_BROWSER": "none",
            "M365_AGENTS_PLAYGROUND_LOGFILE": str(workdir / "playground-events.log"),
        }
    )
    for attempt in range(1, attempts + 1):
        port = free_port()
        service = Service(
            "playground",
            [
                node,
                str(cli),
                "start",
                "--app-endpoint",
                bot_endpoint,
                "--channel-id",
                "msteams",
                "--disable-telemetry",
                "--port",
                str(port),
                "--service-url",
                f"http://127.0.0.1:{port}/_connector",
            ],
            env=env,
            # Its working directory is where it looks for .m365agentsplayground.yml and writes
            # devTools/: the test's own, so a developer's configuration cannot leak in.
            cwd=workdir,
            log_path=workdir / "playground.log",
        )
        service.start()

        def listening(service: Service = service) -> int | None:
            found = _LISTENING.search(service.output())
            if found:
                return int(found.group(1))
            return -1 if service.exited else None

        try:
            bound = wait_until(
                listening,
                timeout=START_TIMEOUT,
                what="the Playground to listen",
                describe=service.describe,
            )
        except BaseException:
            service.stop()
            raise
        # When its port is taken it silently picks another one, and then the service URL it
        # gives the bot would be wrong: start again on a new port.
        if bound == port:
            return Playground(service, port)
        failure = service.describe()
        service.stop()
        if attempt == attempts:
            raise AssertionError(f"the Playground did not start on port {port}\n{failure}")
    raise AssertionError("unreachable")


# --- what the user sees --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    """One message the Playground showed the user: its text, the text on its cards and the
    titles of its buttons."""

    sender_id: str
    text: str
    card_text: tuple[str, ...]
    buttons: tuple[str, ...]

    @property
    def visible(self) -> str:
        return "\n".join((self.text, *self.card_text, *self.buttons)).strip()

    @classmethod
    def from_client(cls, message: Mapping[str, Any]) -> Delivered:
        texts: list[str] = []
        buttons: list[str] = []
        for attachment in message.get("attachments") or ():
            _read_card(attachment.get("content"), texts, buttons)
        suggested = message.get("suggestedActions") or {}
        buttons.extend(str(a.get("title", "")) for a in suggested.get("actions") or ())
        text = str(message.get("text") or "")
        if message.get("textFormat", "markdown") != "plain":
            text = shown_markdown(text, html=True)
        return cls(
            sender_id=str((message.get("from") or {}).get("id", "")),
            text=text,
            card_text=tuple(shown_markdown(t) for t in texts if t),
            buttons=tuple(b for b in buttons if b),
        )


# A code span; a backslash escape of markdown punctuation.
_CODE_SPAN = re.compile(r"(?<!\\)`([^`]*)`")
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!~<>|&])")


def shown_markdown(text: str, *, html: bool = False) -> str:
    """The characters a reader sees once Teams has rendered ``text``: escapes undone, code spans
    without their backticks, and (in messages, which Teams renders as HTML) entities decoded.
    Formatting such as bold is kept as written; the test compares words, not looks."""
    shown = []
    for index, part in enumerate(_CODE_SPAN.split(text)):
        if index % 2:
            shown.append(part)
        else:
            part = _ESCAPED.sub(r"\1", part)
            shown.append(htmllib.unescape(part) if html else part)
    return "".join(shown)


_CARD_TEXT_KEYS = ("text", "title", "subtitle", "value", "label", "placeholder")


def _read_card(node: Any, texts: list[str], buttons: list[str]) -> None:
    """Collect what Teams would render from an Adaptive Card or a hero card: text everywhere,
    and the titles of actions and buttons as buttons."""
    if isinstance(node, list):
        for item in node:
            _read_card(item, texts, buttons)
        return
    if not isinstance(node, dict):
        return
    kind = str(node.get("type", ""))
    is_action = kind.startswith("Action.") or kind in {"imBack", "messageBack", "openUrl"}
    if is_action and isinstance(node.get("title"), str):
        buttons.append(node["title"])
    else:
        texts.extend(node[key] for key in _CARD_TEXT_KEYS if isinstance(node.get(key), str))
    for key, value in node.items():
        if key in {"data", "value", "selectAction"} and is_action:
            continue  # what a button sends is not shown
        if isinstance(value, (dict, list)):
            _read_card(value, texts, buttons)


def transcript(messages: Sequence[Delivered]) -> str:
    if not messages:
        return "(nothing)"
    return "\n".join(f"[{i}] {m.visible!r}" for i, m in enumerate(messages))


class PlaygroundUser:
    """The Playground's signed-in user, in their personal chat with the bot."""

    def __init__(
        self,
        base_url: str,
        *,
        diagnostics: Callable[[], str] = lambda: "",
        reply_timeout: float = REPLY_TIMEOUT,
    ) -> None:
        self.base_url = base_url
        self.reply_timeout = reply_timeout
        self._diagnostics = diagnostics
        self._session: aiohttp.ClientSession | None = None
        self._stream: aiohttp.ClientWebSocketResponse | None = None
        self._order: list[str] = []
        self._messages: dict[str, Delivered] = {}
        self.config: dict[str, Any] = {}

    async def __aenter__(self) -> PlaygroundUser:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT))
        try:
            async with self._session.get(f"{self.base_url}/_internal/v1/testConfig") as response:
                response.raise_for_status()
                self.config = (await response.json())["config"]
            self._stream = await self._session.ws_connect(
                f"{self.base_url}/_ws_conversation/v1/conversations/stream"
            )
        except BaseException:
            await self._session.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._stream is not None:
            await self._stream.close()
        if self._session is not None:
            await self._session.close()

    @property
    def name(self) -> str:
        return str(self.config["currentUser"]["name"])

    @property
    def user_id(self) -> str:
        return str(self.config["currentUser"]["id"])

    @property
    def bot_id(self) -> str:
        return str(self.config["bot"]["id"])

    @property
    def chat_id(self) -> str:
        return str(self.config["personalChat"]["id"])

    @property
    def delivered(self) -> list[Delivered]:
        return [self._messages[key] for key in self._order]

    async def install_app(self) -> None:
        await self._post(f"/_debug/conversation/{self.chat_id}/installation", {})

    async def say(self, text: str) -> None:
        await self._post(
            f"/_conversation/v1/conversations/{self.chat_id}/messages",
            {"from": {"id": self.user_id}, "text": text, "textFormat": "plain"},
        )

    async def _post(self, path: str, body: Mapping[str, Any]) -> None:
        assert self._session is not None, "use PlaygroundUser in `async with`"
        async with self._session.post(f"{self.base_url}{path}", json=body) as response:
            if response.status != 200:
                raise AssertionError(
                    f"the Playground answered {response.status} to POST {path}: "
                    f"{await response.text()}"
                )

    async def replies(
        self,
        since: int,
        until: Callable[[Sequence[Delivered]], bool],
        *,
        what: str,
    ) -> list[Delivered]:
        """The bot's messages from index ``since`` on, once ``until`` holds for them."""
        assert self._stream is not None, "use PlaygroundUser in `async with`"
        timeout = self.reply_timeout
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            from_bot = [m for m in self.delivered[since:] if m.sender_id == self.bot_id]
            if until(from_bot):
                return from_bot
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}; the user saw:\n"
                    f"{transcript(from_bot)}\n{self._diagnostics()}"
                )
            try:
                frame = await self._stream.receive(timeout=remaining)
            except TimeoutError:
                continue
            if frame.type is not aiohttp.WSMsgType.TEXT:
                raise AssertionError(
                    f"the Playground's stream ended ({frame.type.name}) while waiting for {what}"
                    f"\n{self._diagnostics()}"
                )
            self._receive(json.loads(frame.data))

    def _receive(self, event: Mapping[str, Any]) -> None:
        if event.get("actionConversationId") != self.chat_id:
            return
        if event.get("action") not in {"createMessage", "updateMessage"}:
            return  # "typing"
        message = event["message"]
        key = str(message["messageId"])
        if key not in self._messages:
            self._order.append(key)
        self._messages[key] = Delivered.from_client(message)
