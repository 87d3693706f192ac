"""Shapes of the endpoints/models catalog (rates as decimal strings, USD per 1M tokens)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from billing.api.schemas import Money


class RatesOut(BaseModel):
    prompt: Money
    completion: Money
    cache_write: Money
    cache_read: Money
    cache_write_1h: Money = Field(description="1-hour cache writes (Anthropic)")


class PremiumOut(BaseModel):
    threshold: int = Field(description="premium rates apply above this many input tokens")
    rates: RatesOut


class ModelOut(BaseModel):
    name: str
    source: str = Field(
        description="where the name comes from: config (models.default), fetched "
        "(GET {baseURL}/models), fallback (models.default after a failed fetch), "
        "token_config (a tokenConfig key not in the list)"
    )
    priced_by: str = Field(description="token_config, default, fallback or free")
    value_key: str | None = Field(description="the matched price key, or null")
    surprising_match: bool = Field(
        description="a built-in table key that differs from the model name matched"
    )
    context_window: int | None = Field(description="tokenConfig context, when configured")
    rates: RatesOut = Field(description="USD per 1M tokens below any premium threshold")
    premium: PremiumOut | None = None


class EndpointOut(BaseModel):
    name: str
    type: str = Field(description="'custom' or the built-in endpoint's name")
    provider: str
    display_label: str
    icon: str | None
    free_of_charge: bool
    user_provided_key: bool
    user_provided_base_url: bool
    models_fetch: bool
    models_source: str = Field(description="config, fetched or fallback")
    fetch_error: str | None
    models: list[ModelOut]


class EndpointsOut(BaseModel):
    endpoints: list[EndpointOut]


class ModelBriefOut(BaseModel):
    name: str
    context_window: int | None
    rates: RatesOut
    priced_by: str
    value_key: str | None


class ModelsOut(BaseModel):
    models: dict[str, list[ModelBriefOut]] = Field(description="endpoint name -> its models")


class CoverageItem(BaseModel):
    endpoint: str
    model: str
    source: str
    value_key: str | None
    priced_by: str


class CoverageOut(BaseModel):
    models: int = Field(description="models listed or fetched, over all endpoints")
    priced: int = Field(description="models with a tokenConfig entry or a table key, or free")
    fallback: list[CoverageItem] = Field(description="would be billed at the default rate")
    surprising: list[CoverageItem] = Field(
        description="matched a table key that differs from the model name: add a tokenConfig "
        "entry if the match is wrong"
    )
