"""The import's background writer: order, error hand-over, nothing written after a failure."""

from __future__ import annotations

import time

import pytest

from billing.importer.writer import BackgroundWriter


def test_batches_are_written_in_order_before_the_block_ends() -> None:
    written: list[int] = []
    with BackgroundWriter(written.append) as writer:
        for batch in range(50):
            writer.submit(batch)
    assert written == list(range(50))


def test_a_write_error_reaches_the_caller_and_later_batches_are_dropped() -> None:
    written: list[int] = []

    def write(batch: int) -> None:
        if batch == 3:
            raise RuntimeError("unique key taken")
        written.append(batch)

    with pytest.raises(RuntimeError, match="unique key taken"), BackgroundWriter(write) as writer:
        for batch in range(1000):
            writer.submit(batch)
    assert written == [0, 1, 2]


def test_an_error_in_the_caller_drops_the_queued_batch() -> None:
    written: list[int] = []
    writer: BackgroundWriter[int]

    def write(batch: int) -> None:
        while not writer._cancelled:  # batch 1 is in progress when the caller fails
            time.sleep(0.001)
        written.append(batch)

    with pytest.raises(KeyError), BackgroundWriter(write) as writer:
        writer.submit(1)
        writer.submit(2)
        raise KeyError("strict: bad document")
    assert written == [1]
