"""storage/revisions.py reads the migrations' head and a database's migration as Alembic does,
on SQLite and PostgreSQL, and a serving process never imports Alembic for them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import revisions
from storage.db import create_engine
from storage.migrate import alembic_head, alembic_revision, upgrade
from storage.revisions import current_revision, head_revision


def test_the_head_is_alembics() -> None:
    assert head_revision() == alembic_head() is not None


def revision_file(folder: Path, name: str, revision: str, down: str | tuple[str, ...] | None):
    body = f'"""{name}"""\nrevision = {revision!r}\ndown_revision: str | None = {down!r}\n'
    (folder / f"{name}.py").write_text(body + "def upgrade():\n    pass\n")


def test_the_head_is_the_revision_no_other_revises(tmp_path, monkeypatch) -> None:
    revision_file(tmp_path, "a", "0001", None)
    revision_file(tmp_path, "c", "0003_x", "0002")
    revision_file(tmp_path, "b", "0002", "0001")
    monkeypatch.setattr(revisions, "VERSIONS", tmp_path)
    head_revision.cache_clear()
    try:
        assert head_revision() == "0003_x"
        revision_file(tmp_path, "d", "0004", "0002")
        head_revision.cache_clear()
        with pytest.raises(RuntimeError, match="several heads: 0003_x, 0004"):
            head_revision()
        revision_file(tmp_path, "e", "0005", ("0003_x", "0004"))  # a merge
        head_revision.cache_clear()
        assert head_revision() == "0005"
    finally:
        head_revision.cache_clear()


async def test_the_database_revision_is_alembics(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) == await alembic_revision(engine) == head_revision()
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        assert await current_revision(engine) == await alembic_revision(engine) == "0003"
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE alembic_version"))
        assert await current_revision(engine) is await alembic_revision(engine) is None
    finally:
        await engine.dispose()


async def test_an_empty_database_has_no_revision_until_migrated(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    engine = create_engine(url)
    try:
        assert await current_revision(engine) is None
        await asyncio.to_thread(upgrade, url)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


def test_a_serving_app_does_not_import_alembic(tmp_path) -> None:
    script = (
        "import sys\n"
        "from config.settings import Settings\n"
        "from bot.app import create_app\n"
        "create_app(Settings())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    env = {
        "PARTNERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "PARTNERBOT_ENV": "development",
        "PATH": "/usr/bin:/bin",
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
