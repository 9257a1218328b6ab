"""The catalogue of firm profile ids, following ``<firm>-<product>-<phase>-<size>``.

Sizes are the ones each firm sells, from ../shared/research/propfirm_rules.md §1 (Apex 4.0 [A-4],
Apex legacy [A-LEG], Topstep [R-02], MyFundedFutures [R-01], Take Profit Trader [R-04], Tradeify
[TF-BLOG, TF-GH]). The configuration validates account profiles against this list.
"""

from __future__ import annotations

import difflib
from itertools import product


def _ids() -> tuple[str, ...]:
    ids: list[str] = []
    ids += [
        f"apex4-{k}-{p}-{s}" for k, p, s in product(("eod", "intraday"), ("eval", "pa"), ("25k", "50k", "100k", "150k"))
    ]
    ids += [
        f"apexlegacy-full-{p}-{s}"
        for p, s in product(("eval", "pa"), ("25k", "50k", "75k", "100k", "150k", "250k", "300k"))
    ]
    ids += [f"apexlegacy-static-{p}-100k" for p in ("eval", "pa")]
    ids += [f"topstep-{p}-{s}" for p, s in product(("combine", "xfa"), ("50k", "100k", "150k"))]
    mffu_sizes = {
        "rapid": ("25k", "50k", "100k", "150k"),
        "rapideod": ("25k", "50k"),
        "builder": ("25k", "50k"),
        "pro": ("50k", "100k", "150k"),
    }
    ids += [f"mffu-{plan}-{p}-{s}" for plan, sizes in mffu_sizes.items() for p, s in product(("eval", "funded"), sizes)]
    ids += [f"tpt-{p}-{s}" for p, s in product(("test", "pro", "proplus"), ("25k", "50k", "75k", "100k", "150k"))]
    tradeify_sizes = {
        "advanced": ("50k", "100k", "150k"),
        "growth": ("50k", "100k", "150k"),
        "select": ("50k", "100k", "150k"),
        "lightning": ("25k", "50k", "100k", "150k"),
    }
    ids += [
        f"tradeify-{plan}-{p}-{s}"
        for plan, sizes in tradeify_sizes.items()
        for p, s in product(("eval", "funded"), sizes)
    ]
    return tuple(ids)  # fmt: skip


PROFILE_IDS: tuple[str, ...] = _ids()
_KNOWN = frozenset(PROFILE_IDS)


def is_known_profile(profile_id: str) -> bool:
    return profile_id in _KNOWN


def unknown_profile_message(profile_id: str) -> str:
    """An actionable message: the closest known ids first, then how many there are."""
    close = difflib.get_close_matches(profile_id, PROFILE_IDS, n=4, cutoff=0.5)
    hint = ", ".join(close) if close else ", ".join(PROFILE_IDS[:4])
    return f"unknown profile {profile_id!r} (known: {hint}, …; {len(PROFILE_IDS)} profiles in all)"
