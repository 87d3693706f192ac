"""Wake this process's dispatchers when an event commits (others find it by polling)."""

from __future__ import annotations

import threading
from weakref import WeakSet

_waiting: WeakSet[threading.Event] = WeakSet()
_lock = threading.Lock()


def subscribe(flag: threading.Event) -> None:
    with _lock:
        _waiting.add(flag)


def notify() -> None:
    with _lock:
        flags = list(_waiting)
    for flag in flags:
        flag.set()
