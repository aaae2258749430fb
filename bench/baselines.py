"""The baselines of the throughput benchmark, each a web server of its own:

- ``bare``: aiohttp reading the body and answering 200 (the ceiling of the web stack);
- ``bolt``: stock slack-bolt ``AsyncApp`` with its default settings, a slash command that only
  acks (its Web API client points at the loopback fake, the one setting changed);
- ``echo``: stock botbuilder ``CloudAdapter`` (``ConfigurationBotFrameworkAuthentication``, empty
  app id: no auth) and an ``ActivityHandler`` that echoes each message, its reply going to the
  activity's serviceUrl (the loopback Bot Connector) — the SDK's own echo sample.

``python -m bench.baselines NAME --port N [--slack-api URL --signing-secret S]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from aiohttp import web


def bare() -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    return app


def bolt(signing_secret: str, token: str, api_url: str) -> web.Application:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    slack = AsyncApp(
        signing_secret=signing_secret, client=AsyncWebClient(token=token, base_url=api_url)
    )

    @slack.command("/partner")
    async def command(ack: Any) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await slack.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    return app


@dataclass
class _Config:
    APP_ID: str = ""
    APP_PASSWORD: str = ""
    APP_TYPE: str = "MultiTenant"
    APP_TENANTID: str = ""


def echo() -> web.Application:
    from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )

    class EchoBot(ActivityHandler):
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            text = turn_context.activity.text
            await turn_context.send_activity(MessageFactory.text(f"Echo: {text}"))

    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(_Config()))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        response = await adapter.process(request, bot)
        return response if response is not None else web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=("bare", "bolt", "echo"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slack-api", default="")
    parser.add_argument("--signing-secret", default="")
    parser.add_argument("--token", default="xoxb-bench")
    parser.add_argument("--reuse-port", action="store_true", help="SO_REUSEPORT (several copies)")
    args = parser.parse_args()
    if args.name == "bare":
        app = bare()
    elif args.name == "bolt":
        app = bolt(args.signing_secret, args.token, args.slack_api)
    else:
        app = echo()
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        reuse_port=args.reuse_port or None,
    )


if __name__ == "__main__":
    main()
