"""Balances, the ledger, grants and auto-refill."""
