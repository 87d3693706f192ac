"""Usage events: quote, ingest, provider usage normalisation."""
