"""Rules for the whole document: top-level keys, ``balance``,
``transactions`` and ``interface.currency``; endpoints live in endpoints.py.
"""

from __future__ import annotations

import re
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from billing import money
from billing.config.billing_section import read_billing
from billing.config.endpoints import read_endpoints
from billing.config.issues import Path
from billing.config.model import REFILL_UNITS, AppConfig, BalanceConfig, CurrencyConfig
from billing.config.values import Checker, Reader
from billing.config.yaml_safe import MAX_NUMBER_LENGTH

# librechat.yaml keys billing has no use for: accepted silently, not read
# (so their ${VAR} references need not be set in billing's environment).
LIBRECHAT_TOP_LEVEL_KEYS = frozenset(
    {
        "version", "cache", "fileStrategy", "fileStrategies", "secureImageLinks",
        "imageOutputType", "includedTools", "filteredTools", "registration", "speech", "stt",
        "tts", "rateLimits", "mcpServers", "mcpSettings", "modelSpecs", "memory", "agents",
        "actions", "webSearch", "ocr", "turnstile", "fileConfig", "ci", "scheduledTasks",
    }
)  # fmt: skip
_READ_KEYS = frozenset({"endpoints", "balance", "transactions", "interface", "billing"})

# Credits per grant: 1e12 credits (1M USD) keeps micro-credits inside BIGINT.
MAX_CREDITS = Decimal(10) ** 12
# Months beyond this would push refill dates past year 9999.
MAX_REFILL_INTERVAL = 10_000
_CURRENCY_CODE = re.compile(r"[A-Za-z]{3}")


def build_config(c: Checker, document: Any) -> AppConfig:
    if document is None:  # empty file
        document = {}
    if not isinstance(document, dict):
        c.error((), "the document must be a mapping of keys")
        document = {}
    c.unknown_keys(document, LIBRECHAT_TOP_LEVEL_KEYS | _READ_KEYS, ())
    endpoints = read_endpoints(c, document.get("endpoints"), ("endpoints",))
    balance = _balance(c, document.get("balance"), ("balance",))
    return AppConfig(
        endpoints=MappingProxyType(endpoints),
        balance=balance,
        transactions_enabled=_transactions(c, document.get("transactions"), balance.enabled),
        currency=_currency(c, document.get("interface"), ("interface",)),
        billing=read_billing(
            c, document.get("billing"), ("billing",), _credits, MAX_REFILL_INTERVAL
        ),
    )


def _credits(c: Checker, value: Any, path: Path) -> Decimal | None:
    # LibreChat takes any number; beyond +-1e12 the ledger's BIGINT would overflow.
    amount = c.number(value, path, maximum=MAX_CREDITS, places=MAX_NUMBER_LENGTH, signed=True)
    if amount is None:
        return None
    # The ledger counts whole micro-credits.
    micro = money.credits_from_micro(money.micro_from_credits(amount))
    if micro == amount:
        return amount
    rounded = Decimal(money.format_decimal(micro))
    c.warn(path, f"has more than 6 decimal places; {rounded} is used")
    return rounded


_BALANCE_FIELDS: dict[str, tuple[str, Reader]] = {
    "enabled": ("enabled", lambda c, v, p: c.boolean(v, p)),
    "startBalance": ("start_balance", _credits),
    "autoRefillEnabled": ("auto_refill_enabled", lambda c, v, p: c.boolean(v, p)),
    "refillIntervalValue": (
        "refill_interval_value",
        lambda c, v, p: c.integer(v, p, maximum=MAX_REFILL_INTERVAL),
    ),
    "refillIntervalUnit": ("refill_interval_unit", lambda c, v, p: c.choice(v, p, REFILL_UNITS)),
    "refillAmount": ("refill_amount", _credits),
}


def _balance(c: Checker, value: Any, path: Path) -> BalanceConfig:
    block = None if value is None else c.mapping(value, path)
    if block is None:
        return BalanceConfig()
    read = c.fields(block, path, {key: reader for key, (_, reader) in _BALANCE_FIELDS.items()})
    balance = BalanceConfig(**{_BALANCE_FIELDS[key][0]: v for key, v in read.items()})
    if balance.start_balance < 0:
        c.warn((*path, "startBalance"), "is negative: new users start in debt")
    if balance.auto_refill_enabled and balance.refill_amount <= 0:
        c.warn((*path, "refillAmount"), "is not positive: auto-refill adds nothing")
    if balance.auto_refill_enabled and not balance.enabled:
        c.warn((*path, "autoRefillEnabled"), "has no effect while balance.enabled is false")
    return balance


def _transactions(c: Checker, value: Any, balance_enabled: bool) -> bool:
    path: Path = ("transactions",)
    block = None if value is None else c.mapping(value, path)
    read = c.fields(block or {}, path, {"enabled": lambda c, v, p: c.boolean(v, p)})
    enabled: bool = read.get("enabled", True)
    if balance_enabled and not enabled:
        # LibreChat records transactions whenever balances are on.
        c.warn((*path, "enabled"), "forced to true because balance.enabled is true")
        enabled = True
    return enabled


def _currency_code(c: Checker, value: Any, path: Path) -> str | None:
    code = c.string(value, path)
    if code is not None and not _CURRENCY_CODE.fullmatch(code):
        c.error(path, f"must be a 3-letter currency code such as USD (got {code!r})")
        return None
    return None if code is None else code.upper()


def _currency(c: Checker, value: Any, path: Path) -> CurrencyConfig:
    # Other interface keys are LibreChat UI settings: accepted, not read.
    interface = None if value is None else c.mapping(value, path)
    raw = (interface or {}).get("currency")
    path = (*path, "currency")
    block = None if raw is None else c.mapping(raw, path)
    if block is None:
        return CurrencyConfig()
    read = c.fields(
        block,
        path,
        {"code": _currency_code, "rate": lambda c, v, p: c.number(v, p, positive=True)},
    )
    return CurrencyConfig(**read)
