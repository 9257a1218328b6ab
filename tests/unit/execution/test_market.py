import random
from datetime import date, datetime
from decimal import Decimal

import pytest

from enigma_apex.adapters.brokers.paper import sample_replay_text
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.domain.values import is_on_tick
from enigma_apex.execution.market import TRADING_SECONDS_PER_YEAR, RandomWalk, parse_replay

ON = datetime.fromisoformat("2026-11-23T15:00:00+00:00")
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))
ZN = parse_symbol("ZN 12-26", on=date(2026, 11, 23))


def test_the_random_walk_stays_on_the_tick_with_a_one_tick_quote_and_the_documented_volatility():
    walk = RandomWalk([MNQ, ZN], random.Random(1))  # noqa: S311
    moves = []
    for _ in range(4000):
        before = walk.mid[MNQ]
        for tick in walk.step(1.0):
            size = tick.contract.spec.tick_size
            assert is_on_tick(tick.ask, size) and tick.ask - tick.bid == size
        moves.append(float(walk.mid[MNQ] - before))
    # per-second sigma of NQ's 22 % a year at 21,000: 21000 * 0.22 * sqrt(1 / trading seconds) ~ 0.80 points
    expected = 21000 * 0.22 * (1 / TRADING_SECONDS_PER_YEAR) ** 0.5
    observed = (sum(m * m for m in moves) / len(moves)) ** 0.5
    assert 0.8 * expected < observed < 1.25 * expected


def test_the_same_seed_gives_the_same_market():
    a, b = RandomWalk([MNQ], random.Random(9)), RandomWalk([MNQ], random.Random(9))  # noqa: S311
    assert [a.step(0.25) for _ in range(50)] == [b.step(0.25) for _ in range(50)]


def test_replay_reads_ticks_and_bars_in_order():
    ticks = list(parse_replay("time,symbol,price\n2026-11-23T14:30:00Z,MNQ,21000.25\n", on=ON))
    assert [(t.bid, t.ask, t.last) for t in ticks] == [(Decimal("21000.00"), Decimal("21000.25"), Decimal("21000.25"))]
    bars = "time,symbol,open,high,low,close\n2026-11-23T14:30:00-05:00,MNQZ6,100,104,99,101\n"
    assert [t.last for t in parse_replay(bars, on=ON)] == [Decimal(100), Decimal(99), Decimal(104), Decimal(101)]
    assert len(list(parse_replay(sample_replay_text(), on=ON))) == 800  # the packaged sample


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("time,symbol\n", "needs the columns"),
        ("time,symbol,price\n2026-11-23T14:30:00,MNQ,1\n", "line 2: time without a UTC offset"),
        ("time,symbol,price\n2026-11-23T14:30:00Z,XXX,1\n", "line 2"),
        ("time,symbol,open,high,low,close\n2026-11-23T14:30:00Z,MNQ,100,99,98,97\n", "outside low..high"),
    ],
)
def test_a_bad_replay_row_is_refused_with_its_line(text, problem):
    with pytest.raises(ValueError, match=problem):
        list(parse_replay(text, on=ON))
