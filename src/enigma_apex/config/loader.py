"""Load the configuration: TOML file, then ``ENIGMA_APEX__SECTION__KEY`` overrides, then secrets.

Every problem is collected and reported at once, each with its dotted path, the bad value and what
is allowed, so a user can fix a file in one pass.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from enigma_apex.adapters.profile_files import load_registry
from enigma_apex.config.models import Settings
from enigma_apex.config.schema import SECRET_KEYS, allowed_keys, key_info
from enigma_apex.errors import ConfigError

ENV_PREFIX = "ENIGMA_APEX__"
CONFIG_ENV = "ENIGMA_APEX_CONFIG"
DEFAULT_FILE = "enigma-apex.toml"
KEYRING_SERVICE = "enigma-apex"

SecretLookup = Callable[[str], str | None]


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    path: Path | None
    text_hash: str  # hash of the file's bytes ("" without a file), to notice changes


def resolve_path(cli_value: str | Path | None, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if cli_value:
        return Path(cli_value)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return Path(DEFAULT_FILE)


def file_digest(data: bytes) -> str:
    """The digest of a configuration file's bytes (``Loaded.text_hash``): how a change to the file is noticed."""
    return hashlib.sha256(data).hexdigest()


def load(
    path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    secret_lookup: SecretLookup | None = None,
    require_file: bool = True,
) -> Loaded:
    """Read, merge and validate. Raises ``ConfigError`` listing every problem."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    digest = ""
    if path is not None and path.exists():
        data = path.read_bytes()
        digest = file_digest(data)
        try:
            raw = tomllib.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    elif path is not None and require_file:
        raise ConfigError(f"{path}: no such configuration file (create one with `enigma-apex init`)")

    problems: list[str] = []
    allow_plain = bool(_get(raw, "hub.allow_plaintext_secrets"))
    for key in SECRET_KEYS:
        if _get(raw, key.path) is not None and not allow_plain:
            problems.append(
                f"{key.path}: secrets are not read from the configuration file; set {key.env_name} or run "
                f"`enigma-apex secret set {key.path}` (or set hub.allow_plaintext_secrets = true to force it)"
            )
            _delete(raw, key.path)

    problems += _apply_environment(raw, environ)

    use_keyring = _get(raw, "hub.use_keyring")
    lookup = secret_lookup if secret_lookup is not None else (keyring_lookup if use_keyring is not False else None)
    if lookup is not None:
        for key in SECRET_KEYS:
            if _get(raw, key.path) is None:
                value = lookup(key.path)
                if value:
                    _set(raw, key.path.split("."), value)

    base = path.parent if path is not None else Path.cwd()
    data_dir = _get(raw, "hub.data_dir")
    if isinstance(data_dir, str):
        _set(
            raw,
            ["hub", "data_dir"],
            str((base / data_dir).resolve()) if not Path(data_dir).is_absolute() else data_dir,
        )
    elif data_dir is None:
        _set(raw, ["hub", "data_dir"], str((base / "data").resolve()))

    for dotted_key in (
        "rules.profile_dir",
        "rules.news_calendar",
        "ai.prompt_file",
        "gateway.tls_cert",
        "gateway.tls_key",
        "http.tls_cert",
        "rithmic.ca_file",
        "http.tls_key",
        "dashboard.tls_cert",
        "dashboard.tls_key",
    ):
        value = _get(raw, dotted_key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            _set(raw, dotted_key.split("."), str((base / value).resolve()))
    settings: Settings | None = None
    context: dict[str, Any] = {}
    try:
        context["profiles"] = load_registry(_profile_dir(raw, base))
    except ConfigError as exc:
        problems.append(str(exc))
    try:
        settings = Settings.model_validate(raw, context=context)
    except ValidationError as exc:
        problems += format_validation_error(exc)
    if problems:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{len(problems)} problem(s) in the configuration", problems)
    if settings is None:  # pragma: no cover - validation either returns settings or raised
        raise ConfigError("the configuration could not be validated")
    return Loaded(settings, path, digest)


def _profile_dir(raw: Mapping[str, Any], base: Path) -> Path:
    value = _get(raw, "rules.profile_dir")
    folder = Path(value) if isinstance(value, str) else Path("profiles")
    return folder if folder.is_absolute() else base / folder


def format_validation_error(exc: ValidationError) -> list[str]:
    out: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = dotted(loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = allowed_keys(loc[:-1])
            out.append(f"{path}: unknown key (allowed here: {', '.join(allowed)})")
            continue
        info = key_info(path)
        shown = "(hidden)" if info is not None and info.secret else repr(err.get("input"))
        if err["type"] in ("value_error", "missing"):  # our own messages already name the value
            out.append(f"{path}: {msg}")
        else:
            out.append(f"{path}: {msg}; got {shown}")
    return out


def dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def keyring_lookup(path: str) -> str | None:
    """A secret from the OS keyring (service ``enigma-apex``, user = dotted key), or None."""
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(KEYRING_SERVICE, path)
        except KeyringError:
            return None
    except Exception:  # a broken keyring backend must never stop the hub  # noqa: BLE001
        return None


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name.removeprefix(ENV_PREFIX).split("__") if p]
        if not parts:
            continue
        value = environ[name]
        info = key_info(".".join(p for p in parts if not p.isdigit()))
        parsed: Any = value if info is not None and info.secret else _parse_env_value(value)
        try:
            _set(raw, parts, parsed)
        except (TypeError, IndexError) as exc:
            problems.append(f"{name}: cannot apply ({exc})")
    return problems


def _parse_env_value(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _get(raw: Mapping[str, Any], path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _delete(raw: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node.get(part, {})
    if isinstance(node, dict):
        node.pop(last, None)


def _set(raw: dict[str, Any], parts: list[str], value: Any) -> None:
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt_is_index = not last and parts[i + 1].isdigit()
        if isinstance(node, list):
            index = int(part)
            while len(node) <= index:
                node.append({})
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            raise TypeError(f"{'.'.join(parts[:i])} is not a table")
        if last:
            node[part] = value
        else:
            if part not in node or not isinstance(node[part], dict | list):
                node[part] = [] if nxt_is_index else {}
            node = node[part]
