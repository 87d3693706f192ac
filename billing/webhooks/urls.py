"""Which webhook URLs the service will call: http(s) to public addresses only.

A webhook makes the service send requests on an admin's behalf; without this
check one could aim it at the loopback interface, the private network or a
cloud metadata address (169.254.169.254). Hosts are resolved when a webhook is
created (a name that does not resolve yet is accepted) and again before every
delivery, so a name later pointed at a private address is refused then.
BILLING_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true lifts the address rule (tests,
receivers on the same network).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000


class RefusedUrl(ValueError):
    """The reason, for the API's 422 or a delivery's last_error."""


def check_syntax(url: str) -> str:
    """The host of an http(s) URL with one; RefusedUrl otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedUrl(f"at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise RefusedUrl(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedUrl("only http:// and https:// URLs are allowed")
    if not parts.hostname:
        raise RefusedUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedUrl(
            "credentials in the URL are not allowed; use the signature to authenticate"
        )
    return parts.hostname


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_destination(url: str, *, allow_private: bool, resolve_failure_ok: bool) -> None:
    """RefusedUrl unless ``url`` may be called. ``resolve_failure_ok``: a host that
    does not resolve passes (at creation: it may not exist yet; a delivery then fails)."""
    host = check_syntax(url)
    if allow_private:
        return
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise RefusedUrl(
            f"{host} is a loopback address (set BILLING_WEBHOOK_ALLOW_PRIVATE_NETWORKS)"
        )
    try:
        addresses = {
            info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        }
    except (OSError, UnicodeError) as exc:
        if resolve_failure_ok:
            return
        raise RefusedUrl(f"cannot resolve {host}: {exc}") from None
    refused = sorted(a for a in addresses if _refused_address(str(a)))
    if refused:
        raise RefusedUrl(
            f"{host} resolves to a private, loopback or link-local address ({refused[0]});"
            " set BILLING_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true to allow it"
        )
