"""The operator console: server-rendered pages at /console (billing/console/router.py)."""
