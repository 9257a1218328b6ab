"""The deterministic scorer: decides when the model is off, slow, wrong or unavailable (pure).

Signals from a machine (AlgoBox on screen, TradingView alerts):
score = 50
      + 0.4 x (power - 50)                      AlgoBox power level 0-100, when the signal has one (±20)
      + {L1: -5, L2: 0, L3: +5, L4: +10}        confluence level, when the signal has one
      + 10 if the trend agrees, -20 if against  MACVU state or the alert's trend field, when present
      + time of day (US/Eastern):                 +5 in regular hours 09:35-15:45, -10 in the first five minutes
                                                  of the open and after 15:45, -10 overnight (18:00-09:30)
      + 40 x (hit rate - 0.5)                   over the group's closed trades, once there are at least 10 (±20)
The trader's own signals (manual entry, the API) are the trader's judgement: they carry no power or confluence
and the time of day is the trader's choice, so only the evidence scores them: the trend when given and the hit
rate. A plain manual signal scores 50 and is taken.
clamped to 0..100. take at or above ``take_score``, reduce at or above ``skip_score``, skip below.
confidence = 0.5 + (score - 50) / 200, so 0.25..0.75: the scorer never claims more than the sizer's prior allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import Decimal

from enigma_apex.analysis.answer import Analysis, AnalystAction

CONFLUENCE_POINTS = {1: -5, 2: 0, 3: 5, 4: 10}
MIN_TRADES_FOR_HIT_RATE = 10


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    direction: str  # long | short
    et_time: time  # the signal's time in US/Eastern
    power: int | None = None
    confluence: int | None = None
    trend: str | None = None  # up | down | flat
    hit_rate: Decimal | None = None
    trades: int = 0
    source: str = "algobox"  # algobox | tradingview | manual | api


TRADERS_OWN = frozenset({"manual", "api"})


def time_points(t: time) -> tuple[int, str]:
    if time(9, 30) <= t < time(9, 35):
        return -10, "first five minutes of the open"
    if time(9, 35) <= t < time(15, 45):
        return 5, "regular hours"
    if time(15, 45) <= t < time(18, 0):
        return -10, "late session"
    return -10, "overnight session"


def score(inputs: ScoreInputs, take_score: int = 50, skip_score: int = 30) -> Analysis:
    points: dict[str, float] = {"base": 50}
    reasons: list[str] = []
    if inputs.power is not None:
        points["power"] = 0.4 * (max(0, min(100, inputs.power)) - 50)
        reasons.append(f"power {inputs.power}")
    if inputs.confluence is not None:
        points["confluence"] = CONFLUENCE_POINTS.get(inputs.confluence, 0)
        reasons.append(f"confluence L{inputs.confluence}")
    if inputs.trend in ("up", "down"):
        agrees = (inputs.trend == "up") == (inputs.direction == "long")
        points["trend"] = 10 if agrees else -20
        reasons.append(f"trend {inputs.trend} {'agrees' if agrees else 'is against the signal'}")
    if inputs.source in TRADERS_OWN:
        reasons.append(f"the trader's own {inputs.source} signal: time of day not scored")
    else:
        points["time"], why = time_points(inputs.et_time)
        reasons.append(why)
    if inputs.hit_rate is not None and inputs.trades >= MIN_TRADES_FOR_HIT_RATE:
        points["hit_rate"] = 40 * (float(inputs.hit_rate) - 0.5)
        reasons.append(f"hit rate {float(inputs.hit_rate):.0%} over {inputs.trades} trades")
    total = round(max(0.0, min(100.0, sum(points.values()))))
    action: AnalystAction = "take" if total >= take_score else "reduce" if total >= skip_score else "skip"
    confidence = (Decimal("0.5") + Decimal(total - 50) / Decimal(200)).quantize(Decimal("0.001"))
    breakdown = {k: round(v, 2) for k, v in points.items()}
    return Analysis("scorer", total, action, confidence, tuple(reasons), breakdown=breakdown)
