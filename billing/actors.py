"""Who did an admin action, as the audit trail names them: never the API key itself.

A key is named by its id, a stable, non-reversible hash prefix (the console's
sessions and the logs use the same id). Without any key configured the server
trusts loopback clients, named ``loopback``; operator commands run on the host
are ``cli`` and a SIGHUP reload of `billing serve` is ``signal``.
"""

from __future__ import annotations

import hashlib

LOOPBACK = "loopback"
CLI = "cli"
SIGNAL = "signal"


def key_id(key: str) -> str:
    """A stable, non-reversible name for a key (16 hex digits of a salted SHA-256)."""
    return hashlib.sha256(b"billing-console-key\0" + key.encode()).hexdigest()[:16]
