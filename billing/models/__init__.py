"""SQLAlchemy tables, one module per table."""

from billing.models.balance import Balance
from billing.models.base import Base
from billing.models.budget_alert import BudgetAlert
from billing.models.ledger_entry import LedgerEntry
from billing.models.reservation import Reservation
from billing.models.usage_event import UsageEvent
from billing.models.usage_rollup import UsageRollup
from billing.models.user_profile import UserProfile

__all__ = [
    "Balance",
    "Base",
    "BudgetAlert",
    "LedgerEntry",
    "Reservation",
    "UsageEvent",
    "UsageRollup",
    "UserProfile",
]
