"""``billing gateway librechat-yaml``: the LibreChat-side ``endpoints`` block.

Each custom endpoint of billing's config, as LibreChat should see it: its
``baseURL`` pointed at the gateway, ``apiKey: ${BILLING_GATEWAY_KEY}`` (a billing
key with the gateway scope, set in LibreChat's environment) and the identity
headers with LibreChat's placeholders. The upstream's own ``apiKey``,
``baseURL``, ``headers``, ``addParams`` and ``dropParams`` stay in billing's
copy (the gateway applies them); everything else (models, titles, labels) is
copied as written.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

import yaml

from billing.config.loader import parse_config
from billing.config.model import AppConfig
from billing.config.yaml_safe import parse_yaml
from billing.gateway.upstream import plain_number

KEY_VARIABLE = "BILLING_GATEWAY_KEY"
IDENTITY_HEADERS = {
    "X-Billing-User-Id": "{{LIBRECHAT_USER_ID}}",
    "X-Billing-User-Role": "{{LIBRECHAT_USER_ROLE}}",
    "X-Billing-Conversation-Id": "{{LIBRECHAT_BODY_CONVERSATIONID}}",
    "X-Billing-Message-Id": "{{LIBRECHAT_BODY_MESSAGEID}}",
}
# Billing applies these upstream; LibreChat must not send them to the gateway.
UPSTREAM_KEYS = frozenset({"apiKey", "baseURL", "headers", "addParams", "dropParams"})


def gateway_base_url(gateway_url: str, name: str, anthropic: bool) -> str:
    """What LibreChat's baseURL becomes: OpenAI SDKs append /chat/completions to a
    base ending in /v1; Anthropic's append /v1/messages to the API root."""
    root = f"{gateway_url.rstrip('/')}/gateway/{quote(name, safe='')}"
    return root if anthropic else f"{root}/v1"


def _plain(value: Any) -> Any:
    """YAML-dumpable copy: exact numbers back to plain ints and floats (parameters)."""
    if isinstance(value, Decimal):
        return plain_number(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def librechat_endpoints(text: str, gateway_url: str, source: str | None = None) -> str:
    """The block to paste into LibreChat's librechat.yaml (raises ConfigError when
    billing's config is invalid)."""
    config: AppConfig = parse_config(text, source=source)
    document, _, _ = parse_yaml(text)
    written = (document or {}).get("endpoints") or {}
    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    for raw in written.get("custom") or ():
        name = raw.get("name") if isinstance(raw, dict) else None
        endpoint = config.endpoint(name) if isinstance(name, str) else None
        if endpoint is None or endpoint.kind != "custom" or not isinstance(name, str):
            continue  # dropped by the config rules (a warning said why)
        if endpoint.api_key == "user_provided" or endpoint.base_url == "user_provided":
            skipped.append(f"{name}: user_provided keys or URLs cannot go through the gateway")
            continue
        entry: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "apiKey":
                entry[key] = "${" + KEY_VARIABLE + "}"
            elif key == "baseURL":
                entry[key] = gateway_base_url(gateway_url, name, endpoint.provider == "anthropic")
            elif key not in UPSTREAM_KEYS:
                entry[key] = _plain(value)
        entry["headers"] = dict(IDENTITY_HEADERS)
        entries.append(entry)
    lines = [
        "# LibreChat's endpoints through billing's metering gateway"
        " (billing gateway librechat-yaml).",
        f"# Set {KEY_VARIABLE} in LibreChat's environment to a billing API key with the",
        "# gateway scope; the upstream keys stay in billing's config.",
    ]
    lines += [f"# skipped {note}" for note in skipped]
    if not entries:
        lines.append("# no custom endpoint the gateway can forward to")
        return "\n".join(lines) + "\n"
    block = yaml.safe_dump(
        {"endpoints": {"custom": entries}}, sort_keys=False, allow_unicode=True, width=100
    )
    return "\n".join(lines) + "\n" + block
