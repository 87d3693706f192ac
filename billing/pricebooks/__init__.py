"""Price book versions: each distinct set of effective rates the service priced with."""
