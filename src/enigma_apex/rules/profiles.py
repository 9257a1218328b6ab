"""Firm profiles: the validated rule set of one (firm, product, phase, size).

Profiles are data. Each file in ``rules/profiles/`` (and in the user's profile folder) holds one or
more ``[[family]]`` tables: the fields shared by a rule family plus a ``sizes`` table whose entries
add or override the size-specific numbers. ``expand`` turns a parsed file into one ``Profile`` per
size; every problem names the file, the family and the field at fault.

A user file may instead hold ``[[profile]]`` tables with ``extends = "<built-in id>"`` and only the
fields to change (this is how a conflicting reading is overridden; see docs/rules.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from enigma_apex.domain.accounts import Platform

DrawdownKind = Literal["intraday", "eod", "static"]
Boundary = Literal["strict", "inclusive"]


class Tier(BaseModel):
    """A scaling level chosen at the session close from the EOD profit, applied to the next session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profit_from: Decimal = Field(ge=0)
    contracts: int | None = Field(default=None, ge=1)  # None: the profile's cap
    dll: Decimal | None = Field(default=None, gt=0)


class Profile(BaseModel):
    """Every rule of one account type. Money is dollars; offsets are relative to ``start``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)+$")
    firm: str
    firm_name: str
    product: str
    phase: Literal["eval", "funded"]
    size: str
    generation: str
    effective_from: date
    sources: tuple[str, ...] = Field(min_length=1)
    notes: str = ""

    start: Decimal = Field(ge=0)
    target: Decimal | None = Field(default=None, gt=0)
    drawdown: Decimal = Field(gt=0)
    drawdown_kind: DrawdownKind
    # Lock: the threshold stops trailing at start + lock_offset ("target" = start + target).
    lock_offset: Decimal | Literal["target"] | None = None
    lock_platforms: tuple[Platform, ...] | None = None  # None: every platform
    lock_after_first_payout: bool = False
    payout_threshold_offset: Decimal | None = None  # after the first payout the threshold is fixed here

    dll: Decimal | None = Field(default=None, gt=0)  # soft: flatten and pause until the next session
    tiers: tuple[Tier, ...] = ()
    max_minis: int | None = Field(default=None, ge=1)
    max_micros: int | None = Field(default=None, ge=1)
    half_contracts: int | None = Field(default=None, ge=1)  # cap until the EOD balance passes start + half_until
    half_until_offset: Decimal | None = None

    consistency_pct: Decimal | None = Field(default=None, gt=0, lt=100)
    consistency_by_payout: tuple[Decimal, ...] = ()  # progressive limits: payout 1, 2, 3+ …
    consistency_boundary: Boundary = "strict"
    consistency_blocks: Literal["payout", "pass", "target"] = "payout"

    session_tz: str = "America/New_York"
    session_close: time  # the firm's end of day, to the second: the end-of-day figures are taken here
    flat_by: time | None = None  # positions must be flat by (default: session_close); new entries stop before it
    session_reset: time = time(18, 0)
    half_days_count: bool = True

    min_trading_days: int = Field(default=0, ge=0)
    qualifying_min_profit: Decimal | None = Field(default=None, ge=0)
    qualifying_days_for_payout: int | None = Field(default=None, ge=1)
    time_limit_days: int | None = Field(default=None, ge=1)  # an evaluation ends after this many calendar days
    time_limit_expires: time = time(18, 0)  # ... at this time of its last day (session time zone)
    min_payout_balance_offset: Decimal | None = None  # balance needed to request a payout (start + offset)
    safety_net_payouts: int | None = Field(default=None, ge=1)  # ... for the first N payouts only (None: always)
    payout_keeps_offset: Decimal | None = None  # what must remain after a payout (None: min_payout_balance_offset)
    min_payout: Decimal | None = Field(default=None, gt=0)
    max_payouts: int | None = Field(default=None, ge=1)
    close_after_max_payouts: bool = False  # the account is closed once the last payout is taken
    payout_caps: tuple[Decimal, ...] = ()  # the largest payout per request: 1st, 2nd, … (none after the list)
    trading_days_for_payout: int | None = Field(default=None, ge=1)  # trading days since the last payout
    inactivity_days: int | None = Field(default=None, ge=1)  # the account closes when, in this many calendar days,
    inactivity_min_days: int = Field(default=2, ge=1)  # … fewer than this many days made …
    inactivity_min_profit: Decimal = Field(default=Decimal(50), ge=0)  # … at least this net profit

    mae_pct: Decimal | None = Field(default=None, gt=0, le=100)  # % of max(start-of-day profit, drawdown)
    mae_fixed: Decimal | None = Field(default=None, gt=0)  # a fixed per-trade cap instead, while …
    mae_fixed_until_profit: Decimal | None = Field(default=None, gt=0)  # … the start-of-day profit is below this
    mae_raised_pct: Decimal | None = Field(default=None, gt=0, le=100)  # the pct once the EOD profit reached …
    mae_raised_from_profit: Decimal | None = Field(default=None, gt=0)  # … this (from the next session)
    risk_reward_max: Decimal | None = Field(default=None, gt=0)  # stop distance <= this x target distance
    news_flat_minutes: int | None = Field(default=None, ge=0)
    no_mini_micro_mix: bool = False

    @field_validator("lock_offset", mode="before")
    @classmethod
    def _no_lock(cls, value: Any) -> Any:
        return None if value == "none" else value

    @field_validator("tiers")
    @classmethod
    def _tiers_sorted(cls, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        if tiers and (tiers[0].profit_from != 0 or any(a.profit_from >= b.profit_from for a, b in pairwise(tiers))):
            raise ValueError("tiers must start at profit_from = 0 and rise strictly")
        return tiers

    @model_validator(mode="after")
    def _coherent(self) -> Profile:
        if self.lock_offset == "target" and self.target is None:
            raise ValueError("lock_offset = 'target' needs a target")
        if self.half_contracts is not None and self.half_until_offset is None:
            raise ValueError("half_contracts needs half_until_offset")
        if self.max_micros is not None and self.max_minis is None:
            raise ValueError("max_micros needs max_minis")
        if self.phase == "eval" and self.target is None and self.lock_offset == "target":
            raise ValueError("an evaluation that locks at its target needs a target")
        if (self.mae_fixed is None) != (self.mae_fixed_until_profit is None):
            raise ValueError("mae_fixed and mae_fixed_until_profit go together")
        if (self.mae_raised_pct is None) != (self.mae_raised_from_profit is None):
            raise ValueError("mae_raised_pct and mae_raised_from_profit go together")
        if self.flat_by is not None and self.flat_by > self.session_close:
            raise ValueError("flat_by must not be after session_close")
        return self

    # ---------------------------------------------------------------- derived figures
    @property
    def initial_threshold(self) -> Decimal:
        return self.start - self.drawdown

    def lock_level(self, platform: Platform | None) -> Decimal | None:
        """Where the threshold stops trailing for this platform, or None when it never stops.

        An unknown platform gets no lock when the firm makes the lock platform-dependent: the
        threshold then keeps trailing, which is the stricter reading."""
        if self.lock_offset is None or self.drawdown_kind == "static":
            return None
        if self.lock_platforms is not None and platform not in self.lock_platforms:
            return None
        offset = self.target if self.lock_offset == "target" else self.lock_offset
        return None if offset is None else self.start + offset

    @property
    def micro_ratio(self) -> int:
        if self.max_minis and self.max_micros:
            return max(1, self.max_micros // self.max_minis)
        return 10

    @property
    def flat_time(self) -> time:
        return self.flat_by or self.session_close

    def payout_cap(self, payouts_made: int) -> Decimal | None:
        """The largest amount the next payout may take (None: no cap, e.g. from the 6th legacy payout on)."""
        return self.payout_caps[payouts_made] if payouts_made < len(self.payout_caps) else None

    def dll_range(self) -> tuple[Decimal, Decimal] | None:
        """The daily loss limit, or its range over the tiers (None: none)."""
        values = [Decimal(t.dll) for t in self.tiers if t.dll is not None]
        if self.dll is not None:
            values.append(self.dll)
        return (min(values), max(values)) if values else None

    def consistency_limit(self, payouts_made: int) -> Decimal | None:
        if self.consistency_by_payout:
            return self.consistency_by_payout[min(payouts_made, len(self.consistency_by_payout) - 1)]
        return self.consistency_pct

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "firm": self.firm_name,
            "generation": self.generation,
            "phase": self.phase,
            "start": self.start,
            "target": self.target,
            "drawdown": self.drawdown,
            "kind": self.drawdown_kind,
            "lock": None
            if self.lock_offset is None
            else ("target" if self.lock_offset == "target" else self.start + self.lock_offset),
            "lock_platforms": None if self.lock_platforms is None else [p.value for p in self.lock_platforms],
            "dll": _range_text(self.dll_range()),
            "max_minis": self.max_minis,
            "max_micros": self.max_micros,
            "consistency_pct": self.consistency_pct,
            "close": f"{self.session_close:%H:%M:%S} {self.session_tz}",
            "flat_by": f"{self.flat_time:%H:%M:%S}",
            "sources": list(self.sources),
        }


def _range_text(values: tuple[Decimal, Decimal] | None) -> Decimal | str | None:
    if values is None:
        return None
    return values[0] if values[0] == values[1] else f"{values[0]}-{values[1]} (tiers)"


class ProfileError(ValueError):
    """A profile file is invalid; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class ProfileRegistry:
    profiles: Mapping[str, Profile]

    def get(self, profile_id: str) -> Profile:
        try:
            return self.profiles[profile_id]
        except KeyError:
            raise KeyError(unknown_profile_message(profile_id, self.profiles)) from None

    def __contains__(self, profile_id: object) -> bool:
        return profile_id in self.profiles

    def ids(self) -> list[str]:
        return sorted(self.profiles)


def unknown_profile_message(profile_id: str, known: Iterable[str]) -> str:
    import difflib

    ids = sorted(known)
    close = difflib.get_close_matches(profile_id, ids, n=4, cutoff=0.5)
    hint = ", ".join(close or ids[:4])
    return (
        f"unknown profile {profile_id!r} (known: {hint}, …; {len(ids)} profiles in all, `enigma-apex firms` lists them)"
    )


def _where(origin: str, label: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
        parts.append(f"{origin}: {label}: {loc}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def expand(document: Mapping[str, Any], origin: str, base: Mapping[str, Profile] | None = None) -> list[Profile]:
    """Profiles from one parsed file. ``base`` resolves ``extends`` in user files."""
    allowed = {"family", "profile"}
    extra = set(document) - allowed
    if extra:
        raise ProfileError(f"{origin}: unknown top-level key(s) {sorted(extra)}; use [[family]] or [[profile]] tables")
    out: list[Profile] = []
    for index, family in enumerate(document.get("family", [])):
        fam = dict(family)
        sizes = fam.pop("sizes", None)
        pattern = fam.pop("id", None)
        label = f"family[{index}]"
        if not isinstance(sizes, Mapping) or not sizes:
            raise ProfileError(f"{origin}: {label}: needs a non-empty [family.sizes] table")
        if not isinstance(pattern, str) or "{size}" not in pattern:
            raise ProfileError(f"{origin}: {label}: id must be a pattern containing {{size}}")
        for size, numbers in sizes.items():
            merged = {**fam, **dict(numbers), "size": size, "id": pattern.format(size=size)}
            try:
                out.append(Profile.model_validate(merged))
            except ValidationError as exc:
                raise ProfileError(_where(origin, f"{label}.sizes.{size}", exc)) from None
    for index, entry in enumerate(document.get("profile", [])):
        fields = dict(entry)
        parent_id = fields.pop("extends", None)
        label = f"profile[{index}]"
        parent: dict[str, Any] = {}
        if parent_id is not None:
            known = dict(base or {}) | {p.id: p for p in out}
            if parent_id not in known:
                raise ProfileError(f"{origin}: {label}: extends: {unknown_profile_message(str(parent_id), known)}")
            parent = known[parent_id].model_dump()
        try:
            out.append(Profile.model_validate({**parent, **fields}))
        except ValidationError as exc:
            raise ProfileError(_where(origin, label, exc)) from None
    seen: set[str] = set()
    for profile in out:
        if profile.id in seen:
            raise ProfileError(f"{origin}: profile id {profile.id!r} is defined twice")
        seen.add(profile.id)
    return out
