"""A whole partnership as JSON lines, to back it up or move it: from SQLite to PostgreSQL, or from
one host to another.

The file is a header line (with each table's row count, for a progress bar), one line per row
(``{"table": ..., "row": {...}}``) in an order that satisfies foreign keys, and an end line with
the row count, so a cut-off file is refused instead of half-imported. It covers every table in
``storage.models`` - tables added later included - and nothing else: the database's own search
indexes (SQLite FTS5 tables, PostgreSQL's generated tsvector) are rebuilt by the database as the
rows go in.

A backup is imported into an empty database at the same migration as the one it came from, in
one transaction: all of it or none of it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any

from sqlalchemy import Integer, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.models import Base
from storage.revisions import current_revision, head_revision

FORMAT = "partnerbot-backup"
FORMAT_VERSION = 1
BATCH = 500

# (table, rows of it done so far, rows it has in all - None for a backup that does not say);
# called every BATCH rows and at the end of each table.
Progress = Callable[[str, int, int | None], None]


class BackupError(Exception):
    """The backup cannot be made or imported; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupSummary:
    migration: str | None
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def tables() -> list[Table]:
    """Every table of the schema, parents before children."""
    return list(Base.metadata.sorted_tables)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _python_type(column: Any) -> type | None:
    kind = column.type
    # A TypeDecorator (UTCDateTime) reports ``object``; what it stores is its impl's type.
    kind = getattr(kind, "impl_instance", kind)
    try:
        return kind.python_type
    except NotImplementedError:
        return None


def _decoder(table: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Turns a row read from a file back into the values its columns take."""
    convert: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        kind = _python_type(column)
        if kind is datetime:
            convert[column.name] = datetime.fromisoformat
        elif kind is date:
            convert[column.name] = date.fromisoformat
        elif kind is bytes:
            convert[column.name] = base64.b64decode
    known = set(table.columns.keys())

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        unknown = set(row) - known
        if unknown:
            raise BackupError(
                f"the backup's {table.name} rows have columns this version does not know: "
                f"{', '.join(sorted(unknown))}"
            )
        return {
            name: (convert[name](value) if value is not None and name in convert else value)
            for name, value in row.items()
        }

    return decode


def _ordered(table: Table) -> Any:
    statement = select(table)
    key = list(table.primary_key.columns) or list(table.columns)
    return statement.order_by(*key)


async def export_backup(
    engine: AsyncEngine, out: IO[str], *, progress: Progress | None = None
) -> BackupSummary:
    """Write every row of every table to ``out``, from one consistent snapshot."""
    migration = await current_revision(engine)
    if migration is None:
        raise BackupError("the database has no migrations applied: there is nothing to export")
    counts: dict[str, int] = {}
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # One snapshot for every table, so the rows agree with each other (SQLite's read
            # transaction is one already) and with the counts in the header.
            connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        totals = {
            table.name: await connection.scalar(select(func.count()).select_from(table)) or 0
            for table in tables()
        }
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "migration": migration,
            "exported_at": datetime.now(UTC).isoformat(),
            "tables": [table.name for table in tables()],
            "rows": totals,
        }
        out.write(json.dumps(header) + "\n")
        for table in tables():
            done = 0
            result = await connection.stream(_ordered(table))
            async for row in result.mappings():
                line = {"table": table.name, "row": {k: _encode(v) for k, v in row.items()}}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                done += 1
                if progress is not None and done % BATCH == 0:
                    progress(table.name, done, totals[table.name])
            counts[table.name] = done
            if progress is not None:
                progress(table.name, done, totals[table.name])
    out.write(json.dumps({"end": True, "rows": sum(counts.values())}) + "\n")
    return BackupSummary(migration, counts)


def _lines(source: Iterable[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            raise BackupError(f"line {number} of the backup is not JSON") from None


async def _rows_in_use(connection: AsyncConnection) -> dict[str, int]:
    found = {}
    for table in tables():
        count = await connection.scalar(select(func.count()).select_from(table))
        if count:
            found[table.name] = count
    return found


async def _reset_sequences(connection: AsyncConnection) -> None:
    """PostgreSQL hands out ids from a sequence that explicit ids do not move: set each to the
    largest id imported, so the next row gets the next id (SQLite takes max(rowid) + 1)."""
    for table in tables():
        key = list(table.primary_key.columns)
        if len(key) != 1 or not isinstance(key[0].type, Integer):
            continue
        sequence = await connection.scalar(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": key[0].name},
        )
        if sequence is None:
            continue
        await connection.execute(
            text(
                f'SELECT setval(:sequence, COALESCE(MAX("{key[0].name}"), 1), '
                f'MAX("{key[0].name}") IS NOT NULL) FROM "{table.name}"'
            ),
            {"sequence": sequence},
        )


async def import_backup(
    engine: AsyncEngine, source: Iterable[str], *, progress: Progress | None = None
) -> BackupSummary:
    """Load a backup into an empty database at the backup's migration, all in one transaction."""
    lines = _lines(source)
    header = next(lines, None)
    if not header or header.get("format") != FORMAT:
        raise BackupError("this is not a partnerbot backup (made by `partnerbot export`)")
    if header.get("version") != FORMAT_VERSION:
        raise BackupError(f"backup format version {header.get('version')} is not supported")
    migration = header.get("migration")
    current = await current_revision(engine)
    if current != migration:
        raise BackupError(
            f"the backup was made at migration {migration} and this database is at "
            f"{current or 'none'} (this partnerbot's is {head_revision()}): import with the "
            "same version of partnerbot that exported it, into a database upgraded to it"
        )
    by_name = {table.name: table for table in tables()}
    unknown = set(header.get("tables") or ()) - by_name.keys()
    if unknown:
        raise BackupError(f"the backup has tables this version does not know: {sorted(unknown)}")
    decoders = {name: _decoder(table) for name, table in by_name.items()}
    totals = header.get("rows") if isinstance(header.get("rows"), dict) else {}
    counts: dict[str, int] = {}
    ended = False
    async with engine.begin() as connection:
        in_use = await _rows_in_use(connection)
        if in_use:
            shown = ", ".join(f"{name}: {count}" for name, count in list(in_use.items())[:5])
            raise BackupError(
                f"the database already holds data ({shown}); import into an empty database"
            )
        batch: list[dict[str, Any]] = []
        batch_table: str | None = None

        async def flush() -> None:
            if batch_table is not None and batch:
                await connection.execute(by_name[batch_table].insert(), batch)
                counts[batch_table] = counts.get(batch_table, 0) + len(batch)
                if progress is not None:
                    progress(batch_table, counts[batch_table], totals.get(batch_table))
                batch.clear()

        for line in lines:
            if line.get("end"):
                ended = True
                if line.get("rows") != sum(counts.values()) + len(batch):
                    raise BackupError("the backup's row count does not match its rows")
                break
            name = line.get("table")
            if name not in by_name:
                raise BackupError(f"the backup has rows of an unknown table {name!r}")
            if name != batch_table or len(batch) >= BATCH:
                await flush()
                batch_table = name
            batch.append(decoders[name](line["row"]))
        await flush()
        if not ended:
            raise BackupError("the backup is cut short (no end line): nothing was imported")
        if connection.dialect.name == "postgresql":
            await _reset_sequences(connection)
    return BackupSummary(migration, counts)
