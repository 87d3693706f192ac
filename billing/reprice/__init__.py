"""Corrections of recorded usage: reprice runs and voids (adjustment ledger rows)."""
