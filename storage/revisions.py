"""Which migration this code is at, and which one a database is at, without importing Alembic.

A serving process reads both (``/readyz`` on every probe, ``partnerbot export``), and nothing
else of Alembic: importing it brings about 140 modules (Mako, Pygments, its command and
autogenerate machinery), 11 MB of a process's memory for the two strings
(docs/benchmarks.md). The head is read from the revision files as Alembic reads it, the
revision ids and the ones each revises; tests/storage/test_revisions.py checks both answers
against Alembic's own.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

VERSIONS = Path(__file__).parent / "migrations" / "versions"
VERSION_TABLE = "alembic_version"


@cache
def head_revision() -> str | None:
    """The newest migration: the revision no other revises (None when there is none)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        assigned = _assignments(path)
        if isinstance(assigned.get("revision"), str):
            revisions.add(assigned["revision"])
            down = assigned.get("down_revision")
            revised.update((down,) if isinstance(down, str) else down or ())
    heads = revisions - revised
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {', '.join(sorted(heads))}")
    return heads.pop() if heads else None


def _assignments(path: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = ast.literal_eval(value)
    return found


async def current_revision(engine: AsyncEngine) -> str | None:
    """The migration the database at ``engine`` is at; None before the first."""
    async with engine.connect() as connection:
        if not await connection.run_sync(lambda sync: inspect(sync).has_table(VERSION_TABLE)):
            return None
        rows = (await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))).all()
    if len(rows) > 1:
        raise RuntimeError("the database is at several migration heads")
    return rows[0][0] if rows else None
