"""The metering gateway: an OpenAI- and Anthropic-compatible proxy in front of the
configured custom endpoints that holds the estimated cost before each call and
records the provider's exact usage after it (README, "Metering gateway").

Modules: ``dialects`` (what differs between the provider APIs), ``upstream``
(where and how a call is sent), ``estimate`` (tokens of a request before it is
sent), ``metering`` (hold, release, record: the service functions of
reservations and usage), ``relay`` (streams passed through), ``proxy`` (one
call from start to end), ``router`` (the routes), ``librechat_yaml`` (the
LibreChat-side endpoints block).
"""
