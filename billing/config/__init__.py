"""librechat.yaml loading and validation."""
