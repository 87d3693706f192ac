"""A user's role and own budget as stored, and what they mean under a config."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing import money
from billing.config.model import AppConfig, BudgetPolicy, RolePolicy


@dataclass(frozen=True, slots=True)
class Budget:
    """A spend limit per calendar period (day, week or month) in time zone ``tz``."""

    limit_micro: int
    period: str
    tz: str
    source: str  # "user" (set for this user) or "role" (the role's default)

    @classmethod
    def of_policy(cls, policy: BudgetPolicy) -> Budget:
        return cls(money.micro_from_credits(policy.limit_credits), policy.period, policy.tz, "role")


@dataclass(frozen=True, slots=True)
class Profile:
    user_id: str
    role: str | None = None
    budget_limit_micro: int | None = None
    budget_period: str | None = None
    budget_tz: str | None = None

    def own_budget(self) -> Budget | None:
        if self.budget_limit_micro is None or self.budget_period is None:
            return None
        return Budget(self.budget_limit_micro, self.budget_period, self.budget_tz or "UTC", "user")


def role_policy(config: AppConfig, role: str | None) -> RolePolicy | None:
    return config.billing.roles.get(role) if role is not None else None


def effective_budget(config: AppConfig, profile: Profile | None) -> Budget | None:
    """The user's own budget, else their role's default budget, else none."""
    if profile is None:
        return None
    own = profile.own_budget()
    if own is not None:
        return own
    policy = role_policy(config, profile.role)
    return Budget.of_policy(policy.budget) if policy and policy.budget else None


def start_balance(config: AppConfig, role: str | None) -> Decimal:
    policy = role_policy(config, role)
    if policy is not None and policy.start_balance is not None:
        return policy.start_balance
    return config.balance.start_balance


def refill_settings(config: AppConfig, role: str | None) -> dict[str, object]:
    """Balance columns of the auto-refill for a user of ``role`` (``balance`` where
    the role's policy says nothing)."""
    cfg, policy = config.balance, role_policy(config, role) or RolePolicy()
    amount = cfg.refill_amount if policy.refill_amount is None else policy.refill_amount
    return {
        "auto_refill_enabled": cfg.auto_refill_enabled
        if policy.auto_refill_enabled is None
        else policy.auto_refill_enabled,
        "refill_interval_value": policy.refill_interval_value or cfg.refill_interval_value,
        "refill_interval_unit": policy.refill_interval_unit or cfg.refill_interval_unit,
        "refill_amount_micro": money.micro_from_credits(amount),
    }
