"""Import of LibreChat's MongoDB `transactions` and `balances` exports into the ledger."""
