"""The audit trail of admin actions: billing.audit.service.record writes one entry
in the caller's transaction; GET /v1/audit and `billing audit` list them."""
