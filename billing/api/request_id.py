"""Request ids and one structured log line per request (billing/api/front.py)."""

from __future__ import annotations

import logging
import re
from random import getrandbits

from starlette.types import Scope

log = logging.getLogger("billing.http")

HEADER = b"x-request-id"
# A caller's id is kept only if it is short and plain (it ends up in logs and headers).
_SANE_ID = re.compile(rb"[A-Za-z0-9._:@+=/-]{1,128}")


def is_sane(value: bytes) -> bool:
    return _SANE_ID.fullmatch(value) is not None


def new_request_id() -> str:
    """32 random hex digits, like ``uuid4().hex``. Ids need to be unique, not secret:
    the process's Mersenne Twister (seeded from the OS at start; workers are spawned,
    not forked) instead of a system call for 16 fresh OS bytes per request."""
    return f"{getrandbits(128):032x}"


def log_request(scope: Scope, status: int, seconds: float) -> None:
    """The request's log line (at INFO: the fields are only built when it is written)."""
    if not log.isEnabledFor(logging.INFO):
        return
    log.info(
        "%s %s %s",
        scope["method"],
        scope["path"],
        status,
        extra={
            "fields": {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": (scope.get("client") or ("-",))[0],
            }
        },
    )
