"""Walk the configuration models: dotted key paths, field metadata, secrets, masking."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from enigma_apex.config.models import Settings

MASK = "********"
_HOST = re.compile(r"(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)(:\d+)?")


def redact_url(url: str) -> str:
    """A service URL reduced to ``scheme://host/…``: user, password, tokens, paths and queries are dropped, and so
    is a "host" that is not a host name (a bot token or a webhook id stands there in some services' URLs)."""
    scheme, _, rest = url.partition("://")
    if not rest:
        return MASK
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…" if _HOST.fullmatch(host) else f"{scheme}://…"


@dataclass(frozen=True)
class KeyInfo:
    path: str  # "ai.api_key"
    field: FieldInfo

    @property
    def extra(self) -> dict[str, Any]:
        extra = self.field.json_schema_extra
        return extra if isinstance(extra, dict) else {}

    @property
    def reloadable(self) -> bool:
        return bool(self.extra.get("reload"))

    @property
    def secret(self) -> bool:
        return bool(self.extra.get("secret"))

    @property
    def env_name(self) -> str:
        return "ENIGMA_APEX__" + "__".join(part.upper() for part in self.path.split("."))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def iter_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[KeyInfo]:
    """Every leaf key of the sections (lists of tables such as ``accounts`` count as one key)."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        sub = _model_of(field.annotation)
        if sub is not None:
            yield from iter_keys(sub, f"{path}.")
        else:
            yield KeyInfo(path, field)


KEYS: dict[str, KeyInfo] = {key.path: key for key in iter_keys()}
SECRET_KEYS: tuple[KeyInfo, ...] = tuple(key for key in KEYS.values() if key.secret)


def key_info(path: str) -> KeyInfo | None:
    """Metadata of a dotted key; list items (``accounts[0].name``) map to their list key."""
    return KEYS.get(path.split("[", 1)[0])


def allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    """Field names allowed at a location (for 'unknown key' messages)."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return sorted(model.model_fields)
        annotation = field.annotation
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        model = _model_of(annotation)
    return sorted(model.model_fields) if model is not None else []


def flatten(settings: Settings, *, mask: bool = True) -> dict[str, Any]:
    """Dotted key -> plain value (secrets masked unless ``mask`` is false)."""
    out: dict[str, Any] = {}
    for key in KEYS.values():
        section, _, name = key.path.rpartition(".")
        owner: Any = settings
        for part in filter(None, section.split(".")):
            owner = getattr(owner, part)
        value = getattr(owner, name)
        out[key.path] = _masked_urls(value) if mask and key.extra.get("urls") else plain(value, mask=mask)
    return out


def _masked_urls(value: Any) -> Any:
    return [redact_url(str(v)) for v in value] if isinstance(value, list) else value


def plain(value: Any, *, mask: bool = True) -> Any:
    """A JSON/TOML-friendly copy of a config value."""
    if isinstance(value, SecretStr):
        return MASK if mask else value.get_secret_value()
    if isinstance(value, BaseModel):
        out = {}
        for name, info in type(value).model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            item = getattr(value, name)
            out[name] = _masked_urls(item) if mask and extra.get("urls") else plain(item, mask=mask)
        return out
    if isinstance(value, list):
        return [plain(v, mask=mask) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, mask=mask) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str | Decimal):
        return value
    return str(value)
