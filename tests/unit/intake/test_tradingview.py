"""TradingView alert bodies: every accepted shape, every symbol notation, and clear refusals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enigma_apex.domain.symbols import Contract
from enigma_apex.intake.tradingview import Alert, Refused, parse_alert

TODAY = date(2026, 11, 23)
NQZ26 = Contract("NQ", 2026, 12)


def parse(body):
    raw = body if isinstance(body, bytes) else (json.dumps(body) if isinstance(body, dict) else body).encode()
    return parse_alert(raw, today=TODAY)


def accepted(body) -> Alert:
    alert = parse(body)
    assert isinstance(alert, Alert), alert
    return alert


def refused(body) -> Refused:
    result = parse(body)
    assert isinstance(result, Refused), result
    return result


@pytest.mark.parametrize("ticker", ["NQ1!", "NQZ2026", "NQZ6", "NQ 12-26", "CME_MINI:NQ1!", "nqz2026"])
def test_every_symbol_notation_maps_to_the_contract(ticker):
    assert accepted({"ticker": ticker, "action": "buy"}).contract == NQZ26


def test_traderspost_with_absolute_and_relative_levels():
    alert = accepted(
        {
            "ticker": "MNQ1!",
            "action": "buy",
            "price": 21000.25,
            "quantity": "2",
            "stopLoss": {"type": "stop", "stopPrice": 20980},
            "takeProfit": {"limitPrice": "21040.5"},
            "time": "2026-11-23T15:00:00Z",
            "message": "breakout",
        }
    )
    assert (alert.style, alert.action, alert.quantity, alert.comment) == ("traderspost", "buy", 2, "breakout")
    assert (alert.price, alert.stop, alert.target) == (Decimal("21000.25"), Decimal("20980"), Decimal("21040.5"))
    assert alert.sent_at == datetime(2026, 11, 23, 15, tzinfo=UTC)
    short = accepted(
        {
            "ticker": "MNQ1!",
            "action": "sell",
            "price": "21000",
            "stopLoss": {"amount": 20},
            "takeProfit": {"percent": 0.1},
        }
    )
    assert short.stop == Decimal("21020")  # a short's stop sits above
    assert short.target == Decimal("20979.00")  # 0.1 % below, snapped to the 0.25 tick


def test_sentiment_flat_and_close_words_are_exits():
    assert accepted({"ticker": "ES1!", "action": "sell", "sentiment": "flat"}).action == "exit"
    assert accepted({"ticker": "ES1!", "action": "exit"}).action == "exit"
    assert accepted({"symbol": "ES1!", "data": "close"}).action == "exit"


def test_pickmytrade_reads_prices_date_and_drops_its_token():
    alert = accepted(
        {
            "symbol": "MES1!",
            "data": "sell",
            "quantity": 3,
            "price": 6000,
            "sl": 6010,
            "tp": 5980,
            "date": "2026-11-23T14:59:58Z",
            "token": "pmt-secret",
        }
    )
    assert (alert.style, alert.action, alert.quantity) == ("pickmytrade", "sell", 3)
    assert (alert.stop, alert.target) == (Decimal(6010), Decimal(5980))
    assert "pmt-secret" not in repr(alert.fields)


def test_crosstrade_text_and_its_secret_never_kept():
    alert = accepted(
        "key=ct-secret; command=PLACE; account=sim101; instrument=NQ 12-26; action=BUY; qty=1; order_type=MARKET; tif=DAY;"
    )
    assert (alert.style, alert.action, alert.quantity, alert.account) == ("crosstrade", "buy", 1, "sim101")
    assert "ct-secret" not in repr(alert)
    assert accepted("command=CLOSEPOSITION; account=sim101; instrument=NQ1!;").action == "exit"
    assert refused("command=REVERSE; instrument=NQ1!;").field == "command"


def test_the_default_strategy_message():
    alert = accepted("order buy @ 2 filled on MNQ1!. New strategy position is 2")
    assert (alert.style, alert.action, alert.quantity, alert.contract.root) == ("strategy-message", "buy", 2, "MNQ")
    assert accepted("order sell @ 2 filled on MNQ1!. New strategy position is 0").action == "exit"
    assert accepted("order sell @ 1 filled on MNQ1!. New strategy position is -1").action == "sell"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("", "empty"),
        ("{not json", "invalid JSON"),
        ('{"ticker": "NQ1!", "action": "buy", "price": NaN}', "NaN"),
        ("[1, 2]", "unrecognised"),
        ({"ticker": "NQ1!"}, "ticker + action"),
        ({"ticker": "NQ1!", "action": "hold"}, "not buy, sell or exit"),
        ({"ticker": "ZZ1!", "action": "buy"}, "ZZ1!"),
        ({"ticker": "{{ticker}}", "action": "buy"}, "{{ticker}}"),
        ({"ticker": "NQ1!", "action": "buy", "price": "21000.1"}, "tick"),
        ({"ticker": "NQ1!", "action": "buy", "price": -5}, "positive"),
        ({"ticker": "NQ1!", "action": "buy", "price": 21000, "stopLoss": {"stopPrice": 21010}}, "wrong side"),
        ({"ticker": "NQ1!", "action": "buy", "stopLoss": {"amount": 10}}, "no price"),
        ({"ticker": "NQ1!", "action": "buy", "quantity": 1.5}, "whole number"),
        ({"ticker": "NQ1!", "action": "buy", "time": "yesterday"}, "ISO 8601"),
        (b"\xff\xfe", "UTF-8"),
        (b"x" * 20000, "limit"),
        ("just some words", "unrecognised"),
    ],
)
def test_bad_bodies_are_refused_with_the_reason(body, words):
    assert words in refused(body).reason


def test_dedup_key_is_stable_for_a_repeat_and_differs_otherwise():
    a = accepted({"ticker": "NQ1!", "action": "buy", "time": "2026-11-23T15:00:00Z"})
    b = accepted({"ticker": "NQ1!", "action": "buy", "time": "2026-11-23T15:00:00Z"})
    c = accepted({"ticker": "NQ1!", "action": "buy", "time": "2026-11-23T15:01:00Z"})
    at = datetime(2026, 11, 23, 15, 0, 5, tzinfo=UTC)
    window = timedelta(seconds=30)
    assert a.dedup_key(at, window) == b.dedup_key(at + timedelta(hours=1), window)
    assert a.dedup_key(at, window) != c.dedup_key(at, window)
    untimed = accepted({"ticker": "NQ1!", "action": "buy"})  # no time of its own: equal within the window
    assert untimed.dedup_key(at, window) == untimed.dedup_key(at + timedelta(seconds=20), window)
    assert untimed.dedup_key(at, window) != untimed.dedup_key(at + timedelta(seconds=90), window)


def test_epoch_times_in_seconds_and_milliseconds():
    assert accepted({"symbol": "NQ1!", "data": "buy", "date": 1795446000}).sent_at == datetime(
        2026, 11, 23, 15, tzinfo=UTC
    )
    assert accepted({"symbol": "NQ1!", "data": "buy", "date": "1795446000000"}).sent_at == datetime(
        2026, 11, 23, 15, tzinfo=UTC
    )


@given(st.binary(max_size=300))
def test_any_bytes_give_an_alert_or_a_reason_never_an_exception(body):
    assert isinstance(parse_alert(body, today=TODAY), Alert | Refused)


@given(
    st.dictionaries(
        st.sampled_from(["ticker", "action", "price", "stopLoss", "quantity", "time", "sentiment"]),
        st.one_of(
            st.none(),
            st.text(max_size=12),
            st.integers(),
            st.floats(),
            st.dictionaries(st.sampled_from(["stopPrice", "amount", "percent"]), st.text(max_size=6)),
        ),
    )
)
def test_any_traderspost_shaped_object_gives_an_alert_or_a_reason(data):
    assert isinstance(parse_alert(json.dumps(data).encode(), today=TODAY), Alert | Refused)
