"""`enigma-apex demo`: a paper hub with three paper accounts on different firm profiles and a simulated signal
source, so a newcomer sees signals scored, sized, checked, filled and charted within a minute.

The demo signal source posts a market signal (MNQ, long or short at random, an AlgoBox-like power and
confluence) to the hub's own HTTP API every ``every_s`` seconds, exactly as a user's manual entry would;
accounts stop 40 ticks away. Outside the instruments' trading hours the gate refuses entries, and says so.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)

DEMO_ACCOUNTS = [
    {"name": "DEMO-APEX-50K", "profile": "apex4-intraday-eval-50k"},
    {"name": "DEMO-TOPSTEP-50K", "profile": "topstep-combine-50k"},
    {"name": "DEMO-MFFU-50K", "profile": "mffu-builder-eval-50k"},
]


def demo_settings(data_dir: str = "data") -> dict[str, Any]:
    """The demo's configuration. Its ports are any free ones (the URLs are printed at start), so the demo runs
    beside a hub already started with `make run` or `up`."""
    return {
        "hub": {"data_dir": data_dir},
        "http": {"port": 0},
        "gateway": {"port": 0},
        "dashboard": {"port": 0},
        "signals": {"default_mode": "auto"},
        "accounts": [{**a, "executor": "paper", "default_stop_ticks": 40} for a in DEMO_ACCOUNTS],
    }


async def signal_source(
    base_url: Callable[[], str | None],
    token: str,
    every_s: float,
    seed: int | None = None,
    say: Callable[[str], None] | None = None,
) -> None:
    """Post a demo signal every ``every_s`` seconds once the hub answers; failures are logged, never fatal.
    ``say``: one line per signal with what each account did (the demo's console)."""
    rng = random.Random(seed)  # noqa: S311 - simulated signals, not cryptography
    run = secrets.token_hex(3)  # each run's signals are new ones: a second demo in the same folder trades too
    async with httpx.AsyncClient(timeout=5.0, headers={"Authorization": f"Bearer {token}"}) as http:
        number = 0
        while True:
            await asyncio.sleep(every_s if number else 5.0)  # the first one once the paper broker has quotes
            base = base_url()
            if base is None:
                continue
            number += 1
            signal = {
                "id": f"demo-{run}-{number}",
                "symbol": "MNQ",
                "side": rng.choice(["long", "short"]),
                "power": rng.randint(5, 40),
                "confluence": rng.randint(1, 4),
                "note": "demo signal",
            }
            try:
                response = await http.post(f"{base}/api/v1/signals", json=signal)
                decided = response.json().get("decisions", [])
                summary = ", ".join(f"{d['account']} {d['action']} {d['quantity']}" for d in decided)
                log.info("demo.signal", side=signal["side"], power=signal["power"], decisions=summary)
                if say is not None:
                    say(f"demo signal {number}: {signal['side']} MNQ, power {signal['power']} -> {summary or 'none'}")
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("demo.signal_failed", error=str(exc))


__all__ = ["DEMO_ACCOUNTS", "demo_settings", "signal_source"]
