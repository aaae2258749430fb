"""The ``partnerbot`` command: serve, chat, worker, db upgrade, and the install helpers."""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bot.logs import FORMAT as LOG_FORMAT
from bot.logs import install_record_factory
from config.settings import Settings, SettingsError, load_settings
from scheduler.runner import DeliveryService
from storage.repositories import Store

logger = logging.getLogger("partnerbot")


def _load() -> Settings:
    try:
        return load_settings(env_file=".env")
    except SettingsError as error:
        sys.stderr.write(f"partnerbot: {error}\n")
        raise SystemExit(2) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listen_host(settings: Settings, host: str | None = None) -> str:
    """Where to listen: ``host`` (the --host flag), else PARTNERBOT_HOST; but loopback only
    while Teams is served without authentication (an empty app id, development), since anyone
    who reached the port could post activities as any member."""
    host = host or settings.host
    if settings.teams_enabled and settings.teams_auth_disabled and not _is_loopback(host):
        logger.warning(
            "Teams has no app id, so its requests are not authenticated: "
            "listening on 127.0.0.1 only, not %s",
            host,
        )
        return "127.0.0.1"
    return host


def serve(
    settings: Settings, *, host: str | None, port: int | None, reuse_port: bool = False
) -> None:
    from bot.app import create_app

    host = listen_host(settings, host)
    port = port or settings.port
    app = create_app(settings)
    app.on_startup.append(_freeze_heap)
    base = f"http://{host}:{port}"
    lines = [
        f"partnerbot ({settings.env}) on {base}",
        f"  health:  GET  {base}/healthz, {base}/readyz; metrics: GET {base}/metrics",
    ]
    if settings.teams_enabled:
        auth = "no auth: local emulator mode" if settings.teams_auth_disabled else "auth on"
        lines.append(f"  Teams:   POST {base}/api/messages ({auth})")
    if settings.slack_enabled:
        lines.append(f"  Slack:   POST {base}/slack/events")
        if settings.slack_oauth:
            lines.append(f"           install in a workspace: {settings.base_url}/slack/install")
    else:
        lines.append(
            "  Slack:   off (set PARTNERBOT_SLACK_SIGNING_SECRET and _BOT_TOKEN, "
            "or _CLIENT_ID, _CLIENT_SECRET and _TOKEN_KEY)"
        )
    lines.append(
        "Talk to it: `partnerbot chat` in another terminal, or the Microsoft 365 Agents Playground:"
    )
    lines.append(
        "  TEAMSAPPTESTER_BROWSER=none npx @microsoft/m365agentsplayground start "
        f"-e {base}/api/messages -c msteams"
    )
    print("\n".join(lines), flush=True)  # noqa: T201 - the banner is for the person at the console
    # SO_REUSEPORT: several processes on one host share the port, the kernel spreading the
    # connections (a shared listening socket let one worker take them all; PERFORMANCE.md).
    web.run_app(app, host=host, port=port, print=None, access_log=None, reuse_port=reuse_port)


async def _freeze_heap(_app: web.Application) -> None:
    """Everything alive once the server has started (modules, the SDKs' classes and tables,
    settings: some 120,000 objects) lives as long as the process: out of the collector's sight.
    Otherwise every full collection walks them all again, 30-70 ms with the event loop stopped,
    which is where the p99 of a busy server went (docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()


def db_upgrade(settings: Settings) -> None:
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    print(f"database is up to date: {_safe_url(settings.database_url)}")  # noqa: T201


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def _chat(settings: Settings, name: str | None) -> None:
    from bot.app import create_core
    from bot.console import chat

    core = create_core(settings)
    try:
        await chat(core, name=name)
    finally:
        await core.store.close()


async def _worker(settings: Settings, *, drain: bool, metrics_port: int | None = None) -> None:
    import signal

    from bot.app import create_core
    from bot.delivery import build_delivery

    core = create_core(settings)
    store = core.store
    metrics = None
    if metrics_port is not None:
        from prometheus_client import CollectorRegistry, start_http_server

        from scheduler.metrics import DeliveryMetrics

        registry = CollectorRegistry()
        metrics = DeliveryMetrics(registry)
        start_http_server(metrics_port, addr=settings.host, registry=registry)
        logger.info("worker metrics on http://%s:%d/metrics", settings.host, metrics_port)
    delivery = build_delivery(settings, store, jobs=core.run_jobs, metrics=metrics)
    # SIGTERM (what a container platform sends to stop a process) and Ctrl-C: stop claiming,
    # let the sends in flight finish and be recorded, give back the rest (delivery.stop).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if drain:
            draining = asyncio.create_task(_drain(delivery, store, stop))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({draining, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if draining.done():
                draining.result()  # its error, if it failed
                return
        else:
            delivery.start()
            logger.info("worker %s dispatching; stop with Ctrl-C", delivery.owner)
            await stop.wait()
        logger.info("worker %s stopping: finishing the sends in flight", delivery.owner)
    finally:
        await delivery.stop()
        await store.close()


async def _drain(delivery: DeliveryService, store: Store, stop: asyncio.Event) -> None:
    """Dispatch until nothing due is left (tests and one-off runs), or until told to stop."""
    from datetime import UTC, datetime

    while not stop.is_set():
        report = await delivery.tick()
        async with store.unit() as uow:
            left = await uow.outbox.outstanding(datetime.now(UTC))
        if not left and not report.claimed:
            return
        if report.refused or not report.claimed:
            await asyncio.sleep(0.2)


class _Progress:
    """A progress bar per table on stderr, ``rows done / rows in all``, the line rewritten as
    the count grows (a backup from before the totals were written shows the count alone)."""

    WIDTH = 24

    def __init__(self, verb: str) -> None:
        self._verb = verb
        self._table: str | None = None

    def __call__(self, table: str, done: int, total: int | None) -> None:
        if table != self._table:
            if self._table is not None:
                sys.stderr.write("\n")
            self._table = table
        if total is None:
            shown = f"{done:>9,} rows"
        else:
            filled = self.WIDTH if not total else min(self.WIDTH, self.WIDTH * done // total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            shown = f"[{bar}] {done:>9,} / {total:,} rows"
        sys.stderr.write(f"\r  {self._verb} {table:<24} {shown}")
        sys.stderr.flush()

    def close(self) -> None:
        if self._table is not None:
            sys.stderr.write("\n")


async def _export(settings: Settings, path: str) -> None:
    from storage.backup import export_backup
    from storage.db import create_engine

    engine = create_engine(settings.database_url)
    counter = _Progress("exported")
    try:
        with _open_for_writing(path) as out:
            summary = await export_backup(engine, out, progress=counter)
    finally:
        counter.close()
        await engine.dispose()
    sys.stderr.write(
        f"exported {summary.total:,} rows of {len(summary.rows)} tables (migration "
        f"{summary.migration}) from {_safe_url(settings.database_url)} to {path}\n"
    )


def _open_for_writing(path: str) -> Any:
    import contextlib

    if path == "-":
        return contextlib.nullcontext(sys.stdout)
    return open(path, "w", encoding="utf-8")


def _open_for_reading(path: str) -> Any:
    import contextlib

    if path == "-":
        return contextlib.nullcontext(sys.stdin)
    return open(path, encoding="utf-8")


async def _import(settings: Settings, path: str) -> None:
    from storage.backup import import_backup
    from storage.db import create_engine
    from storage.migrate import upgrade
    from storage.revisions import current_revision

    engine = create_engine(settings.database_url)
    counter = _Progress("imported")
    try:
        if await current_revision(engine) is None:
            # A new, empty database: give it the schema first.
            await asyncio.to_thread(upgrade, settings.database_url)
        with _open_for_reading(path) as source:
            summary = await import_backup(engine, source, progress=counter)
    finally:
        counter.close()
        await engine.dispose()
    sys.stderr.write(
        f"imported {summary.total:,} rows of {len(summary.rows)} tables into "
        f"{_safe_url(settings.database_url)}\n"
    )


def _add_install_commands(commands: Any) -> None:
    teams = commands.add_parser(
        "teams-package", help="write the Teams app package (manifest and icons in a zip)"
    )
    teams.add_argument("--app-id", required=True, help="the Azure Bot's Microsoft App ID")
    teams.add_argument("--name", required=True, help="the app's name in Teams")
    teams.add_argument("--host", required=True, help="the public host name, e.g. bot.example.org")
    teams.add_argument("--output", "-o", default="partnerbot-teams.zip", help="the zip to write")
    teams.add_argument("--version", default="1.0.0", help="raise it for each upload (x.y.z)")
    teams.add_argument("--developer", default="partnerbot", help="who publishes the app")
    teams.add_argument("--website-url", default="", help="default: https://HOST/")
    teams.add_argument("--privacy-url", default="", help="default: https://HOST/privacy")
    teams.add_argument("--terms-url", default="", help="default: https://HOST/terms")
    slack = commands.add_parser(
        "slack-manifest", help="print the Slack app manifest (YAML) to create the app from"
    )
    slack.add_argument("--host", required=True, help="the public host name, e.g. bot.example.org")
    slack.add_argument("--name", default="partnerbot", help="the app's name in Slack")
    export = commands.add_parser(
        "export", help="write the whole partnership to a file (JSON lines), to back up or move"
    )
    export.add_argument("file", help="the file to write (- for standard output)")
    load = commands.add_parser(
        "import", help="load a file from `partnerbot export` into an empty database"
    )
    load.add_argument("file", help="the file to read (- for standard input)")
    slack.add_argument(
        "--command",
        dest="slash_command",
        default=None,
        help="the slash command (default: PARTNERBOT_SLACK_COMMAND, else /partner)",
    )
    slack.add_argument(
        "--oauth",
        action="store_true",
        help="for installing into workspaces through OAuth (default: when "
        "PARTNERBOT_SLACK_CLIENT_ID is set): subscribes to app_uninstalled and tokens_revoked",
    )


def _run_install_command(args: argparse.Namespace) -> bool:
    """The packaging commands need no database or credentials, only their options."""
    if args.command == "teams-package":
        from bot.teams_package import PackageError, TeamsApp, write_package

        app = TeamsApp(
            app_id=args.app_id,
            name=args.name,
            host=args.host,
            developer=args.developer,
            version=args.version,
            website_url=args.website_url,
            privacy_url=args.privacy_url,
            terms_url=args.terms_url,
        )
        try:
            path = write_package(app, args.output)
        except PackageError as error:
            sys.stderr.write(f"partnerbot: {error}\n")
            raise SystemExit(2) from None
        print(f"wrote {path}: upload it in Teams (Apps > Manage your apps > Upload an app)")  # noqa: T201
        return True
    if args.command == "slack-manifest":
        from bot.slack_manifest import slack_manifest_yaml
        from bot.teams_package import PackageError

        try:
            settings = load_settings(env_file=".env")
        except SettingsError:
            settings = Settings()
        command = args.slash_command or settings.slack_command
        oauth = args.oauth or settings.slack_oauth
        try:
            sys.stdout.write(
                slack_manifest_yaml(host=args.host, name=args.name, command=command, oauth=oauth)
            )
        except PackageError as error:
            sys.stderr.write(f"partnerbot: {error}\n")
            raise SystemExit(2) from None
        return True
    return False


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="partnerbot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the web server (Teams and Slack)")
    serve_parser.add_argument("--host")
    serve_parser.add_argument("--port", type=int)
    serve_parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="let several serve processes listen on the same port (SO_REUSEPORT)",
    )
    chat_parser = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat_parser.add_argument("--name", help="who you are (default: your login name)")
    worker_parser = commands.add_parser("worker", help="run the delivery engine on its own")
    worker_parser.add_argument(
        "--drain", action="store_true", help="send everything due, then exit"
    )
    worker_parser.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics of the sends on this port"
    )
    db_parser = commands.add_parser("db", help="database commands")
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the migrations")
    _add_install_commands(commands)
    args = parser.parse_args(argv)

    install_record_factory()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # Library chatter at INFO (every scheduler tick, every migration plugin) drowns our own.
    for noisy in ("alembic.runtime.plugins", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if _run_install_command(args):
        return
    settings = _load()
    if args.command == "serve":
        serve(settings, host=args.host, port=args.port, reuse_port=args.reuse_port)
    elif args.command == "chat":
        logging.getLogger().setLevel(logging.WARNING)
        asyncio.run(_chat(settings, args.name))
    elif args.command == "worker":
        asyncio.run(_worker(settings, drain=args.drain, metrics_port=args.metrics_port))
    elif args.command == "db":
        db_upgrade(settings)
    elif args.command in ("export", "import"):
        from sqlalchemy.exc import SQLAlchemyError

        from storage.backup import BackupError

        run = _export if args.command == "export" else _import
        try:
            asyncio.run(run(settings, args.file))
        except (BackupError, OSError) as error:
            sys.stderr.write(f"partnerbot: {args.command} failed: {error}\n")
            raise SystemExit(1) from None
        except SQLAlchemyError as error:
            # The database's own words, without the statement and its parameters (answers).
            reason = str(getattr(error, "orig", None) or type(error).__name__).splitlines()[0]
            sys.stderr.write(f"partnerbot: {args.command} failed, nothing was saved: {reason}\n")
            raise SystemExit(1) from None


if __name__ == "__main__":
    main()
