from datetime import date
from decimal import Decimal

import pytest

from enigma_apex.domain.orders import Bracket, OrderStatus, OrderType, Side
from enigma_apex.domain.symbols import parse_symbol
from enigma_apex.execution import tradovate as tv
from enigma_apex.execution.events import OrderRequest

MNQ = parse_symbol("MNQ 12-26", on=date(2026, 11, 23))


def test_order_bodies_are_automated_and_use_tradovate_symbols():
    request = OrderRequest("k1", "A1", MNQ, Side.SELL, 2, OrderType.LIMIT, limit_price=Decimal("21010.25"))
    body = tv.order_body("trader", 101, request)
    assert body == {
        "accountSpec": "trader", "accountId": 101, "clOrdId": "k1", "action": "Sell", "symbol": "MNQZ6",
        "orderQty": 2, "orderType": "Limit", "timeInForce": "Day", "isAutomated": True, "price": 21010.25,
    }  # fmt: skip


def test_an_oso_carries_the_stop_and_the_target_as_opposite_brackets():
    bracket = Bracket(stop=Decimal("20990"), target=Decimal("21020"))
    body = tv.oso_body("trader", 101, OrderRequest("k", "A1", MNQ, Side.BUY, 1, bracket=bracket))
    assert body["bracket1"] == {"action": "Sell", "orderType": "Stop", "stopPrice": 20990.0}
    assert body["bracket2"] == {"action": "Sell", "orderType": "Limit", "price": 21020.0}
    only_target = tv.oso_body("t", 1, OrderRequest("k", "A1", MNQ, Side.SELL, 1, bracket=Bracket(target=Decimal(1))))
    assert only_target["bracket1"]["orderType"] == "Limit" and "bracket2" not in only_target


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"orderId": 5}, None),
        ({"failureReason": "Success", "orderId": 5}, None),
        ({"failureReason": "TradingLocked"}, "trading is locked on this account (risk settings or a daily loss limit)"),
        ({"failureReason": "MaxPosLimitReached", "failureText": "limit 5"}, "the position would exceed the account's position limit (limit 5)"),
        ({"failureReason": "SomethingNew"}, "SomethingNew"),
        ({"errorText": "Access is denied"}, "Access is denied"),
        ({"ok": False}, "request refused"),
    ],
)  # fmt: skip
def test_failure_reasons_become_sentences(body, expected):
    assert tv.failure(body) == expected


def test_frames_round_trip_and_bad_frames_are_refused():
    assert tv.request_frame("authorize", 0, "tok") == "authorize\n0\n\ntok"
    assert tv.request_frame("user/syncrequest", 1, {"users": [7]}) == 'user/syncrequest\n1\n\n{"users": [7]}'
    frame = tv.parse_frame('a[{"i":0,"s":200},{"e":"props","d":{}}]')
    assert frame.kind == "a" and frame.items[0] == {"i": 0, "s": 200}
    assert tv.parse_frame("o").kind == "o" and tv.parse_frame("h").items == []
    with pytest.raises(ValueError, match="unknown frame"):
        tv.parse_frame("x")
    with pytest.raises(ValueError, match="JSON array"):
        tv.parse_frame('a{"i":0}')


def test_order_states_and_prices():
    assert tv.status_of("Working") is OrderStatus.WORKING and tv.status_of("Canceled") is OrderStatus.CANCELLED
    assert tv.status_of("PendingNew") is OrderStatus.ACCEPTED and tv.status_of("Whatever") is None
    assert tv.decimal_of(21000.25) == Decimal("21000.25") and tv.decimal_of(1.1) == Decimal("1.1")
