"""The ``billing:`` section of librechat.yaml, as `billing config check` reports it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from billing.cli import app
from billing.config.loader import check_config_file, parse_config
from billing.config.model import BudgetPolicy
from billing.settings import get_settings

GOOD = """
balance:
  enabled: true
  startBalance: 20000
billing:
  budgetAlerts: [0.9, 0.5]
  roles:
    USER:
      budget: {limitCredits: 5000, period: week}
    ADMIN:
      startBalance: 1000000
      refillAmount: 50000
      autoRefillEnabled: true
"""

BAD = """balance:
  enabled: true
billing:
  budgetAlerts: [0.5, 2]
  roles:
    USER:
      startBalance: lots
      refillIntervalUnit: fortnights
      budget:
        limitCredits: 100
        period: year
        tz: Mars/Olympus
    ADMIN:
      budget: {period: day}
      colour: red
"""


def test_a_valid_section_is_read() -> None:
    config = parse_config(GOOD)
    assert config.billing.budget_alerts == (Decimal("0.5"), Decimal("0.9"))
    user, admin = config.billing.roles["USER"], config.billing.roles["ADMIN"]
    assert user.budget == BudgetPolicy(Decimal(5000), "week", "UTC")
    assert user.start_balance is None  # balance.startBalance applies
    assert (admin.start_balance, admin.refill_amount, admin.auto_refill_enabled) == (
        Decimal(1000000),
        Decimal(50000),
        True,
    )
    assert parse_config("billing:\n").billing.roles == {}


def test_config_check_lists_every_problem_with_path_and_line(
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(BAD)
    problems, warnings = check_config_file(path, environ={})
    assert problems == [
        "billing.budgetAlerts[1]: must be <= 1 (line 4)",
        "billing.roles.USER.startBalance: must be a number, got a string (line 7)",
        "billing.roles.USER.refillIntervalUnit: must be one of seconds, minutes, hours, days,"
        " weeks, months (got 'fortnights') (line 8)",
        "billing.roles.USER.budget.period: must be one of day, week, month (got 'year') (line 11)",
        "billing.roles.USER.budget.tz: unknown time zone 'Mars/Olympus' (use an IANA name such"
        " as Europe/Berlin) (line 12)",
        "billing.roles.ADMIN.budget.limitCredits: is required (line 14)",
    ]
    assert warnings == ["billing.roles.ADMIN.colour: unknown key (ignored) (line 15)"]
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["config", "check", str(path)], env={})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "billing.roles.USER.budget.period: must be one of day, week, month" in result.output
