"""Cost breakdowns and conversation costs over the usage ledger."""
