from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from enigma_apex.domain.instruments import INSTRUMENTS
from enigma_apex.domain.symbols import Contract, Notation, front_contract, parse_symbol
from enigma_apex.domain.values import Snap, is_on_tick, snap_to_tick

REF = st.dates(min_value=date(2020, 1, 1), max_value=date(2090, 12, 31))


@st.composite
def contracts_near(draw):
    on = draw(REF)
    spec = draw(st.sampled_from(sorted(INSTRUMENTS.values(), key=lambda s: s.root)))
    year = draw(st.integers(on.year - 1, on.year + 8))
    month = draw(st.sampled_from(spec.months))
    return on, Contract(spec.root, year, month)


@given(contracts_near(), st.sampled_from(list(Notation)))
def test_parse_of_format_is_identity_in_every_notation(case, notation):
    on, contract = case
    two_digit_year = notation in (Notation.NINJATRADER, Notation.CME)
    if two_digit_year and not 2000 <= contract.year <= 2099:
        return
    assert parse_symbol(contract.format(notation), on=on) == contract


@given(REF, st.sampled_from(sorted(INSTRUMENTS)), st.integers(0, 3))
def test_continuous_symbols_are_listed_contracts_in_order(on, root, offset):
    spec = INSTRUMENTS[root]
    first = front_contract(spec, on, offset)
    second = front_contract(spec, on, offset + 1)
    assert first.month in spec.months
    assert (first.year, first.month) < (second.year, second.month)
    assert parse_symbol(f"{root}{offset + 1}!", on=on) == first


@given(REF, st.sampled_from(sorted(INSTRUMENTS)))
def test_the_front_contract_never_moves_backwards_in_time(on, root):
    spec = INSTRUMENTS[root]
    today, tomorrow = front_contract(spec, on), front_contract(spec, on + timedelta(days=1))
    assert (tomorrow.year, tomorrow.month) >= (today.year, today.month)


TICKS = st.sampled_from([Decimal(t) for t in ("0.25", "0.1", "1", "0.01", "0.005", "0.00005", "0.015625", "0.03125")])
PRICES = st.decimals(
    min_value=Decimal("0.0001"), max_value=Decimal("250000"), allow_nan=False, allow_infinity=False, places=6
)


@given(PRICES, TICKS, st.sampled_from([Snap.NEAREST, Snap.DOWN, Snap.UP]))
def test_snapped_prices_are_on_the_grid_and_close(price, tick, mode):
    snapped = snap_to_tick(price, tick, mode)
    assert is_on_tick(snapped, tick)
    assert abs(snapped - price) <= (tick / 2 if mode is Snap.NEAREST else tick)
    if mode is Snap.DOWN:
        assert snapped <= price
    if mode is Snap.UP:
        assert snapped >= price


@given(PRICES, TICKS, st.sampled_from([Snap.NEAREST, Snap.DOWN, Snap.UP]))
def test_snapping_is_idempotent(price, tick, mode):
    once = snap_to_tick(price, tick, mode)
    assert snap_to_tick(once, tick, mode) == once
    assert snap_to_tick(once, tick, Snap.EXACT) == once
