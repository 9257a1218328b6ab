"""Checks made before the hub starts in live mode: what would make live trading unsafe."""

from __future__ import annotations

import os
from datetime import datetime

from enigma_apex.adapters.clock import SHIFT_ENV
from enigma_apex.adapters.store.tokens import TokenRecord
from enigma_apex.config.models import PLACEHOLDER_SECRETS, Settings
from enigma_apex.config.schema import SECRET_KEYS, flatten


def required_secrets(settings: Settings) -> list[str]:
    """Secret keys the configured features need."""
    needed: list[str] = []
    if settings.ai.enabled and not settings.ai.is_loopback:
        needed.append("ai.api_key")
    return needed


def live_problems(settings: Settings, tokens: list[TokenRecord], now: datetime) -> list[str]:
    """Every reason live mode must not start (empty list: safe to start)."""
    if settings.hub.mode != "live":
        return []
    problems: list[str] = []
    if os.environ.get(SHIFT_ENV):
        problems.append(f"{SHIFT_ENV} shifts the clock (paper sessions and tests only); unset it for live trading")
    values = flatten(settings, mask=False)
    by_path = {key.path: key for key in SECRET_KEYS}
    for path in required_secrets(settings):
        if values.get(path) in (None, ""):
            problems.append(
                f"{path}: required in live mode; set {by_path[path].env_name} or run `enigma-apex secret set {path}`"
            )
    for key in SECRET_KEYS:
        value = values.get(key.path)
        if value is not None and str(value).strip().lower() in PLACEHOLDER_SECRETS:
            problems.append(f"{key.path}: a placeholder value is not accepted in live mode")
    for token in tokens:
        if token.is_default and token.active(now):
            problems.append(
                f"client token {token.name!r} ({token.token_id}) is a default token; revoke it with "
                f"`enigma-apex token revoke {token.token_id}` and create your own"
            )
    return problems
