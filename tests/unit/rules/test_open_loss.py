"""Open loss the executor cannot see (ATI): each position's loss to its stop, or to one cent short of the flatten
line when it has none (docs/rules.md, "Open loss over ATI")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from enigma_apex.domain.orders import Position
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.rules.open_loss import Exposure, loss_to_stops

D = Decimal
MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))  # $2 a point
ES = parse_symbol("ES 12-26", on=date(2026, 11, 23))  # $50 a point


def test_each_position_counts_its_loss_to_its_stop():
    long_mnq = Exposure(Position("A", MNQ, 2, D("21000")), D("20990"))  # 10 points x 2 x $2
    short_es = Exposure(Position("A", ES, -1, D("6000")), D("6004"))  # 4 points x $50
    assert loss_to_stops([long_mnq, short_es], room_to_flatten=D(1800)) == D(-240)


def test_a_stop_that_locks_in_profit_counts_no_loss_and_flat_positions_nothing():
    trailed = Exposure(Position("A", MNQ, 1, D("21000")), D("21010"))
    flat = Exposure(Position("A", MNQ, 0, D("0")), None)
    assert loss_to_stops([trailed, flat], room_to_flatten=D(1800)) == 0


def test_an_unprotected_position_stands_one_cent_short_of_the_flatten_line():
    naked = Exposure(Position("A", MNQ, 1, D("21000")), None)
    assert loss_to_stops([naked], room_to_flatten=D(1800)) == D("-1799.99")
    # its protected neighbour's larger loss is kept; no room at all counts no further loss
    deep = Exposure(Position("A", ES, 4, D("6000")), D("5980"))  # 20 x 4 x $50 = $4000
    assert loss_to_stops([naked, deep], room_to_flatten=D(1800)) == D(-4000)
    assert loss_to_stops([naked], room_to_flatten=D(-5)) == 0


@given(
    st.lists(
        st.tuples(st.integers(-5, 5), st.integers(-400, 400), st.booleans()),
        max_size=4,
    ),
    st.integers(-1000, 5000),
)
def test_the_counted_loss_is_never_a_gain_and_never_less_than_the_stops(rows, room):
    exposures = [
        Exposure(Position("A", MNQ, qty, D(21000)), D(21000 + offset) if protected else None)
        for qty, offset, protected in rows
    ]
    counted = loss_to_stops(exposures, D(room))
    to_stops = sum((min(D(0), e.position.open_pnl(e.stop)) for e in exposures if e.stop is not None), start=D(0))
    assert counted <= 0 and counted <= to_stops
    if any(e.stop is None and not e.position.is_flat for e in exposures) and room > 0:
        assert counted <= -(D(room) - D("0.01"))
