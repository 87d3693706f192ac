"""The service's threads named for the operating system too.

Python (before 3.14) names a thread for itself only: ``top -H``, ``ps -L``,
py-spy and ``/proc/<pid>/task/<tid>/comm`` show every thread of a worker as
``python``, so an operator cannot tell the group committer (the database's
side of ingest) from a request thread (parsing and pricing a batch) or the
webhook dispatcher. Each thread the service starts calls ``name_os_thread``
first; the event loop is the main thread (its comm is the process's), and
the request threads AnyIO starts for big batches keep ``python``.
``benchmarks/cpu_split.py`` splits the service's CPU by these names.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from functools import cache

_PR_SET_NAME = 15  # prctl(2)
_MAX_BYTES = 15  # the kernel's limit (TASK_COMM_LEN 16, with the NUL)


@cache
def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The process's own symbols, libc's among them: ctypes.util.find_library
        # would run ldconfig (tens of ms, in the first thread that names itself).
        prctl: Callable[..., int] = ctypes.CDLL(None).prctl
        return prctl
    except (OSError, AttributeError):
        return None


def os_name(name: str) -> bytes:
    """What the kernel keeps of ``name`` (15 bytes): ``billing-commit_0`` -> ``billing-commit0``,
    ``webhook-dispatcher`` -> ``webhook-dispatc``. A numbered thread keeps its number
    (the separator goes first, then the end of the prefix), so a pool's threads stay apart."""
    data = name.encode("utf-8", "replace")
    if len(data) > _MAX_BYTES:
        data = data.replace(b"_", b"")
    if len(data) > _MAX_BYTES:
        digits = len(data) - len(data.rstrip(b"0123456789"))
        data = data[: _MAX_BYTES - digits] + data[len(data) - digits :]
    return data


def name_os_thread(name: str | None = None) -> None:
    """Give the calling thread ``name`` (default: its Python name) at the OS level.
    Best effort: elsewhere than Linux, or without libc's prctl, nothing happens."""
    prctl = _prctl()
    if prctl is not None:
        wanted = os_name(name or threading.current_thread().name)
        prctl(_PR_SET_NAME, ctypes.c_char_p(wanted), 0, 0, 0)
