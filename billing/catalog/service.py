"""The catalog: configured endpoints, their (possibly fetched) models, and pricing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from billing import money
from billing.catalog.fetcher import ModelList, ModelListFetcher, should_fetch
from billing.catalog.schemas import (
    CoverageItem,
    CoverageOut,
    EndpointOut,
    EndpointsOut,
    ModelBriefOut,
    ModelOut,
    ModelsOut,
    PremiumOut,
    RatesOut,
)
from billing.config.model import EndpointConfig
from billing.pricing.engine import PriceBook
from billing.pricing.types import Rates

BUILTIN_PROVIDERS = {
    "openAI": "openai",
    "azureOpenAI": "azure",
    "google": "google",
    "anthropic": "anthropic",
    "assistants": "openai",
    "azureAssistants": "azure",
    "agents": "agents",
    "bedrock": "bedrock",
}
USER_PROVIDED = "user_provided"


def _listings(
    prices: PriceBook, fetcher: ModelListFetcher, user_id: str | None
) -> list[tuple[EndpointConfig, ModelList]]:
    """Every endpoint with its model list; remote lists are fetched in parallel."""
    endpoints = list(prices.config.endpoints.values())
    remote = [e for e in endpoints if should_fetch(e)]
    fetched: dict[str, ModelList] = {}
    if remote:
        with ThreadPoolExecutor(max_workers=min(8, len(remote))) as pool:
            lists = pool.map(lambda e: fetcher.models(e, user_id), remote)
            fetched = {e.name: listing for e, listing in zip(remote, lists, strict=True)}
    return [(e, fetched.get(e.name) or fetcher.models(e, user_id)) for e in endpoints]


def _names(endpoint: EndpointConfig, listing: ModelList) -> list[tuple[str, str]]:
    """(model, source): the list, then tokenConfig keys it does not mention."""
    names: list[tuple[str, str]] = [(name, listing.source) for name in listing.models]
    listed = set(listing.models)
    names += [(key, "token_config") for key in endpoint.token_config if key not in listed]
    return names


def _rates(rates: Rates) -> RatesOut:
    return RatesOut(
        prompt=money.format_decimal(rates.prompt),
        completion=money.format_decimal(rates.completion),
        cache_write=money.format_decimal(rates.cache_write),
        cache_read=money.format_decimal(rates.cache_read),
        cache_write_1h=money.format_decimal(rates.cache_write_1h),
    )


def surprising(model: str, value_key: str | None, priced_by: str) -> bool:
    """A table key other than the name itself (or its part after the last '/')."""
    if priced_by != "default" or value_key is None:
        return False
    lowered = model.lower()
    return value_key not in (lowered, lowered.rsplit("/", 1)[-1])


def describe(prices: PriceBook, endpoint: EndpointConfig, model: str, source: str) -> ModelOut:
    rates, value_key, priced_by = prices.resolve(endpoint.name, model)
    premium = None
    tier = prices.tables.premium_token_values.get(value_key or "")
    if priced_by == "default" and tier is not None:
        premium_rates, _, premium_by = prices.resolve(endpoint.name, model, tier[0] + 1)
        if premium_by == "premium":
            premium = PremiumOut(threshold=tier[0], rates=_rates(premium_rates))
    entry = endpoint.token_config.get(model)
    return ModelOut(
        name=model,
        source=source,
        priced_by=priced_by,
        value_key=value_key,
        surprising_match=surprising(model, value_key, priced_by),
        context_window=entry.context if entry is not None else None,
        rates=_rates(rates),
        premium=premium,
    )


def _endpoint(prices: PriceBook, endpoint: EndpointConfig, listing: ModelList) -> EndpointOut:
    custom = endpoint.kind == "custom"
    return EndpointOut(
        name=endpoint.name,
        type="custom" if custom else endpoint.name,
        provider=(endpoint.provider or "openai") if custom else BUILTIN_PROVIDERS[endpoint.name],
        display_label=endpoint.model_display_label or endpoint.name,
        icon=endpoint.icon_url,
        free_of_charge=endpoint.free_of_charge,
        user_provided_key=endpoint.api_key == USER_PROVIDED,
        user_provided_base_url=endpoint.base_url == USER_PROVIDED,
        models_fetch=endpoint.fetch_models,
        models_source=listing.source,
        fetch_error=listing.error,
        models=[describe(prices, endpoint, name, src) for name, src in _names(endpoint, listing)],
    )


def endpoints(prices: PriceBook, fetcher: ModelListFetcher, user_id: str | None) -> EndpointsOut:
    """GET /api/endpoints: every endpoint, built-in first, then custom in file order."""
    return EndpointsOut(
        endpoints=[_endpoint(prices, e, lst) for e, lst in _listings(prices, fetcher, user_id)]
    )


def models(prices: PriceBook, fetcher: ModelListFetcher, user_id: str | None) -> ModelsOut:
    """GET /api/models: endpoint -> models with context window and rates."""
    result: dict[str, list[ModelBriefOut]] = {}
    for endpoint, listing in _listings(prices, fetcher, user_id):
        described = [describe(prices, endpoint, n, s) for n, s in _names(endpoint, listing)]
        result[endpoint.name] = [
            ModelBriefOut(
                name=m.name,
                context_window=m.context_window,
                rates=m.rates,
                priced_by=m.priced_by,
                value_key=m.value_key,
            )
            for m in described
        ]
    return ModelsOut(models=result)


def coverage(prices: PriceBook, fetcher: ModelListFetcher, user_id: str | None) -> CoverageOut:
    """GET /api/pricing/coverage: models billed at the fallback rate or by a surprising key."""
    total = 0
    fallback: list[CoverageItem] = []
    odd: list[CoverageItem] = []
    for endpoint, listing in _listings(prices, fetcher, user_id):
        for name, source in _names(endpoint, listing):
            total += 1
            model = describe(prices, endpoint, name, source)
            item = CoverageItem(
                endpoint=endpoint.name,
                model=name,
                source=source,
                value_key=model.value_key,
                priced_by=model.priced_by,
            )
            if model.priced_by == "fallback":
                fallback.append(item)
            elif model.surprising_match:
                odd.append(item)
    return CoverageOut(
        models=total, priced=total - len(fallback), fallback=fallback, surprising=odd
    )
