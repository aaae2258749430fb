"""The Teams edge: botbuilder's CloudAdapter and a TeamsActivityHandler at ``POST /api/messages``.

The adapter checks the Bot Framework token (none with an empty app id: the local emulator) and
sends replies through the Bot Connector. The handler parses each activity once into our frozen
dataclasses, calls the core and renders its replies (bot/teams_cards.py). All of botbuilder stays
in bot/teams*.py, so moving to its successor SDK touches only these modules.
"""

from __future__ import annotations

import json
import logging
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import Any

import aiohttp
import requests
from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext, serializer_helper
from botbuilder.core.teams import TeamsActivityHandler, TeamsInfo
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    Attachment,
    CallerIdConstants,
    ChannelAccount,
)
from botbuilder.schema.teams import (
    MessagingExtensionActionResponse,
    TaskModuleContinueResponse,
    TaskModuleMessageResponse,
    TaskModuleTaskInfo,
)
from botframework.connector.auth import (
    AuthenticationConstants,
    ConnectorFactory,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
)
from msal import ConfidentialClientApplication
from msrest.exceptions import DeserializationError
from msrest.pipeline import AsyncPipeline, Response, SansIOHTTPPolicy
from msrest.pipeline.async_abc import AsyncHTTPSender
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http.aiohttp import AioHttpClientResponse

from bot.teams_cards import ADAPTIVE_CARD, render_activity, render_card
from bot.teams_inbound import activity_from_json
from bot.teams_reply import (
    ConnectorError,
    account_json,
    activities_url,
    reply_fields,
    view_json,
)
from config.settings import Settings, SettingsError
from dialogs.core import Partnerbot
from dialogs.messages import (
    ConversationAddress,
    ConversationKind,
    FormValue,
    IncomingMessage,
    MembersJoined,
    Mention,
    Platform,
    PlatformUser,
)
from dialogs.views import Reply, Tone, text_reply

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"
SORRY = "Sorry, something went wrong. Please try again in a moment."
CARD_ACTION = "adaptiveCard/action"
# The message action "Save to practice library": its commandId in the app manifest, and the two
# invokes Teams sends for it (open the task module; submit the card in it).
SAVE_ACTION = "saveToPractice"
FETCH_TASK = "composeExtension/fetchTask"
SUBMIT_ACTION = "composeExtension/submitAction"
TASK_TITLE = "Save to practice library"
THREAD_MARKER = ";messageid="

_KINDS = {
    "personal": ConversationKind.PERSONAL,
    "channel": ConversationKind.CHANNEL,
    "groupChat": ConversationKind.GROUP,
}
_REPEATED_MENTION = re.compile(r"(<@([^>\s]+)>)(?:\s*<@\2>)+")


@dataclass(frozen=True, slots=True)
class BotFrameworkConfig:
    """The attributes ConfigurationBotFrameworkAuthentication reads, taken from our settings.

    Every endpoint is given, so the SDK always takes its "parameterized" path: the one that
    validates tokens against TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL. With the public-cloud
    values below it checks exactly what its built-in public-cloud path does (issuer, audience,
    signature, expiry, endorsements, serviceurl), and a test that points the URLs at fakes runs
    the same code production runs."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str = (
        AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    )
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
    TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: str = (
        AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
    )
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str = (
        AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
    )
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
    OAUTH_URL: str = AuthenticationConstants.OAUTH_URL
    CALLER_ID: str = CallerIdConstants.public_azure_channel
    # MSAL asks login.microsoftonline.com whether an authority's host is one of Microsoft's; an
    # authority the operator named (PARTNERBOT_TEAMS_LOGIN_URL) is trusted as named.
    VALIDATE_AUTHORITY: bool = True

    @classmethod
    def of(cls, settings: Settings) -> BotFrameworkConfig:
        config = cls(
            APP_ID=settings.teams_app_id,
            APP_PASSWORD=settings.teams_app_password,
            APP_TYPE=settings.teams_app_type,
            APP_TENANTID=settings.teams_tenant_id,
        )
        if settings.teams_openid_metadata_url:
            config = replace(
                config, TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=settings.teams_openid_metadata_url
            )
        if settings.teams_login_url:
            config = replace(
                config,
                TO_CHANNEL_FROM_BOT_LOGIN_URL=settings.teams_login_url,
                VALIDATE_AUTHORITY=False,
            )
        return config


class NamedAuthorityCredentialFactory(ServiceClientCredentialsFactory):
    """The SDK's credentials factory, except that with validate_authority off (a token authority
    the operator named) the password credentials pass it on to MSAL: the SDK takes the flag but
    builds MSAL without it, and MSAL would then ask login.microsoftonline.com about the host."""

    def __init__(self, config: BotFrameworkConfig) -> None:
        self._inner = ConfigurationServiceClientCredentialFactory(config)

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        credentials = await self._inner.create_credentials(
            app_id, oauth_scope, login_endpoint, validate_authority
        )
        if (
            validate_authority
            or not isinstance(credentials, MicrosoftAppCredentials)  # a managed identity
            or not credentials.microsoft_app_id  # auth off: no token at all
        ):
            return credentials
        return _NamedAuthorityCredentials(credentials)


class _NamedAuthorityCredentials(MicrosoftAppCredentials):  # type: ignore[misc]
    def __init__(self, credentials: MicrosoftAppCredentials) -> None:
        super().__init__(
            credentials.microsoft_app_id,
            credentials.microsoft_app_password,
            oauth_scope=credentials.oauth_scope,
        )
        self.oauth_endpoint = credentials.oauth_endpoint

    def get_access_token(self, force_refresh: bool = False) -> str:
        if self.app is None:
            # What MicrosoftAppCredentials builds on first use, with the authority trusted.
            self.app = ConfidentialClientApplication(
                client_id=self.microsoft_app_id,
                client_credential=self.microsoft_app_password,
                authority=self.oauth_endpoint,
                validate_authority=False,
            )
        return str(super().get_access_token(force_refresh))


class MessageInvokeResponse(AdaptiveCardInvokeResponse):
    """An Action.Execute answer whose value is a message: the SDK types ``value`` as a dict,
    which msrest cannot serialise from a string."""

    _attribute_map = {
        **AdaptiveCardInvokeResponse._attribute_map,
        "value": {"key": "value", "type": "str"},
    }


TEAMS_ADAPTER = web.AppKey("teams_adapter", CloudAdapter)
TEAMS_BOT = web.AppKey("teams_bot", TeamsActivityHandler)


def setup_teams(app: web.Application, settings: Settings, core: Partnerbot) -> None:
    if settings.is_production and settings.teams_auth_disabled:
        raise SettingsError(
            "production never accepts unauthenticated Teams traffic: set "
            "PARTNERBOT_TEAMS_APP_ID and PARTNERBOT_TEAMS_APP_PASSWORD"
        )
    sender = SharedSession()
    adapter = create_adapter(settings, sender=sender)
    app[TEAMS_ADAPTER] = adapter

    async def close_session(_app: web.Application) -> None:
        await sender.close()

    app.on_cleanup.append(close_session)
    app[TEAMS_BOT] = PartnerbotTeams(core)
    app.router.add_post(MESSAGES_PATH, messages)


def create_adapter(settings: Settings, *, sender: SharedSession | None = None) -> CloudAdapter:
    """The adapter; with ``sender``, its Bot Connector calls go through that shared aiohttp
    session (its owner closes it), otherwise through msrest's default (requests in threads)."""
    config = BotFrameworkConfig.of(settings)
    authentication = ConfigurationBotFrameworkAuthentication(
        config, credentials_factory=NamedAuthorityCredentialFactory(config)
    )
    adapter = CloudAdapter(ReusedClients(authentication, sender=sender))
    adapter.on_turn_error = on_turn_error
    return adapter


class ReusedClients:
    """The adapter's authentication, but its Bot Connector and user-token clients are made once
    per app and service URL and then reused, rather than made for every turn and every send.

    Stock botbuilder builds both for each activity: about 2.9 ms of CPU each, nearly all of it
    msrest's retry-policy constructor, and a new TCP connection for every reply (see
    ../shared/PERFORMANCE.md and docs/benchmarks.md). The clients hold no per-turn state: the
    credentials fetch and refresh their token per request."""

    MAX_CLIENTS = 64  # service URLs are a handful per cloud; a bound keeps a bad actor out
    # Tokens checked and found good, each until it expires (at most this long): the Bot
    # Framework sends the same token with every activity for about an hour, and checking it is
    # the same work each time (PyJWT's RSA verify and claims, ~0.3 ms a request).
    MAX_VERIFIED = 1024
    VERIFIED_FOR = 15 * 60.0

    def __init__(
        self,
        inner: Any,
        *,
        sender: SharedSession | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self.sender = sender
        self._clock = clock
        self._connectors: dict[tuple[Any, ...], Any] = {}
        self._token_clients: dict[tuple[Any, ...], Any] = {}
        self._verified: dict[tuple[str, str | None, str | None], tuple[float, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def authenticate_request(self, activity: Activity, auth_header: str) -> Any:
        """The SDK's check, remembered for a token it passed. What it checks is the token and
        the activity's channel and service URL, so those are the key; a token is checked again
        once expired (the SDK then allows its clock skew or refuses)."""
        key = (auth_header, activity.channel_id, activity.service_url)
        now = self._clock()
        if auth_header:
            known = self._verified.get(key)
            if known is not None:
                if now < known[0]:
                    return known[1]
                del self._verified[key]
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = _ReusedConnectors(
                result.connector_factory, self._connectors, self.sender
            )
        claims = getattr(result.claims_identity, "claims", None) or {}
        expires = claims.get("exp")
        if auth_header and isinstance(expires, int | float) and expires > now:
            until = min(float(expires), now + self.VERIFIED_FOR)
            _remember(self._verified, key, (until, result), self.MAX_VERIFIED)
        return result

    def create_connector_factory(self, claims_identity: Any) -> Any:
        return _ReusedConnectors(
            self._inner.create_connector_factory(claims_identity), self._connectors, self.sender
        )

    async def create_user_token_client(self, claims_identity: Any) -> Any:
        claims = getattr(claims_identity, "claims", None) or {}
        key = (claims.get("aud"), claims.get("appid"), claims.get("azp"))
        client = self._token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            _remember(self._token_clients, key, client, self.MAX_CLIENTS)
        return client


class _ReusedConnectors(ConnectorFactory):
    def __init__(
        self, inner: Any, cache: dict[tuple[Any, ...], Any], sender: SharedSession | None
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._sender = sender

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (getattr(self._inner, "_app_id", None), service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            if self._sender is not None:
                self._sender.adopt(client)
            _remember(self._cache, key, client, ReusedClients.MAX_CLIENTS)
        return client


class SharedSession(AsyncHTTPSender):  # type: ignore[misc]
    """The Bot Connector clients' HTTP sender: one aiohttp session for every client, instead of
    msrest's default of ``requests`` run on a thread pool (a thread hop per reply, and the turn's
    reply waiting for a free thread). Fix C in ../shared/PERFORMANCE.md."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=100)  # msrest's default connection timeout

    def adopt(self, client: Any) -> None:
        """Send ``client``'s requests through this session, with the policies msrest's default
        pipeline has (user agent, credentials, raw deserialiser, HTTP logger)."""
        config = client.config
        policies: list[Any] = [config.user_agent_policy, RawDeserializer()]
        if config.credentials is not None:
            policies.insert(1, _Credentials(config.credentials))
        policies.append(config.http_logger_policy)
        self._timeout = aiohttp.ClientTimeout(total=config.connection.timeout)
        config.pipeline = AsyncPipeline(policies, self)
        serializer = client.conversations._serialize
        serializer.serialize_object = _plain_json_first(serializer.serialize_object)

    async def __aenter__(self) -> SharedSession:
        return self

    async def __aexit__(self, *exc_details: Any) -> None:
        # Called by the pipeline after each request in some msrest paths: the session stays.
        return None

    def build_context(self) -> Any:
        return None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def send(self, request: Any, **config: Any) -> Response:
        http = request.http_request
        async with self._open().request(
            http.method, http.url, headers=dict(http.headers), data=http.data
        ) as answer:
            response = AioHttpClientResponse(http, answer)
            await response.load_body()
        return Response(request, response)

    async def send_json(
        self, method: str, url: Any, payload: dict[str, Any], headers: dict[str, str]
    ) -> None:
        """One activity to the Bot Connector (bot/teams_reply.py); ConnectorError unless it
        is accepted."""
        async with self._open().request(method, url, json=payload, headers=headers) as answer:
            if answer.status in (200, 201, 202):
                return
            try:
                error = (await answer.json(content_type=None)).get("error") or {}
                code = str(error.get("code") or "")[:64]
            except (ValueError, AttributeError, aiohttp.ClientError):
                code = ""
            raise ConnectorError(answer.status, code)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _plain_json_first(serialize_object: Any) -> Any:
    """msrest serialises an untyped value (a card's content) by walking it value by value, a
    seventh of a turn for a help card; a value that is plain JSON already comes out equal to
    itself, so it is passed through."""

    def serialize(attr: Any, **kwargs: Any) -> Any:
        if type(attr) in (dict, list):
            try:
                json.dumps(attr)
            except (TypeError, ValueError):
                pass
            else:
                return attr
        return serialize_object(attr, **kwargs)

    return serialize


class _Credentials(SansIOHTTPPolicy):  # type: ignore[misc]
    """msrest's requests credentials policy, without requests: the bearer token (none when the
    app id is empty, the local emulator) as AppCredentials.signed_session would set it."""

    class _Headers:
        def __init__(self) -> None:
            self.headers: dict[str, str] = {}

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def on_request(self, request: Any, **kwargs: Any) -> None:
        request.http_request.headers.pop("Authorization", None)
        request.http_request.headers.update(authorization(self._credentials))


class BearerHeaders:
    """The headers that sign a Bot Connector request, kept a minute per credentials object.

    MSAL answers each ask from its token cache, but the answer (its locks, telemetry and a new
    correlation id) is a twentieth of a reply's CPU. Its tokens last an hour or more and it
    renews one five minutes before it expires, so a header kept a minute is always good."""

    KEEP_FOR = 60.0

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._kept: weakref.WeakKeyDictionary[Any, tuple[float, dict[str, str]]] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, credentials: Any) -> dict[str, str]:
        """The bearer token (none when the app id is empty, the local emulator), as
        AppCredentials.signed_session would set it; callers copy the dict, never change it."""
        if credentials is None:
            return {}
        now = self._clock()
        kept = self._kept.get(credentials)
        if kept is not None and now < kept[0]:
            return kept[1]
        headers = credentials.signed_session(_Credentials._Headers()).headers
        self._kept[credentials] = (now + self.KEEP_FOR, headers)
        return headers


authorization = BearerHeaders()


def _remember(
    cache: dict[tuple[Any, ...], Any], key: tuple[Any, ...], value: Any, limit: int
) -> None:
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


async def messages(request: web.Request) -> web.StreamResponse:
    """Refuse what is not an activity with a 4xx before the SDK sees it (it answers 500)."""
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="expected an application/json activity")
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    activity = parse_activity(body)
    if isinstance(activity, str):
        raise web.HTTPBadRequest(text=activity)
    # What CloudAdapter.process does once the body is read, on the activity parsed above rather
    # than parsing it a second time (msrest's deserialiser is a tenth of a turn).
    adapter = request.app[TEAMS_ADAPTER]
    authenticated = await authenticate(adapter, activity, request.headers.get("Authorization"))
    if activity.type == ActivityTypes.message and activity.delivery_mode != "expectReplies":
        sender = adapter.bot_framework_authentication.sender
        await request.app[TEAMS_BOT].reply_directly(authenticated, activity, sender)
        return web.Response(status=201)
    invoke = await adapter.process_activity(authenticated, activity, request.app[TEAMS_BOT].on_turn)
    if invoke:
        return web.json_response(data=serializer_helper(invoke.body), status=invoke.status)
    return web.Response(status=201)


async def authenticate(adapter: CloudAdapter, activity: Activity, header: str | None) -> Any:
    """The SDK's check of the request's token (none needed with an empty app id), as a 401
    when it fails: the SDK raises PermissionError for a missing header or a wrong issuer,
    audience or serviceurl, but PyJWT's errors for a bad signature or an expired token, an
    IndexError for a key id it does not know and a bare Exception for a key not endorsed for the
    channel, each of which aiohttp would answer with a 500."""
    try:
        # None, not "", when there is no header: the SDK's parameterized path only lets a
        # missing header through (auth off) when it is None.
        return await adapter.bot_framework_authentication.authenticate_request(
            activity, header or None
        )
    except requests.RequestException as error:
        # The signing keys could not be fetched: our side, so Teams may try again.
        logger.error("cannot fetch the Bot Framework signing keys: %s", type(error).__name__)
        raise web.HTTPServiceUnavailable(text="cannot check the token now") from None
    except Exception as error:
        # The reason, never the token; the SDK's messages name only claims and key ids.
        logger.warning("Teams request refused: %s: %s", type(error).__name__, error)
        raise web.HTTPUnauthorized(
            headers={"WWW-Authenticate": "Bearer"},
            text="the Bot Framework token is missing or invalid",
        ) from None


def parse_activity(body: Any) -> Activity | str:
    """``body`` as a Bot Framework activity, or what makes it unusable as one."""
    if not isinstance(body, dict):
        return "an activity is a JSON object"
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "the activity has no type"
    if not isinstance(body.get("serviceUrl"), str) or not body["serviceUrl"]:
        return "the activity has no serviceUrl"
    for field in ("conversation", "from", "recipient"):
        part = body.get(field)
        if not isinstance(part, dict) or not isinstance(part.get("id"), str) or not part["id"]:
            return f"the activity has no {field}.id"
    entities = body.get("entities")
    if entities is not None and not (
        isinstance(entities, list)
        and all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in entities)
    ):
        # The SDK reads every entity's type (TurnContext.get_mentions).
        return "the activity's entities are not each an object with a type"
    for field in ("id", "replyToId", "text", "name", "channelId", "locale"):
        # msrest would make a string of anything (an object's id becomes "{}").
        if body.get(field) is not None and not isinstance(body[field], str):
            return f"the activity's {field} is not a string"
    try:
        activity = activity_from_json(body)
    except DeserializationError:
        return "the activity is malformed"
    if not activity.type:
        return "the activity has no type"
    return activity


async def on_turn_error(turn_context: TurnContext, error: Exception) -> None:
    """Anything the handler did not catch, such as the Bot Connector refusing a send."""
    _turn_failed(turn_context.activity.type, error)


def _turn_failed(kind: str | None, error: Exception) -> None:
    logger.error(
        "Teams turn failed on a %s activity: %s", kind, type(error).__name__, exc_info=error
    )


async def _replies(work: Awaitable[Sequence[Reply]], kind: str | None) -> Sequence[Reply]:
    try:
        return await work
    except Exception:
        # The traceback, never the message text: that is the member's.
        logger.exception("partnerbot failed on a Teams %s activity", kind)
        return (text_reply(SORRY, tone=Tone.WARNING),)


class PartnerbotTeams(TeamsActivityHandler):
    def __init__(self, core: Partnerbot) -> None:
        self._core = core

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        message = incoming_message(turn_context.activity)
        if message is not None:
            await self._answer(turn_context, self._core.handle(message))

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        # Overrides the Teams dispatch, which asks the connector about every member added (and
        # fails the turn if it cannot); we ask only for the names Teams left out.
        if turn_context.activity.members_added:
            event = await with_names(turn_context, members_joined(turn_context.activity))
            await self._answer(turn_context, self._core.members_joined(event))

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        # Teams also sends conversationUpdate with the bot in membersAdded for the same install;
        # that one welcomes, so this one only registers the installer and the conversation.
        activity = turn_context.activity
        event = MembersJoined(
            conversation_address(activity),
            members=(sender_of(activity),),
            bot_added=False,
            event_id=activity.id,
        )
        await self._answer(
            turn_context, self._core.members_joined(await with_names(turn_context, event))
        )

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        # Returning the body as an msrest model: under CloudAdapter the stock adaptive card
        # handler's dict body crashes with "'dict' object has no attribute 'is_xml_model'".
        activity = turn_context.activity
        if activity.name in (FETCH_TASK, SUBMIT_ACTION):
            return await self._message_action(turn_context)
        if activity.name != CARD_ACTION:
            # The stock handler answers the invokes we take none of (signin, queries, file
            # consent, a nameless card action) with 501, and crashes on a malformed value for
            # some: for partnerbot they are requests it does not take, a 400.
            return InvokeResponse(
                status=400,
                body=AdaptiveCardInvokeResponse(
                    status_code=400,
                    type="application/vnd.microsoft.error",
                    value={"code": "BadRequest", "message": "partnerbot does not take this."},
                ),
            )
        message = executed_message(activity)
        if message is None:
            return InvokeResponse(
                status=400,
                body=AdaptiveCardInvokeResponse(
                    status_code=400,
                    type="application/vnd.microsoft.error",
                    value={"code": "BadRequest", "message": "The action carries no command."},
                ),
            )
        await self._answer(turn_context, self._core.handle(message))
        return InvokeResponse(
            status=200,
            body=MessageInvokeResponse(
                status_code=200, type="application/vnd.microsoft.activity.message", value="Done."
            ),
        )

    async def _message_action(self, turn_context: TurnContext) -> InvokeResponse:
        """ "Save to practice library": the message becomes a draft and the form opens on it in a
        task module; its submit saves, or shows the form again with what to put right."""
        activity = turn_context.activity
        message = message_action(activity)
        if message is None:
            return InvokeResponse(status=400)
        try:
            replies = await self._core.handle(message)
        except Exception:
            logger.exception("partnerbot failed on a Teams message action")
            replies = (text_reply(SORRY, tone=Tone.WARNING),)
        form = next((reply for reply in replies if reply.is_form), None)
        if form is not None:
            card = Attachment(content_type=ADAPTIVE_CARD, content=render_card(form.view))
            task: Any = TaskModuleContinueResponse(
                value=TaskModuleTaskInfo(title=TASK_TITLE, card=card)
            )
        else:
            task = TaskModuleMessageResponse(
                value=" ".join(reply.view.summary for reply in replies) or "Done."
            )
        return InvokeResponse(status=200, body=MessagingExtensionActionResponse(task=task))

    async def reply_directly(
        self, authenticated: Any, activity: Activity, sender: SharedSession
    ) -> None:
        """A message activity's turn without a turn context: the core's replies go straight to
        the Bot Connector as the SDK would send them (bot/teams_reply.py), errors logged as the
        adapter's turn error handler logs them."""
        message = incoming_message(activity)
        if message is None:
            return
        replies = await _replies(self._core.handle(message), activity.type)
        try:
            client = await authenticated.connector_factory.create(
                activity.service_url, authenticated.audience
            )
            headers = authorization(client.config.credentials)
            addressing = reply_fields(activity)
            conversation_id = activity.conversation.id
            replaced = activity.reply_to_id
            for reply in replies:
                if reply.updates_card and replaced:
                    update = {**view_json(reply.view), **addressing}
                    update["id"] = replaced
                    url = activities_url(activity.service_url, conversation_id, replaced)
                    try:
                        await sender.send_json("PUT", url, update, headers)
                    except Exception as error:
                        logger.warning("Teams refused a card update: %s", type(error).__name__)
            url = activities_url(activity.service_url, conversation_id, activity.id)
            for reply in replies:
                if not reply.updates_card:
                    payload = {**view_json(reply.view), **addressing}
                    await sender.send_json("POST", url, payload, headers)
        except Exception as error:
            _turn_failed(activity.type, error)

    async def _answer(self, turn_context: TurnContext, work: Awaitable[Sequence[Reply]]) -> None:
        replies = await _replies(work, turn_context.activity.type)
        # Teams has no ephemeral messages: private replies go to this conversation for now (a
        # later issue routes them to the member's personal chat).
        replaced = turn_context.activity.reply_to_id
        for reply in replies:
            if reply.updates_card and replaced:
                # The card whose button was pressed, updated in place for everyone.
                update = render_activity(reply.view)
                update.id = replaced
                try:
                    await turn_context.update_activity(update)
                except Exception as error:
                    logger.warning("Teams refused a card update: %s", type(error).__name__)
        activities = [render_activity(reply.view) for reply in replies if not reply.updates_card]
        if activities:
            # The turn context addresses each as a reply, so in a channel it joins the thread.
            await turn_context.send_activities(activities)


# -- parsing: a Teams activity -> our frozen dataclasses -----------------------------------------


def incoming_message(activity: Activity) -> IncomingMessage | None:
    """A typed message or an Action.Submit press; None for anything with neither."""
    sender = sender_of(activity)
    conversation = conversation_address(activity)
    value = activity.value if isinstance(activity.value, dict) else None
    if value is not None and isinstance(value.get("command"), str):
        return button_press(sender, conversation, value, event_id=activity.id)
    if activity.text is None:
        return None
    text, mentions = text_and_mentions(activity)
    return IncomingMessage(sender, conversation, text, mentions=mentions, event_id=activity.id)


def executed_message(activity: Activity) -> IncomingMessage | None:
    """An Action.Execute press (invoke ``adaptiveCard/action``): ``value.action.data.command``."""
    value = activity.value if isinstance(activity.value, dict) else {}
    action = value.get("action")
    data = action.get("data") if isinstance(action, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("command"), str):
        return None
    return button_press(
        sender_of(activity), conversation_address(activity), data, event_id=activity.id
    )


def message_action(activity: Activity) -> IncomingMessage | None:
    """The message action's invokes: ``fetchTask`` carries the message (``messagePayload``),
    ``submitAction`` the task module card's data (its command and inputs)."""
    value = activity.value if isinstance(activity.value, dict) else {}
    if value.get("commandId") != SAVE_ACTION:
        return None
    sender, conversation = sender_of(activity), conversation_address(activity)
    if activity.name == SUBMIT_ACTION:
        data = value.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("command"), str):
            return None
        return button_press(sender, conversation, data, event_id=activity.id)
    payload = value.get("messagePayload")
    if not isinstance(payload, dict):
        return None
    body = payload.get("body") if isinstance(payload.get("body"), dict) else {}
    content = str(body.get("content") or "")
    text = html_text(content) if body.get("contentType") == "html" else content
    author = (payload.get("from") or {}).get("user") or {}
    form = [
        FormValue("text", text),
        FormValue("source_author", str(author.get("displayName") or "")),
    ]
    for name, key in (("source_url", "linkToMessage"), ("source_at", "createdDateTime")):
        if isinstance(payload.get(key), str):
            form.append(FormValue(name, payload[key]))
    return IncomingMessage(
        sender,
        conversation,
        "practice draft",
        form=tuple(form),
        event_id=activity.id,
        is_button=True,
    )


class _Text(HTMLParser):
    """A Teams message body (HTML) as the text it shows; a mention keeps its name after @."""

    BREAKS = frozenset({"br", "p", "div", "li", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "at":
            self.parts.append("@")
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BREAKS - {"br"}:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(content: str) -> str:
    parser = _Text()
    parser.feed(content)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def button_press(
    sender: PlatformUser,
    conversation: ConversationAddress,
    data: dict[str, Any],
    *,
    event_id: str | None,
) -> IncomingMessage:
    form = tuple(
        FormValue(name, value)
        for name, value in data.items()
        if name != "command" and isinstance(value, str)
    )
    return IncomingMessage(
        sender, conversation, data["command"], form=form, event_id=event_id, is_button=True
    )


def text_and_mentions(activity: Activity) -> tuple[str, tuple[Mention, ...]]:
    """The text with the bot's own mention removed and other people's written as ``<@id>``."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    mentions: dict[str, Mention] = {}
    for entity in TurnContext.get_mentions(activity):
        properties = entity.additional_properties or {}
        mentioned = properties.get("mentioned")
        if not isinstance(mentioned, dict) or not isinstance(mentioned.get("id"), str):
            continue
        user_id, name = mentioned["id"], str(mentioned.get("name") or "")
        shown = properties.get("text")
        if not isinstance(shown, str) or not shown:
            shown = f"<at>{name}</at>"
        if user_id == bot_id:
            text = text.replace(shown, "", 1)
            continue
        text = text.replace(shown, f"<@{user_id}>", 1)
        mentions.setdefault(user_id, Mention(user_id, name))
    # Teams may mention a two-word name as two <at> tags for the same person.
    text = _REPEATED_MENTION.sub(r"\1", text)
    return text.strip(), tuple(mentions.values())


def members_joined(activity: Activity) -> MembersJoined:
    bot_id = activity.recipient.id
    added: list[ChannelAccount] = list(activity.members_added or ())
    bot_added = any(member.id == bot_id for member in added)
    tenant = tenant_of(activity)
    members = [
        PlatformUser(Platform.TEAMS, tenant, member.id, member.name or "")
        for member in added
        if member.id and member.id != bot_id
    ]
    # Whoever added the bot is a member too, and their name comes with the activity.
    sender = sender_of(activity)
    if (
        bot_added
        and sender.user_id != bot_id
        and sender.user_id not in {m.user_id for m in members}
    ):
        members.append(sender)
    return MembersJoined(
        conversation_address(activity),
        members=tuple(members),
        bot_added=bot_added,
        event_id=activity.id,
    )


async def with_names(turn_context: TurnContext, event: MembersJoined) -> MembersJoined:
    """Teams sends installs and joins with ids but no names, and the first one registers the
    member: ask the Bot Connector for the missing names, so no one is known by their id."""
    members = []
    for user in event.members:
        if not user.display_name:
            user = replace(user, display_name=await member_name(turn_context, user.user_id))
        members.append(user)
    return replace(event, members=tuple(members))


async def member_name(turn_context: TurnContext, user_id: str) -> str:
    try:
        account = await TeamsInfo.get_member(turn_context, user_id)
    except Exception:
        # Only a nicety: the member is registered without a name rather than not at all. The
        # connector fails in several ways (HTTP errors, msrest errors, no credentials).
        logger.warning("could not look up a Teams member's name", exc_info=True)
        return ""
    return account.name or ""


def sender_of(activity: Activity) -> PlatformUser:
    sender = activity.from_property
    return PlatformUser(Platform.TEAMS, tenant_of(activity), sender.id, sender.name or "")


def tenant_of(activity: Activity) -> str:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = channel_data.get("tenant")
    if isinstance(tenant, dict) and isinstance(tenant.get("id"), str):
        return tenant["id"]
    conversation = activity.conversation
    # botbuilder-schema maps ConversationAccount.tenant_id to "tenantID"; Teams sends "tenantId".
    extra = conversation.additional_properties or {}
    return str(extra.get("tenantId") or conversation.tenant_id or "")


def conversation_address(activity: Activity) -> ConversationAddress:
    conversation = activity.conversation
    kind = _KINDS.get(conversation.conversation_type or "")
    if kind is None:
        kind = ConversationKind.GROUP if conversation.is_group else ConversationKind.PERSONAL
    # A channel message's conversation id names its thread: "19:...@thread.tacv2;messageid=1".
    channel_id, _, thread_id = conversation.id.partition(THREAD_MARKER)
    tenant = tenant_of(activity)
    return ConversationAddress(
        Platform.TEAMS,
        tenant,
        channel_id,
        kind,
        name=conversation_name(activity),
        thread_id=thread_id or None,
        reference=stored_reference(activity, channel_id, tenant, kind),
    )


def conversation_name(activity: Activity) -> str:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    names = []
    for key in ("team", "channel"):
        part = channel_data.get(key)
        if isinstance(part, dict) and isinstance(part.get("name"), str) and part["name"]:
            names.append(part["name"])
    return " / ".join(names) or (activity.conversation.name or "")


def stored_reference(
    activity: Activity, channel_id: str, tenant: str, kind: ConversationKind
) -> dict[str, Any]:
    """The ConversationReference to write here later: the channel itself, not this thread or
    this message, and in a shared conversation not this sender, so it stays stable."""
    conversation = {
        "id": channel_id,
        "conversationType": activity.conversation.conversation_type,
        "isGroup": activity.conversation.is_group,
        "tenantID": tenant or None,  # as msrest spells it
    }
    personal = kind is ConversationKind.PERSONAL
    reference = {
        # TurnContext.get_conversation_reference's fields, as msrest serialises them.
        "user": account_json(activity.from_property) if personal else None,
        "bot": account_json(activity.recipient),
        "conversation": {key: value for key, value in conversation.items() if value is not None},
        "channelId": activity.channel_id,
        "locale": activity.locale if personal else None,
        "serviceUrl": activity.service_url,
    }
    return {key: value for key, value in reference.items() if value is not None}
