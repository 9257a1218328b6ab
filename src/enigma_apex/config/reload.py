"""Hot reload: which keys changed, which may apply live and which need a restart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from enigma_apex.config.models import Settings
from enigma_apex.config.schema import KEYS, flatten


@dataclass(frozen=True)
class Change:
    key: str
    old: Any  # masked for secrets
    new: Any
    live: bool


@dataclass(frozen=True)
class ReloadPlan:
    applied: tuple[Change, ...]
    refused: tuple[Change, ...]  # need a restart; the hub keeps the running value
    settings: Settings  # what the hub runs with after the reload

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.refused)


def plan_reload(running: Settings, candidate: Settings) -> ReloadPlan:
    """Apply live keys from ``candidate``; keep running values for keys that need a restart."""
    old_flat, new_flat = flatten(running, mask=False), flatten(candidate, mask=False)
    old_masked, new_masked = flatten(running), flatten(candidate)
    applied: list[Change] = []
    refused: list[Change] = []
    for key, info in KEYS.items():
        if old_flat[key] == new_flat[key]:
            continue
        change = Change(key, old_masked[key], new_masked[key], info.reloadable)
        (applied if info.reloadable else refused).append(change)
    merged = running
    for change in applied:
        section, name = change.key.split(".", 1)
        section_model = getattr(merged, section)
        new_section = section_model.model_copy(update={name: getattr(getattr(candidate, section), name)})
        merged = merged.model_copy(update={section: new_section})
    return ReloadPlan(tuple(applied), tuple(refused), merged)
