"""SQLite bulk statements come in a few lengths (powers of two, and one short last
statement), so each is prepared once per connection and then reused from sqlite3's
statement cache."""

from __future__ import annotations

import pytest

from billing.dialect.sqlite_rows import MAX_ROWS_PER_STATEMENT, TAIL_ROWS, _chunks


@pytest.mark.parametrize(
    ("count", "limit"),
    [(0, 100), (1, 100), (1000, 1927), (8191, 1927), (2000, 1638), (7, 3), (5, 0)],
)
def test_chunks_cover_the_rows_in_powers_of_two_within_the_limit(count: int, limit: int) -> None:
    chunks = list(_chunks(count, limit))
    assert [start for start, _ in chunks] == [0, *(end for _, end in chunks)][: len(chunks)]
    assert (chunks[-1][1] if chunks else 0) == count
    sizes = [end - start for start, end in chunks]
    assert all(size & (size - 1) == 0 for size in sizes[:-1])  # powers of two
    assert not sizes or sizes[-1] & (sizes[-1] - 1) == 0 or sizes[-1] < TAIL_ROWS
    assert all(size <= max(1, min(limit, MAX_ROWS_PER_STATEMENT)) for size in sizes)
    assert sizes == sorted(sizes, reverse=True)


def test_any_batch_takes_a_few_long_statement_lengths_and_few_statements() -> None:
    chunked = [[end - start for start, end in _chunks(count, 1927)] for count in range(1, 2049)]
    long = {size for sizes in chunked for size in sizes if size >= TAIL_ROWS}
    assert long == {64, 128, 256, 512, 1024}
    assert max(len(sizes) for sizes in chunked) <= 6
