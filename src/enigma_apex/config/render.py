"""Write configuration as TOML: the fully commented default file and `config show`."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from enigma_apex.config.models import AccountEntry, GroupSection, Settings
from enigma_apex.config.schema import MASK, KeyInfo, plain


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # a TOML integer or float, exactly as written
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table; keys quoted so any text is a valid key
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, 100)]


def _section_lines(title: str, model: type[BaseModel], values: dict[str, Any], *, annotate: bool) -> list[str]:
    lines: list[str] = []
    if annotate and model.__doc__:
        lines += _comment(model.__doc__.strip())
    lines.append(f"[{title}]")
    for name, field in model.model_fields.items():
        info = KeyInfo(f"{title}.{name}", field)
        value = values.get(name)
        if annotate:
            lines += _comment(field.description or "")
            tags = ["reloads live" if info.reloadable else "needs a restart"]
            if info.secret:
                tags.append(f"secret: set {info.env_name} or `enigma-apex secret set {info.path}`")
            lines.append(f"# ({'; '.join(tags)})")
        if info.secret:
            if annotate:
                lines.append(f'# {name} = ""')
            elif value is None:
                lines.append(f"# {name} =   (not set)")
            else:
                lines.append(f"{name} = {toml_value(MASK)}")
        elif value is None:
            lines.append(f"# {name} =   (empty: default behaviour)")
        else:
            lines.append(f"{name} = {toml_value(value)}")
        if annotate:
            lines.append("")
    return lines


def render(settings: Settings, *, annotate: bool, mask: bool = True) -> str:
    """TOML text for ``settings``. ``annotate`` adds every key's meaning (the `init` template)."""
    out: list[str] = []
    if annotate:
        out += [
            "# Enigma-Apex configuration. Every key is shown with its default and its meaning.",
            "# Environment variables override keys: ENIGMA_APEX__SECTION__KEY (e.g. ENIGMA_APEX__HTTP__PORT=9090).",
            "# Check a change with `enigma-apex config check`; keys marked 'reloads live' apply to a running hub",
            "# when this file is saved (or on `enigma-apex config reload`).",
            "",
        ]
    for name, field in Settings.model_fields.items():
        if name in ("accounts", "groups"):
            continue
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        values = plain(getattr(settings, name), mask=mask)
        out += _section_lines(name, model, values, annotate=annotate)
        out.append("")
    if annotate:
        out += _comment(
            "Account groups, one [groups.<name>] table each (optional; a group without one uses [signals]). Keys: "
            + "; ".join(f"{n}: {f.description}" for n, f in GroupSection.model_fields.items())
        )
        out.append("")
    for group, section in settings.groups.items():
        out.append(f"[groups.{json.dumps(group)}]")
        for key, value in plain(section).items():
            if value is not None:
                out.append(f"{key} = {toml_value(value)}")
        out.append("")
    if annotate:
        out += _comment(
            "Trading accounts, one [[accounts]] table each. Keys: "
            + "; ".join(f"{n}: {f.description}" for n, f in AccountEntry.model_fields.items())
        )
        out.append("# (accounts need a restart)")
    for entry in settings.accounts:
        out.append("[[accounts]]")
        for key, value in plain(entry).items():
            if value is not None:
                out.append(f"{key} = {toml_value(value)}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
