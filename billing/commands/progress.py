"""Import progress: a rich bar (rate, ETA) on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from billing.importer.service import Progress as ProgressCallback

PLAIN_EVERY_SECONDS = 5.0


@contextmanager
def import_progress(*, force_plain: bool = False) -> Iterator[ProgressCallback]:
    console = Console(stderr=True)
    if console.is_terminal and not force_plain:
        yield from _rich(console)
    else:
        yield _plain()


def _rich(console: Console) -> Iterator[ProgressCallback]:
    bar = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[docs]:>10,} docs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    tasks: dict[str, TaskID] = {}

    def update(label: str, done: int, total: int, docs: int) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total, docs=0)
        bar.update(tasks[label], completed=done, docs=docs)

    with bar:
        yield update


def _plain() -> ProgressCallback:
    started: dict[str, float] = {}
    last: dict[str, float] = {}
    previous_end = [time.monotonic()]  # a file's clock starts when the one before ended

    def update(label: str, done: int, total: int, docs: int) -> None:
        now = time.monotonic()
        start = started.setdefault(label, previous_end[0])
        finished = done >= total
        if not finished and now - last.get(label, start) < PLAIN_EVERY_SECONDS:
            return
        last[label] = now
        if finished:
            previous_end[0] = now
        elapsed = max(now - start, 1e-9)
        rate = docs / elapsed
        eta = (total - done) / (done / elapsed) if done else 0.0
        percent = 100 * done // total if total else 100
        print(
            f"{label}: {percent}% {docs} documents, {rate:,.0f}/s, "
            + ("done" if finished else f"ETA {eta:,.0f}s"),
            file=sys.stderr,
            flush=True,
        )

    return update
