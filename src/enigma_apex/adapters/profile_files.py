"""Read firm profile files: the ones shipped in the package and the user's own folder."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from enigma_apex.errors import ConfigError
from enigma_apex.rules.profiles import Profile, ProfileError, ProfileRegistry, expand

PACKAGE = "enigma_apex.rules.data"


def _parse(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: TOML syntax error: {exc}") from None


@functools.cache
def builtin_registry() -> ProfileRegistry:
    """Every profile shipped with the package (validated once per process)."""
    profiles: dict[str, Profile] = {}
    folder = resources.files(PACKAGE)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        for profile in expand(_parse(entry.read_text(encoding="utf-8"), f"(built-in) {entry.name}"), entry.name):
            if profile.id in profiles:
                raise ProfileError(f"(built-in) {entry.name}: profile id {profile.id!r} is defined twice")
            profiles[profile.id] = profile
    return ProfileRegistry(profiles)


def load_registry(user_dir: Path | None) -> ProfileRegistry:
    """Built-in profiles plus ``*.toml`` files in ``user_dir`` (which may add or override ids).

    A bad user file raises ``ConfigError`` naming the file, the entry and the field."""
    base = builtin_registry()
    if user_dir is None or not user_dir.is_dir():
        return base
    profiles = dict(base.profiles)
    for path in sorted(user_dir.glob("*.toml")):
        try:
            for profile in expand(_parse(path.read_text(encoding="utf-8"), str(path)), str(path), base=profiles):
                profiles[profile.id] = profile
        except ProfileError as exc:
            raise ConfigError(f"bad profile file: {exc}") from None
    return ProfileRegistry(profiles)
