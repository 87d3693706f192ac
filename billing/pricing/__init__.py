"""Price book, model matching and cost computation: pure functions, no I/O."""
