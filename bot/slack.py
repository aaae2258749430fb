"""The Slack edge: slack-bolt on our aiohttp app at ``POST /slack/events``.

Bolt verifies the signature and the timestamp, answers url_verification and acks; the listeners
here parse the payload once into an ``IncomingMessage``, call the core and render its replies.
With ``process_before_response=True`` each listener acks and hands its work to a task of its
own (``SlackEdge.later``): the ack goes back at once, never waiting on the core, and without the
default mode's 10 ms polling for ``ack()``, nor the deep copy of the request that bolt's own
"lazy" listeners make (../shared/PERFORMANCE.md, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
import traceback
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiohttp import ClientError, ClientSession, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import extract_team_id, parse_body
from slack_bolt.request.payload_utils import to_action, to_command, to_event
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.ops import METRICS
from bot.slack_blocks import (
    form_command,
    images_of,
    render_blocks,
    render_fallback,
    render_modal,
)
from bot.slack_files import slack_error, upload_images
from config.settings import Settings, SettingsError
from dialogs.core import Partnerbot
from dialogs.messages import (
    ConversationAddress,
    ConversationKind,
    FormValue,
    IncomingMessage,
    Mention,
    Platform,
    PlatformUser,
)
from dialogs.views import Reply, Tone, View, text_reply

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SORRY = "Sorry, something went wrong. Please try again in a moment."
# Button action ids are ``cmd:<n>`` (bot/slack_blocks.py); the value is the command.
BUTTON_ACTION = re.compile(r"^cmd:\d+$")
# A link button (``link:<n>``) opens its URL in the member's browser; Slack still tells the app.
LINK_ACTION = re.compile(r"^link:\d+$")
# The message shortcut "Save to practice library" (its callback id in the app's manifest), and
# the callback id of every modal the bot opens for a form.
SAVE_SHORTCUT = "save_to_practice"
FORM_CALLBACK = "partnerbot_form"
# Turns after their acks running at once; the rest wait their turn (in order).
WORK_AT_ONCE = 16
# Of those, the ones that start new work while acks are being answered: acks come first, and
# the queue (and the memory it holds) still drains.
WORK_WHILE_ACKING = 4
# For this long after an ack, the work yields to the event loop between its steps.
ACKS_RECENT = 0.05
# Payloads acked and still waiting for a worker, beyond which new requests are refused until
# the queue shrinks: each waits as its body (half a kilobyte), so this bounds the memory a
# flood can take (about 5 MB) and how late a reply can come (a minute or two).
MAX_WAITING = 10_000
BUSY = "partnerbot is very busy just now and could not take that. Please try again in a minute."
# Refusals are logged at most this often, with how many there were.
REFUSALS_LOGGED_EVERY = 10.0
# Web API clients kept, one per workspace token.
MAX_CLIENTS = 256
SLACK_EDGE: web.AppKey[SlackEdge] = web.AppKey("slack_edge")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")


def setup_slack(app: web.Application, settings: Settings, core: Partnerbot) -> None:
    edge = SlackEdge(core, command=settings.slack_command)
    app[SLACK_EDGE] = edge
    metrics = app.get(METRICS)
    if metrics is not None:
        metrics.slack_waiting.set_function(lambda: edge.waiting)
        edge.on_refused = metrics.slack_refused.inc
    bolt = create_bolt_app(settings, core, edge=edge, verified_before=True)
    verifier = SlackSignature(settings.slack_signing_secret)

    async def events(request: web.Request) -> web.Response:
        with edge.acking():
            return await answer(request)

    async def answer(request: web.Request) -> web.Response:
        body = await request.text()  # over the app's client_max_size: 413
        # Before anything parses the body: bolt builds its request, reading the payload's
        # shape, before it checks the signature, and a malformed one crashes that into a 500.
        # Bolt checks again; this only makes sure it never parses an unsigned body.
        if not verifier.valid(body, request.headers):
            return web.json_response({"error": "invalid request"}, status=401)
        if edge.overloaded():
            return edge.refuse(body, request.content_type)
        if edge.ack_known_command(body, request.content_type):
            return web.Response(status=200, content_type="text/plain")  # bolt's empty ack
        try:
            bolt_request = await to_bolt_request(request)  # the body, read once, again
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            return web.Response(status=400, text="not a Slack payload")
        if not bolt_can_read(bolt_request.body):
            return web.Response(status=400, text="not a Slack payload")
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    app.router.add_post(EVENTS_PATH, events)
    flow = bolt.oauth_flow
    if flow is not None:
        # The OAuth mode: bolt's installation flow, on the paths the app's manifest names.
        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await flow.handle_installation(await to_bolt_request(request))
            )

        async def oauth_redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await flow.handle_callback(await to_bolt_request(request))
            )

        app.router.add_get(flow.install_path, install)
        app.router.add_get(flow.redirect_uri_path, oauth_redirect)

    async def finish_work(_app: web.Application) -> None:
        # Before the store closes: the work after an ack still writes to it.
        await edge.finish()

    app.on_cleanup.append(finish_work)


def create_bolt_app(
    settings: Settings,
    core: Partnerbot,
    *,
    edge: SlackEdge | None = None,
    verified_before: bool = False,
) -> AsyncApp:
    """The bolt app and its listeners. ``verified_before``: every request reaches it only
    after its signature and timestamp were checked (``setup_slack``, with SlackSignature: the
    check bolt's own verifier makes), so bolt need not check them again."""
    missing = settings.slack_missing()
    if missing:
        raise SettingsError("Slack needs these variables set: " + ", ".join(missing))
    client = AsyncWebClient(
        # One workspace: its token. Several (OAuth): none here; bolt gives each request's
        # client the token of the workspace it came from.
        token=settings.slack_bot_token or None,
        base_url=settings.slack_api_url,
        # slack_sdk retries only connection errors by default; a 429 carries Retry-After.
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )
    oauth: dict[str, Any] = {}
    if settings.slack_oauth:
        from bot.slack_install import oauth_options

        oauth = oauth_options(settings, core.store, client)
    # The token travels in the client; passing it to AsyncApp too only logs that it is unused.
    bolt = AsyncApp(
        name="partnerbot",
        signing_secret=settings.slack_signing_secret,
        client=client,
        process_before_response=True,
        request_verification_enabled=not verified_before,
        **oauth,
    )
    if settings.slack_oauth:
        # app_uninstalled and tokens_revoked delete the workspace's tokens (bolt's listeners
        # on our installation store).
        bolt.enable_token_revocation_listeners()
    edge = edge or SlackEdge(core, command=settings.slack_command)
    edge.use_client(client, single_team=not settings.slack_oauth)
    bolt.command(settings.slack_command)(edge.ack_command)
    bolt.event("app_mention")(edge.ack_mention)
    bolt.event("message")(edge.ack_message)
    bolt.action(BUTTON_ACTION)(edge.ack_button)
    bolt.action(LINK_ACTION)(edge.on_link)
    bolt.shortcut(SAVE_SHORTCUT)(edge.ack_save_shortcut)
    # A modal's submit acks with the core's answer (keep the modal open with the form again),
    # so it runs before the response.
    bolt.view(FORM_CALLBACK)(edge.on_form_submit)
    return bolt


async def _acked(**_: Any) -> None:
    """The ``ack`` the work gets: Slack has had its answer already."""


class UserNames:
    """Display names from users.info, remembered for a while so a busy channel does not spend
    one Web API call per message on them. Only a convenience: the database has the names too."""

    def __init__(self, *, size: int = 4096, ttl: float = 3600.0) -> None:
        self._size = size
        self._ttl = ttl
        self._names: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def of(self, client: AsyncWebClient, user_id: str, *, fallback: str = "") -> str:
        now = time.monotonic()
        cached = self._names.get(user_id)
        if cached is not None and cached[0] > now:
            return cached[1] or fallback
        name = ""
        try:
            response = await client.users_info(user=user_id)
            name = _name_of(response.get("user") or {})
        except SlackApiError as error:
            logger.warning("users.info failed: %s", slack_error(error))
        except (TimeoutError, ClientError) as error:
            logger.warning("users.info failed: %s", type(error).__name__)
        self._names[user_id] = (now + self._ttl, name)
        self._names.move_to_end(user_id)
        while len(self._names) > self._size:
            self._names.popitem(last=False)
        return name or fallback


def _name_of(user: Mapping[str, Any]) -> str:
    profile = user.get("profile") or {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if name:
            return str(name)
    return ""


class Acked(NamedTuple):
    """A payload acked and not yet worked on, as small as it can be held: its raw body (parsed
    again when its turn comes) and the few strings of bolt's context the work reads. A burst of
    thousands waits as strings, not as bolt's request, context, per-request Web API client and
    a suspended listener each (most of a busy server's memory, and what its full garbage
    collections had to walk; docs/benchmarks.md). It waits in the queue as a plain tuple of
    those strings, which the collector stops tracking: ten thousand waiting made a full
    collection (10 ms with the loop stopped) every second or two of a flood."""

    kind: str
    raw_body: str
    content_type: str | None
    team_id: str | None
    bot_token: str | None
    bot_user_id: str | None


class WorkContext:
    """What the listeners read of bolt's context, for work run after its ack."""

    __slots__ = ("bot_user_id", "team_id")

    def __init__(self, team_id: str | None, bot_user_id: str | None) -> None:
        self.team_id = team_id
        self.bot_user_id = bot_user_id


class SlackEdge:
    """The listeners. Each turns one Slack payload into an IncomingMessage and sends the replies
    back the way that payload allows: response_url, a thread, an ephemeral message or the DM."""

    def __init__(self, core: Partnerbot, *, command: str | None = None) -> None:
        self._core = core
        self._command = command
        # One workspace (no OAuth): its token and bot user, as bolt's authorization gave them
        # to the first command it acked; None until then, and always with OAuth.
        self._single_team = False
        self._workspace: tuple[str, str] | None = None
        self._names = UserNames()
        self._responses = ResponseSession()
        self._queue: asyncio.Queue[tuple[str | None, ...]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        # Requests to the events endpoint being answered now, the turns running now, and an
        # event set whenever one more may start (a turn ended, the requests stopped).
        self._acking = 0
        self._acked_at = -ACKS_RECENT
        self._running = 0
        self._held = 0  # taken from the queue, waiting for their turn to start
        self._may_start = asyncio.Event()
        self.max_waiting = MAX_WAITING
        self.on_refused: Callable[[], object] = lambda: None
        self._refused = 0
        self._refusals_logged = 0.0
        self._template: AsyncWebClient | None = None
        self._clients: OrderedDict[tuple[str | None, str | None], AsyncWebClient] = OrderedDict()

    def use_client(self, client: AsyncWebClient, *, single_team: bool = False) -> None:
        """The app's Web API client, whose settings each workspace's client copies;
        ``single_team``: its token is the only workspace's (no OAuth)."""
        self._template = client
        self._single_team = single_team

    def overloaded(self) -> bool:
        """Whether max_waiting acked payloads are waiting already."""
        return self.waiting >= self.max_waiting

    @property
    def waiting(self) -> int:
        """Payloads acked whose work has not started."""
        return self._queue.qsize() + self._held

    def refuse(self, body: str, content_type: str | None) -> web.Response:
        """The answer to a signed request while overloaded, which takes nothing on: a slash
        command acks with an ephemeral "busy, try again" (what Slack shows its sender); anything
        else gets a 503, which Slack retries later (events) or shows as failed (buttons, forms)."""
        self._refused += 1
        self.on_refused()
        now = time.monotonic()
        if now - self._refusals_logged >= REFUSALS_LOGGED_EVERY:
            logger.warning(
                "Slack requests refused, %d acked payloads waiting: %d since the last warning",
                self.waiting,
                self._refused,
            )
            self._refused = 0
            self._refusals_logged = now
        if content_type == "application/x-www-form-urlencoded" and "command" in form_fields(
            body, _COMMAND
        ):
            return web.json_response({"response_type": "ephemeral", "text": BUSY})
        return web.Response(status=503, headers={"Retry-After": "60"}, text="busy")

    def ack_known_command(self, body: str, content_type: str | None) -> bool:
        """Queue a signed slash command without bolt's dispatch, when bolt has nothing left to
        decide about it: the app's one workspace, whose authorization bolt already made (its
        single-team authorization calls auth.test once and keeps the answer; bolt's token and
        bot user id for every later request are these), and a body that is our command and
        nothing else (no ssl_check, not JSON). Bolt's middleware, matching and argument
        injection are most of an ack's CPU (docs/benchmarks.md); its answer to ``ack()`` is
        a 200 with an empty body, which the caller sends. False: bolt dispatches it."""
        workspace = self._workspace
        if workspace is None or content_type != "application/x-www-form-urlencoded":
            return False
        if "payload" in body or body.startswith("{"):
            return False  # what bolt's parse_body reads as JSON: bolt's to decide
        fields = form_fields(body, _ACK_FIELDS)
        if fields.get("command") != self._command or "ssl_check" in fields:
            return False
        team_id = extract_team_id(fields)
        self._queue_work(Acked("command", body, content_type, team_id, *workspace))
        return True

    # -- ack, then the work in its turn ------------------------------------------------------

    def later(self, kind: str, request: AsyncBoltRequest, context: AsyncBoltContext) -> None:
        """Queue the work of a payload just acked. WORK_AT_ONCE workers take the queue first
        come first served: under a burst the acks still go out at once, and the replies come
        back in order instead of thousands of half-done turns each holding a session."""
        self._queue_work(
            Acked(
                kind,
                request.raw_body,
                request.content_type,
                # bolt reads the team from the payload as it comes: only a string is an id.
                _text_of(context.team_id) or None,
                _text_of(context.bot_token) or None,
                _text_of(context.bot_user_id) or None,
            )
        )

    def _queue_work(self, acked: Acked) -> None:
        self._queue.put_nowait(tuple(acked))
        if not self._workers:
            self._workers = [asyncio.create_task(self._work()) for _ in range(WORK_AT_ONCE)]

    async def _between_steps(self) -> None:
        """While acks are coming in, a turn's work lets the event loop answer the requests
        waiting before it takes its next step: SQLite's statements run on the loop, and a turn
        that never waits would make every ack queued behind it wait for the whole turn."""
        if self._acking or time.monotonic() - self._acked_at < ACKS_RECENT:
            await asyncio.sleep(0)

    @contextmanager
    def acking(self) -> Iterator[None]:
        """Around each request to the events endpoint: while any is being answered, at most
        WORK_WHILE_ACKING turns run, so acks (Slack retries one not back within 3 s) come first
        and the work still moves; once the requests stop, WORK_AT_ONCE do."""
        self._acking += 1
        try:
            yield
        finally:
            self._acking -= 1
            self._acked_at = time.monotonic()
            if not self._acking:
                self._may_start.set()

    async def _work(self) -> None:
        while True:
            acked = Acked._make(await self._queue.get())
            # Taken in order; run in the same order, as many at once as the limit of the
            # moment allows (waiters wake first come first served).
            self._held += 1
            while self._running >= (WORK_WHILE_ACKING if self._acking else WORK_AT_ONCE):
                self._may_start.clear()
                await self._may_start.wait()
            self._held -= 1
            self._running += 1
            try:
                await self._run(acked)
            except Exception as error:
                logger.error(
                    "a Slack listener failed after its ack (%s)",
                    type(error).__name__,
                    exc_info=error,
                )
            finally:
                self._running -= 1
                self._may_start.set()
                self._queue.task_done()

    async def _run(self, acked: Acked) -> None:
        body = parse_body(acked.raw_body, acked.content_type)
        client = self._client_for(acked.bot_token, acked.team_id)
        context = WorkContext(acked.team_id, acked.bot_user_id)
        respond = AsyncRespond(response_url=_response_url(body), proxy=client.proxy, ssl=client.ssl)
        if acked.kind == "command":
            await self.on_command(_acked, to_command(body) or {}, client, context, respond)
        elif acked.kind == "app_mention":
            await self.on_mention(body, to_event(body) or {}, client, context)
        elif acked.kind == "message":
            await self.on_message(body, to_event(body) or {}, client, context)
        elif acked.kind == "button":
            await self.on_button(_acked, body, to_action(body) or {}, client, context, respond)
        elif acked.kind == "shortcut":
            await self.on_save_shortcut(_acked, body, client, context, respond)

    def _client_for(self, token: str | None, team_id: str | None) -> AsyncWebClient:
        """A Web API client per workspace token, kept (bolt builds one per request, reading the
        proxy variables of the environment each time), made as bolt makes its own."""
        key = (token, team_id)
        client = self._clients.get(key)
        if client is None:
            template = self._template or AsyncWebClient()
            client = AsyncWebClient(
                token=token,
                base_url=template.base_url,
                timeout=template.timeout,
                ssl=template.ssl,
                proxy=template.proxy,
                session=template.session,
                trust_env_in_session=template.trust_env_in_session,
                headers=template.headers,
                team_id=team_id,
                logger=template.logger,
                retry_handlers=(
                    None if template.retry_handlers is None else template.retry_handlers.copy()
                ),
            )
            self._clients[key] = client
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        self._clients.move_to_end(key)
        return client

    async def idle(self) -> None:
        """Return once everything acked so far has been worked on."""
        await self._queue.join()

    async def finish(self, *, grace: float = 10.0) -> None:
        """Let the work already acked finish (shutting down); what is still queued after
        ``grace`` seconds is dropped."""
        if self._workers:
            try:
                await asyncio.wait_for(self._queue.join(), timeout=grace)
            except TimeoutError:
                logger.warning(
                    "%d acked Slack payloads were not worked on before the server stopped",
                    self.waiting,
                )
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers = []
        await self._responses.close()

    async def ack_command(
        self, ack: Any, request: AsyncBoltRequest, context: AsyncBoltContext
    ) -> None:
        await ack()
        if self._single_team and context.bot_token and context.bot_user_id:
            self._workspace = (context.bot_token, context.bot_user_id)
        self.later("command", request, context)

    async def ack_mention(
        self, ack: Any, request: AsyncBoltRequest, context: AsyncBoltContext
    ) -> None:
        await ack()
        self.later("app_mention", request, context)

    async def ack_message(
        self, ack: Any, request: AsyncBoltRequest, context: AsyncBoltContext
    ) -> None:
        await ack()
        self.later("message", request, context)

    async def ack_button(
        self, ack: Any, request: AsyncBoltRequest, context: AsyncBoltContext
    ) -> None:
        await ack()
        self.later("button", request, context)

    async def ack_save_shortcut(
        self, ack: Any, request: AsyncBoltRequest, context: AsyncBoltContext
    ) -> None:
        await ack()
        self.later("shortcut", request, context)

    # -- the work ----------------------------------------------------------------------------

    async def on_command(
        self,
        ack: Any,
        command: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        team_id = context.team_id or _text_of(command.get("team_id"))
        user_id = _text_of(command.get("user_id"))
        if not user_id:
            logger.warning("a Slack slash command with no user was ignored")
            return
        text, mentions = await self._text(client, _text_of(command.get("text")), bot_user_id=None)
        conversation = await self._address(
            client,
            team_id=team_id,
            user_id=user_id,
            channel_id=_text_of(command.get("channel_id")),
            channel_name=_text_of(command.get("channel_name")),
            bot_is_member=False,
        )
        sender = await self._sender(client, team_id, user_id, _text_of(command.get("user_name")))
        replies = await self._handle(
            IncomingMessage(sender, conversation, text, mentions), source="command"
        )
        for reply in replies:
            if reply.is_form and await open_form(
                client,
                reply,
                trigger_id=_text_of(command.get("trigger_id")),
                conversation=conversation,
            ):
                continue
            if respond.response_url is None:
                # Slack always sends one; without it, where only the member sees it.
                only_for = None if conversation.is_private else user_id
                await post_reply(
                    client, reply, channel=conversation.conversation_id, only_for=only_for
                )
            else:
                await respond_reply(
                    respond, client, reply, user_id=user_id, session=self._responses.get()
                )

    async def on_mention(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        user, channel = _text_of(event.get("user")), _text_of(event.get("channel"))
        if event.get("bot_id") or not user or not channel:
            return
        team_id = context.team_id or ""
        thread = _text_of(event.get("thread_ts")) or _text_of(event.get("ts")) or None
        text, mentions = await self._text(
            client, _text_of(event.get("text")), bot_user_id=context.bot_user_id
        )
        message = IncomingMessage(
            sender=await self._sender(client, team_id, user),
            conversation=ConversationAddress(
                Platform.SLACK, team_id, channel, kind_of(channel), thread_id=thread
            ),
            text=text,
            mentions=mentions,
            event_id=_text_of(body.get("event_id")) or None,
        )
        for reply in await self._handle(message, source="app_mention"):
            await post_reply(
                client,
                reply,
                channel=channel,
                thread_ts=thread,
                only_for=user if reply.private else None,
            )

    async def on_message(
        self,
        body: dict[str, Any],
        event: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        # Only a person's own words in their DM with the bot; channel messages reach the bot as
        # app_mention, and edits, joins and bots' messages (our own included) are not commands.
        user, channel = _text_of(event.get("user")), _text_of(event.get("channel"))
        if (
            event.get("channel_type") != "im"
            or event.get("subtype")
            or event.get("bot_id")
            or not user
            or not channel
        ):
            return
        team_id = context.team_id or ""
        thread = _text_of(event.get("thread_ts")) or None
        text, mentions = await self._text(
            client, _text_of(event.get("text")), bot_user_id=context.bot_user_id
        )
        message = IncomingMessage(
            sender=await self._sender(client, team_id, user),
            conversation=ConversationAddress(
                Platform.SLACK, team_id, channel, ConversationKind.PERSONAL, thread_id=thread
            ),
            text=text,
            mentions=mentions,
            event_id=_text_of(body.get("event_id")) or None,
        )
        for reply in await self._handle(message, source="message.im"):
            await post_reply(client, reply, channel=channel, thread_ts=thread)

    async def on_button(
        self,
        ack: Any,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        user = _map_of(body.get("user"))
        user_id = _text_of(user.get("id"))
        if not user_id:
            logger.warning("a Slack button press with no user was ignored")
            return
        team_id = context.team_id or _text_of(user.get("team_id"))
        channel = _map_of(body.get("channel"))
        container = _map_of(body.get("container"))
        ephemeral = container.get("is_ephemeral") is True
        # A button in App Home or a modal has no channel: answer in the member's DM.
        conversation = await self._address(
            client,
            team_id=team_id,
            user_id=user_id,
            channel_id=_text_of(channel.get("id")) or _text_of(container.get("channel_id")),
            channel_name=_text_of(channel.get("name")),
            bot_is_member=not ephemeral,
        )
        text, mentions = await self._text(client, _text_of(action.get("value")), bot_user_id=None)
        trigger = _text_of(body.get("trigger_id")) or _text_of(action.get("action_ts"))
        message = IncomingMessage(
            sender=await self._sender(client, team_id, user_id, _text_of(user.get("username"))),
            conversation=conversation,
            text=text,
            mentions=mentions,
            form=form_values(_map_of(body.get("state"))),
            event_id=f"action:{trigger}" if trigger else None,
            is_button=True,
        )
        replies = await self._handle(message, source="block_actions")
        # In the member's DM with the bot, answer as a message; elsewhere only they see it.
        in_dm = conversation.is_private and not ephemeral
        for reply in replies:
            if reply.is_form and await open_form(
                client,
                reply,
                trigger_id=_text_of(body.get("trigger_id")),
                conversation=conversation,
            ):
                continue
            if reply.updates_card:
                # The message the button is on, updated for everyone who sees it.
                message_ts = _text_of(container.get("message_ts"))
                if message_ts and not ephemeral:
                    await _post(
                        client.chat_update,
                        reply,
                        channel=conversation.conversation_id,
                        ts=message_ts,
                    )
                continue
            if in_dm or respond.response_url is None:
                await post_reply(client, reply, channel=conversation.conversation_id)
            else:
                await respond_reply(
                    respond, client, reply, user_id=user_id, session=self._responses.get()
                )

    async def on_link(self, ack: Any) -> None:
        # The browser opens the link; there is nothing to run, but Slack wants its ack.
        await ack()

    async def on_save_shortcut(
        self,
        ack: Any,
        body: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
        respond: AsyncRespond,
    ) -> None:
        """The message shortcut: the message, its author, link and time become a draft record,
        and the practice form opens on it."""
        await ack()
        user = _map_of(body.get("user"))
        user_id = _text_of(user.get("id"))
        if not user_id:
            logger.warning("a Slack message shortcut with no user was ignored")
            return
        team = _map_of(body.get("team"))
        team_id = context.team_id or _text_of(team.get("id")) or _text_of(user.get("team_id"))
        channel = _map_of(body.get("channel"))
        channel_id = _text_of(channel.get("id"))
        original = _map_of(body.get("message"))
        text, mentions = await self._text(client, _text_of(original.get("text")), bot_user_id=None)
        for mentioned in mentions:
            # Kept as the name it showed, not a mention that would ping them from a record.
            shown = mentioned.display_name or mentioned.user_id
            text = re.sub(
                rf"<@{re.escape(mentioned.user_id)}(?:\|[^>]*)?>",
                lambda _, shown=shown: f"@{shown}",
                text,
            )
        author_id = _text_of(original.get("user"))
        author = (
            await self._names.of(client, author_id, fallback=author_id)
            if author_id
            else _text_of(original.get("username"))
        )
        ts = _text_of(original.get("ts")) or _text_of(body.get("message_ts"))
        form = [FormValue("text", text), FormValue("source_author", author)]
        moment = _moment(ts)
        if moment is not None:
            form.append(FormValue("source_at", moment.isoformat()))
            domain = _text_of(team.get("domain"))
            if _SLACK_DOMAIN.fullmatch(domain) and _SLACK_ID.fullmatch(channel_id):
                archive = f"https://{domain}.slack.com/archives/{channel_id}"
                link = f"{archive}/p{ts.replace('.', '')}"
                form.append(FormValue("source_url", link))
        conversation = await self._address(
            client,
            team_id=team_id,
            user_id=user_id,
            channel_id=channel_id,
            channel_name=_text_of(channel.get("name")),
            bot_is_member=False,
        )
        trigger = _text_of(body.get("trigger_id"))
        message = IncomingMessage(
            sender=await self._sender(client, team_id, user_id, _text_of(user.get("username"))),
            conversation=conversation,
            text="practice draft",
            form=tuple(form),
            event_id=f"shortcut:{trigger}" if trigger else None,
            is_button=True,
        )
        for reply in await self._handle(message, source="message_action"):
            if reply.is_form and await open_form(
                client, reply, trigger_id=trigger, conversation=conversation
            ):
                continue
            if respond.response_url is None:
                await post_reply(client, reply, channel=conversation.conversation_id)
            else:
                await respond_reply(
                    respond, client, reply, user_id=user_id, session=self._responses.get()
                )

    async def on_form_submit(
        self,
        ack: Any,
        body: dict[str, Any],
        view: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        """A modal's submit: its inputs go to the core as the form of the command it was opened
        for. A form that comes back (something to put right) replaces the modal, so nothing
        typed is lost; anything else closes it and is posted where the form was asked for."""
        user = _map_of(body.get("user"))
        user_id = _text_of(user.get("id"))
        team_id = context.team_id or _text_of(user.get("team_id"))
        try:
            metadata = json.loads(_text_of(view.get("private_metadata")) or "{}")
        except ValueError:
            metadata = {}
        command = metadata.get("command") if isinstance(metadata, dict) else None
        if not isinstance(command, str) or not command or not user_id:
            await ack()
            return
        channel_id = _text_of(metadata.get("channel"))
        conversation = await self._address(
            client,
            team_id=team_id,
            user_id=user_id,
            channel_id=channel_id,
            channel_name="",
            bot_is_member=channel_id.startswith("D"),
        )
        message = IncomingMessage(
            sender=await self._sender(client, team_id, user_id, _text_of(user.get("username"))),
            conversation=conversation,
            text=command,
            form=form_values(_map_of(view.get("state"))),
            event_id=f"view:{_text_of(view.get('id'))}:{_text_of(view.get('hash'))}",
            is_button=True,
        )
        # Before the ack: the ack is what tells Slack to keep the modal open with the form again.
        replies = await self._handle(message, source="view_submission")
        form = next((reply for reply in replies if reply.is_form), None)
        if form is not None:
            await ack(response_action="update", view=modal_of(form, conversation))
            return
        await ack()
        for reply in replies:
            if conversation.is_private:
                await post_reply(client, reply, channel=conversation.conversation_id)
            else:
                await post_reply(
                    client, reply, channel=conversation.conversation_id, only_for=user_id
                )

    async def _handle(self, message: IncomingMessage, *, source: str) -> Sequence[Reply]:
        try:
            await self._between_steps()
            replies = await self._core.handle(message)
            await self._between_steps()
            return replies
        except Exception as error:
            # The traceback's frames, not the exception's message: that can quote the member.
            logger.error(
                "the core failed on a Slack %s (%s)\n%s",
                source,
                type(error).__name__,
                "".join(traceback.format_tb(error.__traceback__)),
            )
            return (text_reply(SORRY, tone=Tone.WARNING),)

    async def _sender(
        self, client: AsyncWebClient, team_id: str, user_id: str, fallback: str = ""
    ) -> PlatformUser:
        name = await self._names.of(client, user_id, fallback=fallback)
        return PlatformUser(Platform.SLACK, team_id, user_id, name)

    async def _text(
        self, client: AsyncWebClient, raw: str, *, bot_user_id: str | None
    ) -> tuple[str, tuple[Mention, ...]]:
        """The command text with the bot's own mention removed and Slack's entities decoded;
        people mentioned stay in the text as ``<@id>`` and are listed with their names."""
        if bot_user_id:
            raw = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", raw)
        mentions: dict[str, Mention] = {}
        for match in _MENTION.finditer(raw):
            user_id = match.group(1)
            if user_id not in mentions:
                name = await self._names.of(client, user_id, fallback=match.group(2) or "")
                mentions[user_id] = Mention(user_id, name)
        return unescape(raw).strip(), tuple(mentions.values())

    async def _address(
        self,
        client: AsyncWebClient,
        *,
        team_id: str,
        user_id: str,
        channel_id: str,
        channel_name: str,
        bot_is_member: bool,
    ) -> ConversationAddress:
        kind = kind_of(channel_id, channel_name) if channel_id else ConversationKind.PERSONAL
        name = channel_name if kind is not ConversationKind.PERSONAL else ""
        if kind is ConversationKind.PERSONAL and not (bot_is_member and channel_id):
            # A slash command works in any DM, also one between two people, and App Home has no
            # channel: the place the bot reaches the member privately is its own DM with them.
            direct = await _open_dm(client, user_id)
            if direct is not None:
                channel_id = direct
            elif channel_id:
                kind = ConversationKind.GROUP
        return ConversationAddress(Platform.SLACK, team_id, channel_id, kind, name=name)


_COMMAND = frozenset({"command"})
# What ack_known_command reads of a slash command's form: its command, whether it is Slack's
# SSL check, and its team (the only key bolt's extract_team_id reads in a command's form).
_ACK_FIELDS = frozenset({"command", "ssl_check", "team_id"})


class SlackSignature:
    """Slack's signature of a request: ``v0=`` and the hex HMAC-SHA256, keyed with the app's
    signing secret, of ``v0:<X-Slack-Request-Timestamp>:<body>``, with the timestamp within
    five minutes of now. slack_sdk's SignatureVerifier checks the same, but lowercases a copy of
    every header and builds an HMAC object per request (a tenth of an ack's CPU); this is
    ``hmac.digest``, the one-call form. A timestamp that is not a number is refused, where
    SignatureVerifier raises."""

    MAX_AGE = 5 * 60

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret.encode()
        self._clock = clock

    def valid(self, body: str, headers: Mapping[str, str]) -> bool:
        timestamp = headers.get("X-Slack-Request-Timestamp")
        signature = headers.get("X-Slack-Signature")
        if timestamp is None or signature is None or not signature.isascii():
            return False
        try:
            if abs(self._clock() - int(timestamp)) > self.MAX_AGE:
                return False
        except ValueError:
            return False
        signed = f"v0:{timestamp}:{body}".encode()
        expected = "v0=" + hmac.digest(self._secret, signed, "sha256").hex()
        return hmac.compare_digest(expected, signature)


def form_fields(body: str, names: frozenset[str]) -> dict[str, str]:
    """The fields ``names`` of a form-encoded body, as ``dict(parse_qsl(body))`` has them (the
    last of a repeated name), without decoding the rest: parsing a slash command's whole form
    (its response_url, its text, a dozen ids) was a fifth of the CPU of its ack. A name sent
    percent-encoded is not found, so the command goes to bolt, which decodes everything."""
    found: dict[str, str] = {}
    for pair in body.split("&"):
        name, _, value = pair.partition("=")
        if name in names:
            found[name] = urllib.parse.unquote_plus(value)
    return found


def kind_of(channel_id: str, channel_name: str = "") -> ConversationKind:
    if channel_name == "directmessage" or channel_id.startswith("D"):
        return ConversationKind.PERSONAL
    if channel_name == "privategroup" or channel_name.startswith("mpdm-"):
        return ConversationKind.GROUP
    if channel_id.startswith("G"):
        return ConversationKind.GROUP
    return ConversationKind.CHANNEL


# Fields bolt reads as an object (or, for some, an id string) without checking; the Events API,
# interactivity and slash commands always send them so.
_OBJECT_OR_ID = ("enterprise", "team", "user", "channel")
_NESTED = ("message", "previous_message", "item", "assistant_thread")


def bolt_can_read(body: Any, *, depth: int = 0) -> bool:
    """Whether a signed payload has the shapes bolt takes for granted (an event, a view, each
    authorization and action an object; the ids a listener is matched on strings). Slack sends
    nothing else; anything else would crash bolt's middleware or matchers into a 500."""
    if not isinstance(body, Mapping) or depth > 3:
        return False
    for key in _OBJECT_OR_ID:
        if not (body.get(key) is None or isinstance(body[key], str | Mapping)):
            return False
    for key in ("authorizations", "response_urls", "actions"):
        items = body.get(key)
        if items is not None and not (
            isinstance(items, list) and all(isinstance(item, Mapping) for item in items)
        ):
            return False
    if body.get("actions") == []:
        return False  # bolt takes a press's first action for granted
    authorizations = body.get("authorizations") or []
    if authorizations and not bolt_can_read(authorizations[0], depth=depth + 1):
        return False
    # A block action's id is what bolt matches a listener on: one without it is a KeyError.
    missing = "" if body.get("type") != "block_actions" else None
    if any(
        not isinstance(action.get("action_id", missing), str)
        for action in body.get("actions") or []
    ):
        return False
    for key in ("event", "view"):
        if key in body and not (
            isinstance(body[key], Mapping)
            and bolt_can_read(body[key], depth=depth + 1)
            and isinstance(body[key].get("type", ""), str)
        ):
            return False
    if isinstance(body.get("view"), Mapping) and not isinstance(
        body["view"].get("callback_id", ""), str
    ):
        return False
    for key in ("callback_id", "command", "type"):
        if not isinstance(body.get(key, ""), str):
            return False
    if body.get("ssl_check") == "1" and "token" not in body:
        return False
    return all(
        not isinstance(body.get(key), Mapping) or bolt_can_read(body[key], depth=depth + 1)
        for key in _NESTED
    )


def _response_url(body: Mapping[str, Any]) -> str | None:
    """Where a payload's replies go, found as bolt finds it (a modal's submit may carry
    several; the first)."""
    url = body.get("response_url")
    if isinstance(url, str):
        return url
    urls = body.get("response_urls")
    if isinstance(urls, list) and urls and isinstance(urls[0], Mapping):
        first = urls[0].get("response_url")
        return first if isinstance(first, str) else None
    return None


def _text_of(value: Any) -> str:
    """A payload field that should be a string; anything else is as good as absent."""
    return value if isinstance(value, str) else ""


def _map_of(value: Any) -> Mapping[str, Any]:
    """A payload field that should be an object; anything else is as good as empty."""
    return value if isinstance(value, Mapping) else {}


_SLACK_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_SLACK_ID = re.compile(r"[A-Z0-9]{1,40}")


def _moment(ts: str) -> datetime | None:
    """A Slack message ts (``1700000000.000100``) as the time it names."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def unescape(text: str) -> str:
    """Slack sends ``&``, ``<`` and ``>`` typed by a person as entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def form_values(state: Mapping[str, Any]) -> tuple[FormValue, ...]:
    """The inputs of a message or modal (``state.values``: block_id, then action_id), named by
    action_id, which bot/slack_blocks.py sets to the view input's name. Inputs left empty or
    unchosen are left out."""
    values: list[FormValue] = []
    for block in _map_of(state.get("values")).values():
        for action_id, element in _map_of(block).items():
            value = _element_value(_map_of(element))
            if value is not None:
                values.append(FormValue(str(action_id), value))
    return tuple(values)


def _element_value(element: Mapping[str, Any]) -> str | None:
    for key in (
        "value",
        "selected_date",
        "selected_time",
        "selected_user",
        "selected_conversation",
        "selected_channel",
    ):
        if element.get(key) is not None:
            return str(element[key])
    if element.get("selected_option"):
        return str(_map_of(element["selected_option"]).get("value", ""))
    for key in ("selected_options", "selected_users", "selected_conversations"):
        items = element.get(key)
        if isinstance(items, list):
            return ",".join(
                str(_map_of(i).get("value", "")) if isinstance(i, dict) else str(i) for i in items
            )
    return None


async def _open_dm(client: AsyncWebClient, user_id: str) -> str | None:
    try:
        response = await client.conversations_open(users=user_id)
    except SlackApiError as error:
        logger.warning("conversations.open failed: %s", slack_error(error))
        return None
    except (TimeoutError, ClientError) as error:
        logger.warning("conversations.open failed: %s", type(error).__name__)
        return None
    return (response.get("channel") or {}).get("id")


# -- sending: a reply -> Web API calls ---------------------------------------------------------


def modal_of(reply: Reply, conversation: ConversationAddress) -> dict[str, Any]:
    """A form reply as a modal that remembers its command and where it was asked for."""
    metadata = json.dumps(
        {"command": form_command(reply.view), "channel": conversation.conversation_id}
    )
    return render_modal(reply.view, callback_id=FORM_CALLBACK, private_metadata=metadata)


async def open_form(
    client: AsyncWebClient,
    reply: Reply,
    *,
    trigger_id: str | None,
    conversation: ConversationAddress,
) -> bool:
    """Open a form reply as a modal (views.open); False when there is no trigger or Slack
    refused, and the form is then sent as a message with its inputs instead."""
    if not trigger_id or form_command(reply.view) is None:
        return False
    try:
        await client.views_open(trigger_id=trigger_id, view=modal_of(reply, conversation))
    except SlackApiError as error:
        logger.warning("views.open failed: %s", slack_error(error))
        return False
    except (TimeoutError, ClientError) as error:
        logger.warning("views.open failed: %s", type(error).__name__)
        return False
    return True


async def post_reply(
    client: AsyncWebClient,
    reply: Reply,
    *,
    channel: str,
    thread_ts: str | None = None,
    only_for: str | None = None,
) -> None:
    """Post one reply in ``channel`` (as an ephemeral message seen only by the member
    ``only_for``, when set), then upload its charts."""
    if only_for is None:
        if await _post(client.chat_postMessage, reply, channel=channel, thread_ts=thread_ts):
            await upload_images(client, reply.view, channel=channel, thread_ts=thread_ts)
    elif await _post(
        client.chat_postEphemeral, reply, channel=channel, user=only_for, thread_ts=thread_ts
    ):
        await _upload_privately(client, reply.view, user_id=only_for)


async def respond_reply(
    respond: AsyncRespond,
    client: AsyncWebClient,
    reply: Reply,
    *,
    user_id: str,
    session: ClientSession,
) -> None:
    """Send one reply through the response_url, seen only by the member who asked, then upload
    its charts where only they see them too."""
    if await _respond(respond, reply, session):
        await _upload_privately(client, reply.view, user_id=user_id)


async def _upload_privately(client: AsyncWebClient, view: View, *, user_id: str) -> None:
    # A file cannot be ephemeral: a chart meant for one member goes to their DM with the bot,
    # which also works where the bot is not in the channel (a slash command can come from any).
    if not images_of(view):
        return
    channel = await _open_dm(client, user_id)
    if channel is not None:
        await upload_images(client, view, channel=channel)


async def _post(method: Any, reply: Reply, **arguments: Any) -> bool:
    """Send one reply with a Web API method (chat.postMessage or chat.postEphemeral); whether
    Slack took it."""
    arguments = {key: value for key, value in arguments.items() if value is not None}
    try:
        await method(
            text=render_fallback(reply.view), blocks=render_blocks(reply.view) or None, **arguments
        )
    except SlackApiError as error:
        logger.error("Slack refused a reply: %s", slack_error(error))
    except (TimeoutError, ClientError) as error:
        logger.error("Slack could not be reached for a reply: %s", type(error).__name__)
    else:
        return True
    return False


class ResponseSession:
    """One aiohttp session for every reply to a response_url, the edge's. bolt's ``respond``
    opens and closes a session of its own per reply (a new connection each time, a large part
    of the CPU of a Slack ``help`` after its ack)."""

    def __init__(self) -> None:
        self._session: ClientSession | None = None

    def get(self) -> ClientSession:
        if self._session is None or self._session.closed:
            self._session = ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


async def _respond(respond: AsyncRespond, reply: Reply, session: ClientSession) -> bool:
    """Send one reply through the response_url; whether it was taken."""
    if respond.response_url is None:
        logger.error("a reply had no response_url to go to")
        return False
    webhook = AsyncWebhookClient(
        respond.response_url, session=session, proxy=respond.proxy, ssl=respond.ssl
    )
    try:
        response = await webhook.send(
            text=render_fallback(reply.view),
            blocks=render_blocks(reply.view) or None,
            response_type="ephemeral",
            replace_original=False,
        )
    except (TimeoutError, ClientError) as error:
        logger.error("the response_url could not be reached: %s", type(error).__name__)
        return False
    if response.status_code != 200:
        logger.error("the response_url refused a reply: HTTP %s", response.status_code)
        return False
    return True
