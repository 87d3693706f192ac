"""Bodies of the admin routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from billing.api.schemas import StrictModel


class ReloadOut(StrictModel):
    status: str = Field(description='"reloaded"')
    source: str | None = Field(description="the file read; null: built-in defaults")
    version: str = Field(description="the config version now in use (X-Billing-Config-Version)")
    loaded_at: datetime
    endpoints: int = Field(description="number of endpoints now configured")
    warnings: list[str]
