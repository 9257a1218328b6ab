from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enigma_apex.protocol import roles
from enigma_apex.protocol.codec import MAX_FRAME_BYTES, ErrorCode, ProtocolError, decode, encode, json_schemas
from enigma_apex.protocol.messages import TYPES, AccountUpdate, Bracket, Message, OrderPlace
from enigma_apex.protocol.validate import check

TS = "2026-11-23T10:00:00-05:00"
PLACE = {
    "v": 1,
    "type": "order.place",
    "id": "m1",
    "ts": TS,
    "seq": 3,
    "key": "sig1:A1",
    "account": "A1",
    "symbol": "MNQ 12-26",
    "side": "buy",
    "quantity": 2,
    "bracket": {"stop": "20990.25", "target": 21020},
}


def frame(**changes):
    data = {**PLACE, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not None})


def test_a_valid_order_decodes_with_exact_decimals():
    message = decode(frame())
    assert isinstance(message, OrderPlace)
    assert message.bracket == Bracket(stop=Decimal("20990.25"), target=Decimal(21020))
    assert message.ts.utcoffset() is not None


@pytest.mark.parametrize(
    ("text", "code", "path"),
    [
        ("{", ErrorCode.BAD_JSON, None),
        ("[1, 2]", ErrorCode.NOT_AN_OBJECT, None),
        (json.dumps({"v": 2, "type": "ping", "id": "x", "ts": TS}), ErrorCode.UNSUPPORTED_VERSION, "$.v"),
        (json.dumps({"v": 1, "type": "teleport", "id": "x", "ts": TS}), ErrorCode.UNKNOWN_TYPE, "$.type"),
        (frame(colour="red"), ErrorCode.INVALID, "$.colour"),
        (frame(quantity="two"), ErrorCode.INVALID, "$.quantity"),
        (frame(quantity=0), ErrorCode.INVALID, "$.quantity"),
        (frame(ts="2026-11-23T10:00:00"), ErrorCode.INVALID, "$.ts"),
        (frame(key=None), ErrorCode.INVALID, "$.key"),
        (frame(side="up"), ErrorCode.INVALID, "$.side"),
        (frame(bracket={"stop": "-5"}), ErrorCode.INVALID, "$.bracket.stop"),
        (frame(bracket={"stop": "Infinity"}), ErrorCode.INVALID, "$.bracket.stop"),
        ('{"v": 1, "type": "ping", "id": "p", "ts": "' + TS + '", "x": NaN}', ErrorCode.BAD_JSON, None),
        # strict types, exactly as the schemas say: no bool for a number, no Unix number for a time
        (frame(quantity=True), ErrorCode.INVALID, "$.quantity"),
        (frame(quantity=1.0), ErrorCode.INVALID, "$.quantity"),
        (frame(ts=1764600000), ErrorCode.INVALID, "$.ts"),
        (frame(seq=True), ErrorCode.INVALID, "$.seq"),
        (frame(v=True), ErrorCode.UNSUPPORTED_VERSION, "$.v"),
        (json.dumps({"v": 1, "type": "resume", "id": "r", "ts": TS, "account": 7}), ErrorCode.INVALID, "$.account"),
        # text that cannot be encoded (a lone surrogate) is refused with its path, whatever the field
        ('{"v": 1, "type": "ping", "id": "\\ud800x", "ts": "' + TS + '"}', ErrorCode.INVALID, "$.id"),
        (json.dumps({"v": 1, "type": "halt", "id": "h", "ts": TS, "reason": "a\ud800"}), ErrorCode.INVALID, "$.reason"),
    ],
)
def test_bad_frames_become_errors_with_a_code_and_path(text, code, path):
    result = decode(text)
    assert isinstance(result, ProtocolError)
    assert (result.code, result.path) == (code, path)


def test_oversize_frames_are_refused_before_parsing():
    big = frame(key="k" * 10) + " " * MAX_FRAME_BYTES
    assert decode(big).code == ErrorCode.TOO_LARGE


def test_errors_refer_to_the_offending_message():
    assert decode(frame(quantity=0)).ref == "m1"


def test_an_id_that_cannot_be_encoded_is_not_echoed():
    """The error for a lone surrogate in ``id`` carries no ``ref`` (it could not be sent back) and encodes."""
    error = decode('{"v": 1, "type": "ping", "id": "\\udc00", "ts": "' + TS + '"}')
    assert isinstance(error, ProtocolError) and error.ref is None
    json.loads(json.dumps({"path": error.path, "message": error.message}, ensure_ascii=False).encode())


def test_encode_decode_round_trip():
    message = AccountUpdate(
        id="u1",
        ts=datetime(2026, 11, 23, 15, tzinfo=UTC),
        account="A1",
        balance=Decimal("50123.45"),
        open_pnl=Decimal("-12.50"),
    )
    again = decode(encode(message))
    assert again == message


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200),
        JSONISH.map(json.dumps),
        st.fixed_dictionaries(
            {"v": st.just(1), "type": st.sampled_from(sorted(TYPES)), "id": st.text(max_size=70), "ts": st.just(TS)},
            optional={"seq": JSONISH, "account": JSONISH, "quantity": JSONISH, "price": JSONISH, "token": JSONISH},
        ).map(json.dumps),
    )
)
def test_decode_never_raises(text):
    result = decode(text)
    assert isinstance(result, Message | ProtocolError)


def test_roles_table():
    assert roles.may_send("executor", "fill") and not roles.may_send("executor", "signal")
    assert roles.may_send("signal", "signal") and not roles.may_send("signal", "emergency.stop")
    assert roles.may_send("mobile", "emergency.stop") and roles.may_send("dashboard", "approve")
    assert not roles.may_send("observer", "halt")
    assert not roles.may_send("nobody", "ping")
    for role, allowed in roles.MAY_SEND.items():
        assert allowed <= set(TYPES), role


def test_semantic_checks_accounts_symbols_and_ticks():
    today = date(2026, 11, 23)
    ok = decode(frame())
    assert check(ok, {"A1"}, today) is None
    assert check(ok, {"B"}, today).code == ErrorCode.UNKNOWN_ACCOUNT
    assert check(decode(frame(symbol="XYZ 12-26")), {"A1"}, today).code == ErrorCode.UNKNOWN_SYMBOL
    off_tick = check(decode(frame(bracket={"stop": "20990.10"})), {"A1"}, today)
    assert (off_tick.code, off_tick.path) == (ErrorCode.BAD_PRICE, "$.bracket.stop")


def test_checked_in_schemas_match_the_models():
    folder = Path(__file__).parents[3] / "docs" / "schema"
    schemas = json_schemas()
    assert sorted(p.stem for p in folder.glob("*.json")) == sorted(schemas)
    for name, schema in schemas.items():
        assert json.loads((folder / f"{name}.json").read_text()) == json.loads(json.dumps(schema)), name
