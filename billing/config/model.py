"""Validated, immutable configuration as the rest of the service sees it.

The loader (billing/config/loader.py) turns a librechat.yaml-style document
into these objects; pricing and the domains only ever read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

from billing.config.env import Unresolved, require

BUILTIN_ENDPOINTS: tuple[str, ...] = (
    "openAI",
    "azureOpenAI",
    "google",
    "anthropic",
    "assistants",
    "azureAssistants",
    "agents",
    "bedrock",
)

RefillUnit = Literal["seconds", "minutes", "hours", "days", "weeks", "months"]
REFILL_UNITS: tuple[str, ...] = ("seconds", "minutes", "hours", "days", "weeks", "months")


@dataclass(frozen=True, slots=True)
class ModelRates:
    """One ``tokenConfig`` entry; rates are USD per 1M tokens (= credits/token)."""

    prompt: Decimal
    completion: Decimal
    context: int | None  # None: the file's value was unusable (a warning said so)
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None  # absent: 2x prompt (billing/pricing/engine.py)


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    name: str
    kind: Literal["custom", "builtin"]
    provider: str | None = None
    # Unresolved while a ${VAR} in it is unset: ask with require_*() to use them.
    api_key: str | Unresolved | None = None
    base_url: str | Unresolved | None = None
    models: tuple[str, ...] = ()
    fetch_models: bool = False
    user_id_query: bool = False
    headers: Mapping[str, str | Unresolved] = field(default_factory=lambda: MappingProxyType({}))
    token_config: Mapping[str, ModelRates] = field(default_factory=lambda: MappingProxyType({}))
    free_of_charge: bool = False
    icon_url: str | None = None
    model_display_label: str | None = None
    # Everything else from the file, validated but not used for billing.
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def user_provided_base_url(self) -> bool:
        return self.base_url == "user_provided"

    # For code that sends these upstream: UnresolvedValue names the key and variable.
    def require_api_key(self) -> str | None:
        return require(self.api_key)

    def require_base_url(self) -> str | None:
        return require(self.base_url)

    def require_headers(self) -> dict[str, str]:
        return {name: require(value) for name, value in self.headers.items()}


@dataclass(frozen=True, slots=True)
class BalanceConfig:
    enabled: bool = False
    start_balance: Decimal = Decimal(20000)
    auto_refill_enabled: bool = False
    refill_interval_value: int = 30
    refill_interval_unit: str = "days"
    refill_amount: Decimal = Decimal(10000)


BudgetPeriod = Literal["day", "week", "month"]
BUDGET_PERIODS: tuple[str, ...] = ("day", "week", "month")
DEFAULT_BUDGET_ALERTS: tuple[Decimal, ...] = (Decimal("0.5"), Decimal("0.8"), Decimal(1))


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """A spend limit per calendar period in a time zone (IANA name)."""

    limit_credits: Decimal
    period: str
    tz: str = "UTC"


@dataclass(frozen=True, slots=True)
class RolePolicy:
    """``billing.roles.<role>``: what differs from ``balance`` for users of a role
    (None: as ``balance`` says), and the role's default budget."""

    start_balance: Decimal | None = None
    auto_refill_enabled: bool | None = None
    refill_interval_value: int | None = None
    refill_interval_unit: str | None = None
    refill_amount: Decimal | None = None
    budget: BudgetPolicy | None = None


@dataclass(frozen=True, slots=True)
class BillingSection:
    """The ``billing:`` section of librechat.yaml (LibreChat ignores it)."""

    roles: Mapping[str, RolePolicy] = field(default_factory=lambda: MappingProxyType({}))
    # Fractions of a budget at which a budget.threshold event fires (once per period).
    budget_alerts: tuple[Decimal, ...] = DEFAULT_BUDGET_ALERTS


@dataclass(frozen=True, slots=True)
class CurrencyConfig:
    code: str = "USD"
    rate: Decimal = Decimal(1)  # display units per USD


@dataclass(frozen=True, slots=True)
class AppConfig:
    endpoints: Mapping[str, EndpointConfig]
    balance: BalanceConfig = BalanceConfig()
    transactions_enabled: bool = True
    currency: CurrencyConfig = CurrencyConfig()
    billing: BillingSection = BillingSection()
    warnings: tuple[str, ...] = ()
    source: str | None = None  # file path, for logs and /readyz

    def endpoint(self, name: str) -> EndpointConfig | None:
        return self.endpoints.get(name)


def default_config() -> AppConfig:
    """The built-in endpoints with no tokenConfig: pricing from the default tables."""
    return AppConfig(
        endpoints=MappingProxyType(
            {name: EndpointConfig(name=name, kind="builtin") for name in BUILTIN_ENDPOINTS}
        )
    )
