"""Webhooks: signed event deliveries to operator endpoints through a transactional outbox.

- outbox.emit writes an event in the caller's transaction (fan-out to the
  subscribed endpoints happens there, at emit time);
- hooks fire balance.low and pricing.unpriced_model from the ledger paths;
- dispatcher delivers due deliveries (Standard Webhooks signatures), retrying
  with backoff;
- router/service/repository: the admin API under /v1/webhooks.
"""
