"""Trade statistics in R, with Bayesian shrinkage for small samples (pure).

R = the trade's initial risk to its stop in dollars; a trade's result in R = net P&L / R.

Shrinkage (documented in docs/sizing.md):
- win rate: Beta(a, b) prior with mean ``prior_win_rate`` and weight ``prior_strength`` trades,
  posterior mean ``(wins + a) / (n + a + b)``;
- payoff: average win and average loss (in R) each pulled toward the prior by ``prior_strength``
  pseudo-trades: ``avg_win = (sum of win R + k * prior_payoff) / (wins + k)``,
  ``avg_loss = (sum of |loss R| + k * 1) / (losses + k)``; ``payoff = avg_win / avg_loss``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class TradeRecord:
    account: str
    setup: str  # "source:ROOT" (+ ":pwrNN-MM" for AlgoBox power buckets)
    pnl: Decimal  # net of commissions
    risk: Decimal  # initial risk to the stop, dollars (> 0)

    @property
    def r(self) -> Decimal:
        return self.pnl / self.risk


@dataclass(frozen=True, slots=True)
class Prior:
    win_rate: Decimal = Decimal("0.5")
    payoff: Decimal = Decimal(1)
    strength: Decimal = Decimal(20)


@dataclass(frozen=True, slots=True)
class TradeStats:
    trades: int
    wins: int
    losses: int
    win_rate: Decimal | None  # raw
    avg_win_r: Decimal | None
    avg_loss_r: Decimal | None  # positive number
    payoff: Decimal | None
    expectancy_r: Decimal | None
    shrunk_win_rate: Decimal
    shrunk_payoff: Decimal
    r_distribution: tuple[tuple[str, int], ...] = field(default_factory=tuple)  # histogram buckets

    def as_dict(self) -> dict[str, object]:
        def s(v: Decimal | None) -> str | None:
            return None if v is None else str(v.quantize(Decimal("0.0001")))

        return {
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.losses,
            "win_rate": s(self.win_rate),
            "avg_win_r": s(self.avg_win_r),
            "avg_loss_r": s(self.avg_loss_r),
            "payoff": s(self.payoff),
            "expectancy_r": s(self.expectancy_r),
            "shrunk_win_rate": s(self.shrunk_win_rate),
            "shrunk_payoff": s(self.shrunk_payoff),
            "r_distribution": dict(self.r_distribution),
        }


BUCKETS = (Decimal(-3), Decimal(-2), Decimal(-1), Decimal("-0.5"), ZERO, Decimal("0.5"), ONE, Decimal(2), Decimal(3))


def _bucket(r: Decimal) -> str:
    lower = None
    for edge in BUCKETS:
        if r < edge:
            return f"<{edge}" if lower is None else f"[{lower},{edge})"
        lower = edge
    return f">={BUCKETS[-1]}"


def compute(trades: Iterable[TradeRecord], prior: Prior = Prior()) -> TradeStats:
    tally = Tally()
    for trade in trades:
        tally.add(trade)
    return tally.stats(prior)


@dataclass(slots=True)
class Tally:
    """Running sums of trades in R, added in the order they closed: the statistics of every trade so far without
    keeping the trades, so a new trade costs one ``add``. ``compute`` is a tally fed the whole list: fed the same
    trades in the same order, both give the same figures, digit for digit."""

    n: int = 0
    wins: int = 0
    losses: int = 0
    total: Decimal = ZERO  # every R
    win_total: Decimal = ZERO  # the winners' R
    loss_total: Decimal = ZERO  # the losers' |R|
    histogram: dict[str, int] = field(default_factory=dict)

    def add(self, trade: TradeRecord) -> None:
        if trade.risk <= 0:  # R unknown: not counted
            return
        r = trade.r
        self.n += 1
        self.total += r
        if r > 0:
            self.wins += 1
            self.win_total += r
        else:
            self.losses += 1
            self.loss_total += -r
        key = _bucket(r)
        self.histogram[key] = self.histogram.get(key, 0) + 1

    def stats(self, prior: Prior = Prior()) -> TradeStats:
        n, wins, losses = self.n, self.wins, self.losses
        k = prior.strength
        a, b = prior.win_rate * k, (ONE - prior.win_rate) * k
        shrunk_p = (Decimal(wins) + a) / (Decimal(n) + a + b)
        avg_win_post = (self.win_total + k * prior.payoff) / (Decimal(wins) + k)
        avg_loss_post = (self.loss_total + k * ONE) / (Decimal(losses) + k)
        raw_p = Decimal(wins) / n if n else None
        avg_win = self.win_total / wins if wins else None
        avg_loss = self.loss_total / losses if losses else None
        payoff = avg_win / avg_loss if avg_win is not None and avg_loss not in (None, ZERO) else None
        expectancy = self.total / n if n else None
        return TradeStats(
            n,
            wins,
            losses,
            raw_p,
            avg_win,
            avg_loss,
            payoff,
            expectancy,
            shrunk_p,
            avg_win_post / avg_loss_post,
            tuple(sorted(self.histogram.items())),
        )


def power_bucket(power: int | None, edges: tuple[int, ...]) -> str | None:
    """AlgoBox power score bucket label, e.g. 'pwr70-84' for edges (50, 70, 85)."""
    if power is None:
        return None
    lower = 0
    for edge in edges:
        if power < edge:
            return f"pwr{lower}-{edge - 1}"
        lower = edge
    return f"pwr{lower}-100"
