"""The dashboard's words, the trade journal and the ruin price (pure code)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from enigma_apex.app.market import MarketBook
from enigma_apex.dashboard import words as w
from enigma_apex.domain.journal import JournalFill, build_trades, daily, summarise, with_excursion
from enigma_apex.rules.ruin import ruin_price

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 New York
D = Decimal


def test_codes_read_as_sentences_and_money_and_times_as_a_trader_reads_them():
    assert w.reason_sentence("TOO_SMALL: risk allowed $40 < $50 a contract")[0].startswith(
        "The risk allowed is smaller than one contract's risk to its stop. Risk allowed"
    )
    assert w.reason_sentence("base_risk size 1 MNQ 12-26 (OK)") == ("Base-risk size 1 MNQ 12-26", "OK")
    refused = {
        "action": "refused",
        "reason": "GATE_CLOSED: x",
        "verdicts": [
            {"code": "HEDGING", "reason": "short MNQ in B while long here"},
            {"code": "TRADING_HALTED", "reason": ""},
        ],
    }
    assert w.why(refused) == "Short MNQ in B while long here. The account is halted."
    assert (w.money("-80"), w.money("12", sign=True), w.money(None)) == ("-$80.00", "+$12.00", "–")
    assert w.when("2026-12-01T15:00:00.123456+00:00", w.zone("America/New_York")) == "10:00:00 EST"
    accounts = [
        {"state": "ACTIVE", "drawdown_used_pct": "90"},
        {"state": "HALTED", "drawdown_used_pct": "0"},
        {"state": "ACTIVE", "drawdown_used_pct": "10"},
    ]
    assert [a["drawdown_used_pct"] for a in sorted(accounts, key=w.danger)] == ["0", "90", "10"]
    assert w.position_text({"MNQ 12-26": -2}) == "short 2 MNQ 12-26"


def test_command_line_times_are_in_the_users_zone_with_the_date_and_sizes_read_as_units():
    assert w.stamp(T0, w.zone("America/New_York")) == "2026-12-01 10:00:00 EST"
    assert w.stamp("2026-12-01T15:00:00", w.zone("Europe/Berlin")) == "2026-12-01 16:00:00 CET"  # naive is UTC
    assert w.stamp("2026-07-01T15:00:00+00:00", w.zone("America/Chicago")) == "2026-07-01 10:00:00 CDT"
    assert w.stamp(None, w.zone(None)) == w.stamp("not a time", w.zone(None)) == "–"
    assert [w.data_size(n) for n in (0, 1023, 1024, 49_357, 3_250_000, 1_288_490_189)] == [
        "0 B", "1023 B", "1.0 KB", "48.2 KB", "3.1 MB", "1.20 GB"
    ]  # fmt: skip


def test_fills_become_trades_with_pnl_r_and_a_reversal_closes_then_opens():
    pv = {"MNQ 12-26": D(2)}.__getitem__  # $2 a point
    fills = [
        JournalFill("A", "MNQ 12-26", "buy", 2, D("21000"), D("1.00"), T0, stop=D("20990"), source="manual"),
        JournalFill("A", "MNQ 12-26", "sell", 1, D("21010"), D("0.50"), T0 + timedelta(minutes=1)),
        JournalFill("A", "MNQ 12-26", "sell", 3, D("21020"), D("1.50"), T0 + timedelta(minutes=2)),  # reverses
        JournalFill("A", "MNQ 12-26", "buy", 2, D("21030"), D("1.00"), T0 + timedelta(minutes=3)),
    ]
    first, second = build_trades(fills, pv)
    assert (first.direction, first.quantity, first.entry, first.exit) == ("long", 2, D("21000"), D("21015"))
    assert first.gross == D(60) and first.commission == D("2.00") and first.net == D(58)
    assert first.r == D("1.45")  # 58 / (10 points x 2 contracts x $2)
    assert (second.direction, second.quantity, second.entry, second.net) == ("short", 2, D("21020"), D(-42))
    assert second.r is None  # no stop known for it
    assert summarise([first, second]).expectancy == D(8)
    assert daily([first, second]) == {date(2026, 12, 1): D(16)}
    with_excursion(first, D("20995"), D("21025"))
    assert (first.mae, first.mfe) == (D(-20), D(100))


def test_the_ruin_price_is_where_the_room_runs_out_rounded_a_tick_early():
    assert ruin_price(D("21000"), 2, D(2), D("0.25"), D(1000)) == D("20750")
    assert ruin_price(D("21000"), 3, D(2), D("0.25"), D(1000)) == D("20833.50")  # 20833.33 -> the tick above
    assert ruin_price(D("21000"), -3, D(2), D("0.25"), D(1000)) == D("21166.50")
    assert ruin_price(D("21000"), 1, D(2), D("0.25"), D(-5)) == D("21000")  # no room left: at the mark
    assert ruin_price(D("21000"), 0, D(2), D("0.25"), D(1000)) is None


def test_the_market_book_builds_minute_bars_unless_the_executor_sends_its_own():
    book = MarketBook(keep=3)
    for second, price in ((0, "10"), (20, "12"), (40, "9"), (70, "11")):
        book.update("MNQ 12-26", T0 + timedelta(seconds=second), D(price), None, None)
    first, second = book.bars["MNQ 12-26"]
    assert (first.open, first.high, first.low, first.close) == (D(10), D(12), D(9), D(9))
    assert second.open == D(11) and book.last("MNQ 12-26") == D(11)
    assert book.excursion("MNQ 12-26", T0, T0 + timedelta(seconds=70)) == (D(9), D(12))
