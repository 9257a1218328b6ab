"""TradingView alert bodies: every accepted shape (the vendors' own examples, cited beside each), every symbol
notation, and clear refusals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enigma_apex.domain.orders import OrderType, TimeInForce
from enigma_apex.domain.signals import Reading, StrategyPosition
from enigma_apex.domain.symbols import Contract
from enigma_apex.intake.tradingview import MASK, Alert, Refused, parse_alert, scrub, scrub_text
from tests.vendor_alerts import pickmytrade

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


def test_sentiment_is_the_strategys_position_after_the_order():
    # traderspost.io/reference/strategy-message/no-entry-sentiment: flat exits only, bullish/bearish reverse
    flat = accepted({"ticker": "ES1!", "action": "sell", "sentiment": "flat"})
    assert (flat.action, flat.position) == ("sell", StrategyPosition("flat"))
    assert accepted({"ticker": "ES1!", "action": "sell", "sentiment": "bearish"}).position == StrategyPosition("short")
    assert accepted({"ticker": "ES1!", "action": "buy", "sentiment": "bullish"}).position == StrategyPosition("long")
    assert accepted({"ticker": "ES1!", "action": "exit"}).action == "exit"
    assert accepted({"symbol": "ES1!", "data": "close"}).action == "exit"
    # TradingView's strategy placeholders under their own names (article 43000481368)
    full = accepted(
        {"ticker": "ES1!", "action": "sell", "sentiment": "long", "quantity": "1", "market_position_size": "2",
         "prev_market_position": "long", "prev_market_position_size": "3"}
    )  # fmt: skip
    assert full.position == StrategyPosition("long", 2, "long", 3) and full.reading is Reading.PARTIAL


def test_traderspost_limit_and_stop_limit_entries_keep_their_prices():
    # docs.traderspost.io/docs/learn/platform-concepts/order-behavior ("Limit Order")
    limit = accepted({"ticker": "MNQ1!", "action": "buy", "orderType": "limit", "limitPrice": 21000.25})
    assert (limit.order_type, limit.limit_price, limit.stop_price) == (OrderType.LIMIT, Decimal("21000.25"), None)
    # traderspost.io/reference/strategy-field/allow-signal-exit-price ("stop_limit order")
    stop_limit = accepted(
        {"ticker": "MNQ1!", "action": "sell", "orderType": "stop_limit", "stopPrice": 21000, "limitPrice": 20999}
    )
    assert (stop_limit.order_type, stop_limit.stop_price, stop_limit.limit_price) == (
        OrderType.STOP_LIMIT,
        Decimal(21000),
        Decimal(20999),
    )
    priced = accepted({"ticker": "MNQ1!", "action": "buy", "orderType": "limit", "price": "21000.50"})
    assert priced.limit_price == Decimal("21000.50")  # no limitPrice: the alert's price
    gtc = accepted(
        {"ticker": "MNQ1!", "action": "buy", "orderType": "limit", "limitPrice": 21000, "timeInForce": "gtc"}
    )
    assert gtc.tif is TimeInForce.GTC
    assert "day or gtc" in refused({"ticker": "MNQ1!", "action": "buy", "timeInForce": "ioc"}).reason
    assert "limit price" in refused({"ticker": "MNQ1!", "action": "buy", "orderType": "limit"}).reason
    assert "trailing" in refused({"ticker": "MNQ1!", "action": "buy", "stopLoss": {"type": "trailing_stop"}}).reason


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
    assert "pmt-secret" not in repr(alert)


def test_pickmytrades_own_template_is_accepted_and_zero_means_none():
    # pickmytrade.io/pages/alert.html: "tp": "0", "sl": "0" (0 means none), "dollar_tp": "2", a token at two depths
    alert = accepted(pickmytrade("buy"))
    assert (alert.style, alert.action, alert.quantity, alert.stop) == ("pickmytrade", "buy", 1, None)
    assert alert.target == Decimal("21001.00")  # $2 per contract on MNQ ($2 a point) above the price
    assert alert.reading is Reading.ENTRY  # reverse_order_close and duplicate_position_allow "true"
    assert "Ct8tPtD345345t3fty2EtYtCtVtVtUtL" not in json.dumps(alert.raw)
    assert alert.raw["token"] == MASK and alert.raw["multiple_accounts"][0]["token"] == MASK
    risk_sized = accepted(pickmytrade("sell", quantity="0", risk_percentage="2", sl="21010"))
    assert (risk_sized.quantity, risk_sized.stop) == (None, Decimal(21010))
    assert accepted(pickmytrade("sell", reverse_order_close="false")).reading is Reading.NET
    assert accepted(pickmytrade("buy", duplicate_position_allow="false")).reading is Reading.REPLACE
    assert "not supported" in refused(pickmytrade("buy", update_sl="true")).reason
    assert "trailing" in refused(pickmytrade("buy", trail="1")).reason


def test_pickmytrades_rithmic_example_with_its_symbol_brought_current():
    # docs.pickmytrade.io/docs/rithmic-json-configuration-for-tradingview-integration (its NQM5 has expired: NQ1!)
    alert = accepted(
        {"symbol": "NQ1!", "date": "2026-11-23T15:00:00Z", "data": "buy", "quantity": 10, "risk_percentage": 0,
         "price": "21000", "tp": 0, "percentage_tp": 100, "dollar_tp": 0, "sl": 0, "dollar_sl": 0, "percentage_sl": 50,
         "order_type": "MKT", "update_tp": False, "update_sl": False, "token": "URe9daf2bc49008ba62dc3",
         "duplicate_position_allow": True, "platform": "RITHMIC", "reverse_order_close": True,
         "multiple_accounts": [{"token": "URe9daf2bc49008ba62dc3", "account_id": "BG28198",
                                "connection_name": "RITHMIC1", "risk_percentage": 0, "quantity_multiplier": 1}]}
    )  # fmt: skip
    assert (alert.quantity, alert.stop, alert.target, alert.order_type) == (10, None, None, OrderType.MARKET)
    assert "URe9daf2bc49008ba62dc3" not in json.dumps(alert.raw)


def test_crosstrade_text_and_its_secret_never_kept():
    alert = accepted(
        "key=ct-secret; command=PLACE; account=sim101; instrument=NQ 12-26; action=BUY; qty=1; order_type=MARKET; tif=DAY;"
    )
    assert (alert.style, alert.action, alert.quantity, alert.account) == ("crosstrade", "buy", 1, "sim101")
    assert "ct-secret" not in repr(alert)
    assert accepted("command=CLOSEPOSITION; account=sim101; instrument=NQ1!;").action == "exit"
    assert refused("command=REVERSE; instrument=NQ1!;").field == "command"


def test_crosstrade_strategy_sync_and_filters():
    # docs.crosstrade.io/webhooks/advanced-options/strategy-synchronization
    alert = accepted(
        "key=k;command=PLACE;account=sim101;instrument=MNQ1!;action=SELL;qty=2;order_type=MARKET;tif=DAY;"
        "sync_strategy=true;market_position=short;prev_market_position=long;target_quantity=-1;"
    )
    assert alert.position == StrategyPosition("short", 1, "long", None) and alert.reading is Reading.NET
    # crosstrade.io/answers/faq/position-management
    first = accepted(
        "command=PLACE;instrument=MNQ1!;action=BUY;qty=1;flatten_first=true;require_market_position=flat/short;"
    )
    assert first.reading is Reading.REPLACE and first.require_position == {"flat", "short"}
    limit = accepted("command=PLACE;instrument=MNQ1!;action=BUY;qty=1;order_type=LIMIT;limit_price=21000.25;tif=GTC;")
    assert (limit.order_type, limit.limit_price, limit.tif) == (OrderType.LIMIT, Decimal("21000.25"), TimeInForce.GTC)
    assert accepted("command=CANCELORDERS;instrument=MNQ1!;").action == "cancel"


def test_the_default_strategy_message():
    # TradingView article 43000481368: "{{strategy.order.action}} @ {{strategy.order.contracts}} filled on
    # {{ticker}}. New strategy position is {{strategy.position_size}}" (signed)
    alert = accepted("order buy @ 2 filled on MNQ1!. New strategy position is 2")
    assert (alert.style, alert.action, alert.quantity, alert.contract.root) == ("strategy-message", "buy", 2, "MNQ")
    assert alert.position == StrategyPosition("long", 2, "flat", None)
    assert accepted("order sell @ 2 filled on MNQ1!. New strategy position is 0").position == StrategyPosition(
        "flat", None, "long", 2
    )
    assert accepted("order sell @ 1 filled on MNQ1!. New strategy position is -1").position.side == "short"


def test_expired_contracts_are_refused_with_the_date():
    assert "expired on 2025-09-19" in refused({"ticker": "MNQU2025", "action": "buy"}).reason  # TradersPost's example
    assert "expired" in refused({"ticker": "NQH2022", "action": "buy"}).reason
    assert "expired" in refused({"symbol": "NQM5", "data": "buy"}).reason  # PickMyTrade's Rithmic example, June 2025
    # CrossTrade's payload reference example (MNQ 06-25)
    assert (
        "expired"
        in refused(
            "key=your-secret-key;command=PLACE;account=sim101;instrument=MNQ 06-25;action=BUY;qty=1;order_type=MARKET;tif=DAY;"
        ).reason
    )
    assert accepted({"ticker": "MNQZ2026", "action": "buy"}).contract == Contract("MNQ", 2026, 12)


def test_secrets_are_masked_at_any_depth_and_in_text():
    data = {"a": {"b": [{"Token": "t1", "api_key": "k1"}, {"password": "p"}]}, "secret": "s", "keep": "v"}
    assert scrub(data) == {
        "a": {"b": [{"Token": MASK, "api_key": MASK}, {"password": MASK}]},
        "secret": MASK,
        "keep": "v",
    }
    assert scrub({"passcode": "x"}, frozenset({"passcode"})) == {"passcode": MASK}
    assert "ct-secret" not in scrub_text("key=ct-secret; command=PLACE;")
    assert "t0k" not in scrub_text('{"token":\n"t0k", "x": 1}')


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("", "empty"),
        ("{not json", "invalid JSON"),
        ('{"ticker": "NQ1!", "action": "buy", "price": NaN}', "NaN"),
        ("[1, 2]", "unrecognised"),
        ({"ticker": "NQ1!"}, "ticker + action"),
        ({"ticker": "NQ1!", "action": "hold"}, "not buy, sell, exit, add or cancel"),
        ({"ticker": "NQ1!", "action": "breakeven"}, "not supported"),
        ({"ticker": "NQ1!", "action": "buy", "sentiment": "sideways"}, "not long, short or flat"),
        ({"ticker": "NQ1!", "action": "buy", "quantity": True}, "not a number"),
        ({"ticker": "NQ1!", "action": "buy", "orderType": "iceberg"}, "not market, limit"),
        ({"ticker": "ZZ1!", "action": "buy"}, "ZZ1!"),
        ({"ticker": "{{ticker}}", "action": "buy"}, "{{ticker}}"),
        ({"ticker": "NQ1!", "action": "buy", "price": "21000.1"}, "tick"),
        ({"ticker": "NQ1!", "action": "buy", "price": -5}, "positive"),
        ({"ticker": "NQ1!", "action": "buy", "price": 21000, "stopLoss": {"stopPrice": 21010}}, "wrong side"),
        ({"ticker": "NQ1!", "action": "buy", "stopLoss": {"amount": 10}}, "no price"),
        ({"ticker": "NQ1!", "action": "buy", "quantity": 1.5}, "whole number"),
        ({"ticker": "NQ1!", "action": "buy", "time": "yesterday"}, "ISO 8601"),
        (b"\xff\xfe", "UTF-8"),
        ("just some words", "unrecognised"),
    ],
)
def test_bad_bodies_are_refused_with_the_reason(body, words):
    assert words in refused(body).reason


def test_equal_alerts_share_their_content_and_differ_otherwise():
    a = accepted({"ticker": "NQ1!", "action": "buy", "time": "2026-11-23T15:00:00Z"})
    b = accepted({"ticker": "NQ1!", "action": "buy", "time": "2026-11-23T15:00:05Z"})
    c = accepted({"ticker": "NQ1!", "action": "sell", "time": "2026-11-23T15:00:00Z"})
    assert a.content_hash() == b.content_hash() != c.content_hash()


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
