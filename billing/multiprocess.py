"""Prometheus multiprocess mode for `billing serve --workers N`.

This module must not import prometheus_client: the library chooses its value
store (in-memory, or mmap files shared through PROMETHEUS_MULTIPROC_DIR) when
it is first imported, so the directory has to be in the environment before
any worker process imports billing.metrics.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def multiprocess_metrics(workers: int) -> Iterator[Path | None]:
    """Set up the metrics directory for the workers about to start.

    - PROMETHEUS_MULTIPROC_DIR already set (the operator's choice): create it if
      needed and delete stale ``*.db`` files of a previous run, as the client
      library requires;
    - otherwise, with more than one worker: a fresh temporary directory, removed
      on exit;
    - one worker and no variable: plain in-process metrics (yields None).
    """
    chosen = os.environ.get(MULTIPROC_ENV)
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    if workers <= 1:
        yield None
        return
    path = Path(tempfile.mkdtemp(prefix="billing-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
