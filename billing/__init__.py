"""Token usage and billing service for LibreChat-style LLM chat platforms."""

__version__ = "0.1.0"
