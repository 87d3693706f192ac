"""`python -m billing` is the `billing` command."""

from billing.cli import app

app()
