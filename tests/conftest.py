"""Fixtures shared by every test: a migrated database on SQLite and on PostgreSQL, settings, and
the real aiohttp app served over HTTP on loopback."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url

from bot.app import create_app
from config.frameworks import load_frameworks
from config.settings import Settings, load_settings
from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from storage.db import create_engine
from storage.migrate import upgrade
from storage.repositories import Store

POSTGRES_URL = os.environ.get("PARTNERBOT_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# The property tests (hostile input): few examples each, so the whole set costs well under a
# minute; no deadline, since an example that talks to the app over HTTP on a busy two-core
# machine may take a second without anything being wrong. In CI the examples are the same every
# run (derandomize) and nothing is written to a .hypothesis folder; locally hypothesis keeps its
# failure database, so a failure found once is tried first next time.
settings.register_profile(
    "partnerbot",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("ci", settings.get_profile("partnerbot"), derandomize=True, database=None)
# HYPOTHESIS_PROFILE=thorough for a long hunt by hand.
settings.register_profile("thorough", settings.get_profile("partnerbot"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "partnerbot"))


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


class PostgresTemplates:
    """One migrated template database per test session; each test gets a copy of it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.template = f"partnerbot_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(_asyncpg_dsn(self.url))

    async def start(self) -> None:
        connection = await self._admin()
        try:
            await connection.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await connection.close()
        template_url = make_url(self.url).set(database=self.template)
        await asyncio.to_thread(upgrade, template_url.render_as_string(hide_password=False))

    async def fresh(self) -> str:
        name = f"partnerbot_t_{uuid.uuid4().hex[:12]}"
        connection = await self._admin()
        try:
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await connection.close()
        self.created.append(name)
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    async def drop(self, name: str) -> None:
        connection = await self._admin()
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    async def stop(self) -> None:
        for name in [*self.created, self.template]:
            await self.drop(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresTemplates | None]:
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CI must set PARTNERBOT_TEST_POSTGRES_URL", pytrace=False)
        yield None
        return
    templates = PostgresTemplates(POSTGRES_URL)
    try:
        asyncio.run(templates.start())
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(
            f"PostgreSQL at PARTNERBOT_TEST_POSTGRES_URL is unreachable: {error}", pytrace=False
        )
    yield templates
    asyncio.run(templates.stop())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path.read_bytes()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Any,
    sqlite_template: bytes,
    postgres: PostgresTemplates | None,
) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        path = tmp_path / "partnerbot.db"
        path.write_bytes(sqlite_template)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if postgres is None:
        pytest.skip("PARTNERBOT_TEST_POSTGRES_URL is not set")
    url = await postgres.fresh()
    yield url
    await postgres.drop(make_url(url).database or "")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store(create_engine(database_url))
    yield store
    await store.close()


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    """Settings for a test, from an environment dict as the real loader reads it."""

    def build(**variables: str) -> Settings:
        environ = {"PARTNERBOT_DATABASE_URL": database_url}
        environ.update({f"PARTNERBOT_{key.upper()}": value for key, value in variables.items()})
        return load_settings(environ)

    return build


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[..., Any]]:
    """Start the real app (create_app) on a loopback port; returns its base URL."""
    servers: list[TestServer] = []

    async def start(settings: Settings, **kwargs: Any) -> str:
        server = TestServer(create_app(settings, **kwargs), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


@pytest.fixture(scope="session")
def frameworks() -> dict[str, Any]:
    return load_frameworks()


@pytest.fixture
def core(store: Store, frameworks: dict[str, Any]) -> Partnerbot:
    return Partnerbot(
        store, Partnership(first_contact_becomes_coordinator=True, frameworks=frameworks)
    )
