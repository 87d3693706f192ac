"""Console sessions: sign-in with an API key, a signed cookie, CSRF tokens.

The cookie holds a signed payload, never the key: the key's id (a hash
prefix), the role it grants (``admin`` acts, ``read`` looks), a random nonce
and an absolute expiry. The nonce is the CSRF secret of the session: every
form carries ``HMAC(secret, nonce)``, which a cross-site page cannot know.
Before sign-in the cookie holds a nonce only, so the login form has a token
too. Signing in replaces the nonce (no session fixation).

The signing secret is BILLING_CONSOLE_SECRET when set; otherwise it is derived
from the configured API keys, so every worker and every restart agree (and
rotating the keys ends all sessions); with no key at all it is random per
``billing serve`` start, shared by its workers through ``START_SECRET_ENV``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from billing.actors import key_id
from billing.logging_setup import secrets as log_secrets
from billing.settings import Settings

COOKIE = "billing_console"
COOKIE_PATH = "/console"
# Set by `billing serve` before it starts workers (billing/serving.py).
START_SECRET_ENV = "BILLING_CONSOLE_START_SECRET"
ADMIN, READ = "admin", "read"
_PROCESS_SECRET = secrets.token_hex(32)


def role_of(scopes: frozenset[str]) -> str | None:
    if ADMIN in scopes:
        return ADMIN
    if READ in scopes:
        return READ
    return None  # an ingest-only key cannot sign in


def signing_secret(settings: Settings, api_keys: Mapping[str, frozenset[str]]) -> bytes:
    if settings.console_secret:
        log_secrets.add([settings.console_secret])
        material = b"setting\0" + settings.console_secret.encode()
    elif api_keys:
        material = b"keys\0" + "\0".join(sorted(api_keys)).encode()
    else:
        material = b"start\0" + os.environ.get(START_SECRET_ENV, _PROCESS_SECRET).encode()
    return hashlib.sha256(b"billing-console-v1\0" + material).digest()


@dataclass(frozen=True, slots=True)
class Session:
    """The cookie's content. ``key`` is empty before sign-in."""

    nonce: str
    key: str = ""
    role: str = ""
    expires: int = 0  # unix seconds

    @property
    def signed_in(self) -> bool:
        return bool(self.key)

    @property
    def can_act(self) -> bool:
        return self.role == ADMIN


def new_session(**fields: Any) -> Session:
    return Session(nonce=secrets.token_urlsafe(18), **fields)


class Sessions:
    """Signs and checks cookies and CSRF tokens for one app."""

    def __init__(self, settings: Settings, api_keys: Mapping[str, frozenset[str]]) -> None:
        secret = signing_secret(settings, api_keys)
        self._serializer = URLSafeSerializer(secret, salt="billing.console.session")
        self._csrf_key = hmac.new(secret, b"csrf", hashlib.sha256).digest()
        self.lifetime_seconds = settings.console_session_minutes * 60
        self.keyless = not api_keys
        self._roles = {key_id(key): role_of(scopes) for key, scopes in api_keys.items()}
        self._keys = [
            (key.encode(), key_id(key), role_of(scopes)) for key, scopes in api_keys.items()
        ]

    def authenticate(self, presented: str) -> tuple[str, str | None] | None:
        """(key id, role or None for an ingest-only key), or None for no such key."""
        found = None
        candidate = presented.encode()
        for key, ident, role in self._keys:  # constant time: compare against every key
            if hmac.compare_digest(candidate, key):
                found = (ident, role)
        return found

    def sign_in(self, ident: str, role: str, now: datetime) -> Session:
        return new_session(
            key=ident, role=role, expires=int(now.timestamp()) + self.lifetime_seconds
        )

    def dump(self, session: Session) -> str:
        return self._serializer.dumps([session.nonce, session.key, session.role, session.expires])

    def load(self, cookie: str | None, now: datetime) -> tuple[Session | None, str | None]:
        """(session, why it ended): an unsigned, expired or revoked session is dropped."""
        if not cookie:
            return None, None
        try:
            nonce, key, role, expires = self._serializer.loads(cookie)
            session = Session(str(nonce), str(key), str(role), int(expires))
        except (BadSignature, ValueError, TypeError):
            return None, None
        if not session.signed_in:
            return session, None
        if session.expires <= now.timestamp():
            return Session(session.nonce), "Your session expired: sign in again."
        if self._roles.get(session.key) != session.role:  # the key was removed or changed
            return Session(session.nonce), "That API key is no longer accepted: sign in again."
        return session, None

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        if session is None or not token:
            return False
        return hmac.compare_digest(self.csrf_token(session), token)
