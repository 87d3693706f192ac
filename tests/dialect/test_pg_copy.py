"""billing/dialect/pg_copy.py: rows written in bulk make the very bytes Copy.write_row makes."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg.copy import Copy, FileWriter
from psycopg.types.string import BytesBinaryDumper
from sqlalchemy.engine import make_url

from billing.dialect.pg_copy import CHUNK_ROWS, write_rows

TYPES = ["text", "int8", "int4", "timestamptz", "bytea", "numeric", "text"]
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _rows(count: int) -> list[tuple[object, ...]]:
    return [
        (
            f'user-{i} "quoted",\ttabbed\n\\ é',
            -(i * 1_234_567) if i % 3 else None,
            i,
            NOW + timedelta(microseconds=i),
            bytes([i % 256]) * 16 if i % 5 else None,
            Decimal("0.15") * i,
            None,
        )
        for i in range(count)
    ]


def _bytes(connection: psycopg.Connection, rows: list[tuple[object, ...]], bulk: bool) -> bytes:
    out = io.BytesIO()
    with connection.cursor() as cursor:
        cursor.adapters.register_dumper(bytes, BytesBinaryDumper)
        with Copy(cursor, binary=True, writer=FileWriter(out)) as copy:
            copy.set_types(TYPES)
            if bulk:
                write_rows(copy, rows)
            else:
                for row in rows:
                    copy.write_row(row)
    return out.getvalue()


@pytest.mark.parametrize("count", [0, 1, CHUNK_ROWS - 1, CHUNK_ROWS, 2 * CHUNK_ROWS + 3])
def test_bulk_rows_are_byte_for_byte_those_of_write_row(postgres_url: str, count: int) -> None:
    url = make_url(postgres_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as connection:
        rows = _rows(count)
        assert _bytes(connection, rows, bulk=True) == _bytes(connection, rows, bulk=False)
