"""SQLAlchemy tables, one module per table."""

from billing.models.audit_entry import AuditEntry
from billing.models.balance import Balance
from billing.models.base import Base
from billing.models.budget_alert import BudgetAlert
from billing.models.ledger_entry import LedgerEntry
from billing.models.price_book import PriceBookVersion
from billing.models.reservation import Reservation
from billing.models.usage_event import UsageEvent
from billing.models.usage_rollup import UsageRollup
from billing.models.user_profile import UserProfile
from billing.models.webhook_balance_low import WebhookBalanceLow
from billing.models.webhook_delivery import WebhookDelivery
from billing.models.webhook_endpoint import WebhookEndpoint
from billing.models.webhook_event import WebhookEvent
from billing.models.webhook_unpriced_model import WebhookUnpricedModel

__all__ = [
    "AuditEntry",
    "Balance",
    "Base",
    "BudgetAlert",
    "LedgerEntry",
    "PriceBookVersion",
    "Reservation",
    "UsageEvent",
    "UsageRollup",
    "UserProfile",
    "WebhookBalanceLow",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookUnpricedModel",
]
