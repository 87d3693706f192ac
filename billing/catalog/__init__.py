"""Configured endpoints and models, how each model is priced, pricing coverage."""
