"""Checks made before the hub starts in live mode: what would make live trading unsafe."""

from __future__ import annotations

import difflib
import os
import ssl
from datetime import datetime
from pathlib import Path

from enigma_apex.adapters.brokers.paper import load_replay
from enigma_apex.adapters.clock import SHIFT_ENV
from enigma_apex.adapters.news_file import load_news
from enigma_apex.adapters.store.tokens import TokenRecord
from enigma_apex.config.models import PLACEHOLDER_SECRETS, Settings
from enigma_apex.config.schema import SECRET_KEYS, flatten
from enigma_apex.errors import ConfigError


def required_secrets(settings: Settings) -> list[str]:
    """Secret keys the configured features need."""
    needed: list[str] = []
    if settings.ai.enabled and not settings.ai.is_loopback:
        needed.append("ai.api_key")
    return needed


def platform_warnings(settings: Settings) -> list[str]:
    """Accounts whose ``platform`` contradicts the executor that trades them (the firm's rules follow the
    platform the account really runs on)."""
    warnings = []
    for account in settings.accounts:
        implied = settings.implied_platform(account.executor)
        if implied is not None and account.platform is not None and account.platform != implied:
            warnings.append(
                f"account {account.name}: platform = {account.platform!r} but its executor {account.executor!r} "
                f"trades on {implied}; the rules use {account.platform!r} (remove platform to use {implied!r})"
            )
    return warnings


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
    problems += exposure_problems(settings)
    for token in tokens:
        # the tokens `init` printed on screen; the executor tokens the hub mints for its children are its own
        if token.is_default and token.role != "executor" and token.active(now):
            problems.append(
                f"client token {token.name!r} ({token.token_id}) is a default token; revoke it with "
                f"`enigma-apex token revoke {token.token_id}` and create your own"
            )
    return problems


# ---------------------------------------------------------------------------- exposure
def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _servers(settings: Settings) -> list[tuple[str, str, bool]]:
    """(what, bound host, TLS on) for every server the hub opens."""
    servers = [
        ("http (API, webhooks, /metrics)", settings.http.host, settings.http.tls_cert is not None),
        ("gateway (WebSocket)", settings.gateway.host, settings.gateway.tls_cert is not None),
    ]
    if settings.dashboard.enabled:
        servers.append(("dashboard", settings.dashboard.host, settings.dashboard.tls_cert is not None))
    return servers


def exposure_warnings(settings: Settings) -> list[str]:
    """A line for every server bound to something other than loopback (printed at start-up)."""
    out = []
    for what, host, tls in _servers(settings):
        if is_loopback(host):
            continue
        where = "every network interface" if host in ("0.0.0.0", "::") else host  # noqa: S104
        plain = "" if tls else "; traffic is NOT encrypted (tokens travel in clear): set its tls_cert and tls_key"
        out.append(f"{what} is bound to {where}: other machines can reach it{plain} (docs/operations.md, Security)")
    return out


def exposure_problems(settings: Settings) -> list[str]:
    """Live mode refuses a server reachable from other machines without TLS."""
    return [
        f"{what} is bound to {host} without TLS: in live mode a server reachable from other machines needs its "
        "tls_cert and tls_key (or bind 127.0.0.1 and put a TLS reverse proxy in front)"
        for what, host, tls in _servers(settings)
        if not is_loopback(host) and not tls
    ]


# ---------------------------------------------------------------------------- what `up` needs
def startup_problems(settings: Settings, config_dir: Path | None, executor_tokens: list[str] | None) -> list[str]:
    """What would make `up` fail or run half-blind, found before anything starts: files the configuration names
    that are missing or unreadable, TLS pairs that do not load, a data folder that cannot exist, an account whose
    executor nothing provides. ``executor_tokens``: names of active executor tokens (None: the database is not
    readable yet, so external executors are not checked)."""
    problems: list[str] = []
    problems += _data_dir(settings.hub.data_dir)
    rules = settings.rules
    if rules.news_calendar is not None:
        try:
            load_news(rules.news_calendar)
        except ConfigError as exc:
            problems.append(f"rules.news_calendar: {exc}")
    if rules.profile_dir is not None and rules.profile_dir.exists() and not rules.profile_dir.is_dir():
        problems.append(f"rules.profile_dir: {rules.profile_dir} is not a folder")
    for section in ("gateway", "http", "dashboard"):
        cert, key = getattr(settings, section).tls_cert, getattr(settings, section).tls_key
        if cert is not None and key is not None:
            problem = _tls(cert, key)
            if problem:
                problems.append(f"{section}.tls_cert / tls_key: {problem}")
    if settings.telegram.enabled and settings.telegram.token is None:
        problems.append("telegram.enabled: the bot's token is not set (enigma-apex secret set telegram.token)")
    if settings.telegram.enabled and not settings.telegram.chats:
        problems.append("telegram.enabled: no chat is listed in telegram.chats (every message would be refused)")
    if settings.ai.prompt_file is not None:
        from enigma_apex.adapters.llm import load_template  # loads openai: only when a template is named

        try:
            load_template(settings.ai.prompt_file)
        except (OSError, ValueError) as exc:
            problems.append(f"ai.prompt_file: {_why(exc, settings.ai.prompt_file)}")
    if settings.paper.replay_file is not None:
        try:
            load_replay(settings.paper, config_dir or Path.cwd())
        except (OSError, ValueError) as exc:
            problems.append(f"paper.replay_file: {_why(exc, settings.paper.replay_file)}")
    problems += _executors(settings, executor_tokens)
    return problems


def _why(exc: BaseException, path: Path) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"{path} does not exist"
    if isinstance(exc, PermissionError):
        return f"{path} cannot be read (permission denied)"
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a folder, not a file"
    return f"{path}: {exc}"


def _data_dir(folder: Path) -> list[str]:
    for parent in [folder, *folder.parents]:
        if parent.exists():
            if not parent.is_dir():
                where = "is" if parent == folder else f"is under {parent}, which is"
                return [f"hub.data_dir: {folder} {where} a file, not a folder"]
            if not os.access(parent, os.W_OK):
                return [f"hub.data_dir: {parent} is not writable by this user"]
            return []
    return []


def _tls(cert: Path, key: Path) -> str:
    for path in (cert, key):
        if not path.is_file():
            return f"{path} does not exist"
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        return f"the pair does not load ({exc.__class__.__name__}: {exc})"
    return ""


def known_executors(settings: Settings, executor_tokens: list[str]) -> set[str]:
    """Who can own an account: the executors the hub runs itself, and every external one with a token."""
    names = {settings.ati.name, settings.tradovate.name, settings.rithmic.name, settings.projectx.name,
             *executor_tokens}  # fmt: skip
    if settings.hub.mode == "paper":
        names.add("paper")
    return names


def _executors(settings: Settings, executor_tokens: list[str] | None) -> list[str]:
    if executor_tokens is None:
        return []
    known = known_executors(settings, executor_tokens)
    problems = []
    for index, account in enumerate(settings.accounts):
        if account.executor in known:
            continue
        guess = difflib.get_close_matches(account.executor, sorted(known), n=1)
        hint = f" — did you mean {guess[0]!r}?" if guess else ""
        problems.append(
            f"accounts[{index}].executor: {account.executor!r} is no executor{hint} (the hub runs "
            f"{', '.join(sorted(known - set(executor_tokens)))}; an external one, such as the NinjaTrader AddOn, "
            f"needs a token: `enigma-apex token create --role executor --name {account.executor}`)"
        )
    return problems
