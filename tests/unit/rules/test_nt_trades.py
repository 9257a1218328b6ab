"""NinjaTrader 8 "Trades" exports as traders really save them.

The fixtures follow the layout of real exports found in public repositories (../shared/research/sources_round2.md,
"NinjaTrader 8 Trades performance export"): the header ``Trade number,…,Bars,`` with its trailing comma, a UTF-8
byte-order mark, money as ``$595.50``, ``($204.50)``, ``-$18.98`` and ``90.00 $``, ``Profit`` net of commission
with ``Cum. net profit`` its running sum (the public NQ example: -0.75 point = -$15 gross, ``Profit -$18.98``,
``Commission $3.98``), and dates in the PC's locale: ``11/23/2026 9:35:00 AM`` (US), ``16/06/2026 09:45:59``,
``13-04-2026 00:27:56`` and ``23.11.2026 09:31:05`` (Europe)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from enigma_apex.rules import nt_trades as nt
from enigma_apex.rules import replay as rp
from tests.unit.rules.helpers import tracker

HEADER = (
    "Trade number,Instrument,Account,Strategy,Market pos.,Qty,Entry price,Exit price,Entry time,Exit time,"
    "Entry name,Exit name,Profit,Cum. net profit,Commission,Clearing Fee,Exchange Fee,IP Fee,NFA Fee,MAE,MFE,ETD,"
    "Bars,"
)

# A US machine: five trading days, net 3,004.58 over TPT's 3,000 target (gross minus $4.50 round trips ).
US_EXPORT = "\ufeff" + "\n".join(
    [
        HEADER,
        "1,NQ 12-26,TPT-50K-1,,Long,1,21000,21030,11/23/2026 9:35:00 AM,11/23/2026 9:50:00 AM,Entry,Exit,"
        "$595.50,$595.50,$4.50,$0.00,$0.00,$0.00,$0.00,$100.00,$700.00,$104.50,3,",
        "2,NQ 12-26,TPT-50K-1,,Short,1,21100,21110,11/24/2026 10:00:00 AM,11/24/2026 10:20:00 AM,Entry,Exit,"
        "($204.50),$391.00,$4.50,$0.00,$0.00,$0.00,$0.00,$250.00,$60.00,$264.50,4,",
        "3,NQ 12-26,TPT-50K-1,,Long,1,21000,21045,11/25/2026 10:00:00 AM,11/25/2026 11:00:00 AM,Entry,Exit,"
        '$895.50,"$1,286.50",$4.50,$0.00,$0.00,$0.00,$0.00,$80.00,$950.00,$54.50,9,',
        "4,NQ 12-26,TPT-50K-1,,Long,1,21050,21090,11/30/2026 10:00:00 AM,11/30/2026 10:40:00 AM,Entry,Exit,"
        '$795.50,"$2,082.00",$4.50,$0.00,$0.00,$0.00,$0.00,$120.00,$820.00,$24.50,6,',
        "5,NQ 12-26,TPT-50K-1,,Long,1,21100,21146.35,12/1/2026 2:00:00 PM,12/1/2026 2:45:00 PM,Entry,Exit,"
        '$922.58,"$3,004.58",$4.50,$0.00,$0.00,$0.00,$0.00,$90.00,$960.00,$37.42,8,',
        "",
    ]
)

# A European machine: day-first dates, 24-hour times, minus-sign money; every day is 12 or less (2-6 March 2026).
EU_EXPORT = "\n".join(
    [
        HEADER,
        "1,NQ MAR26,Sim101,,Long,1,30815.5,30814.75,02/03/2026 09:45:59,02/03/2026 09:46:00,STF_Long,Stop loss,"
        "-$18.98,-$18.98,$3.98,$0,$0,$0,$0,$15.00,$0.00,$18.98,1,",
        "2,NQ MAR26,Sim101,,Long,1,30800,30830,03/03/2026 10:00:13,03/03/2026 10:20:40,STF_Long,Target,"
        "$596.02,$577.04,$3.98,$0,$0,$0,$0,$40.00,$620.00,$23.98,8,",
        "3,NQ MAR26,Sim101,,Short,1,30900,30880,06/03/2026 11:00:00,06/03/2026 11:30:00,STF_Short,Target,"
        "$396.02,$973.06,$3.98,$0,$0,$0,$0,$30.00,$410.00,$13.98,5,",
        "",
    ]
)


def replay(text: str, profile: str, start: str, date_format: str | None = None):
    t = tracker(profile)
    events, errors = nt.parse(text, Decimal(start), date_format=date_format)
    assert errors == []
    rp.replay(t, events)
    rp.finish(t)
    return t, events


def test_profit_is_net_of_commission_so_a_net_of_3004_58_passes_a_3000_target():
    t, _events = replay(US_EXPORT, "tpt-test-50k", "50000")
    assert t.s.balance == Decimal("53004.58")  # the Profit column summed: NinjaTrader's Cum. net profit
    verdict = rp.verdict(t)
    assert verdict["result"] == "passed", verdict
    assert verdict["trading_days"] == 5  # the last day closes too (it printed 4)


def test_the_last_session_is_closed_and_counts():
    t, events = replay(US_EXPORT, "tpt-test-50k", "50000")
    days = sorted({t.calendar.session_of(e.ts) for e in events})
    assert days[-1] == date(2026, 12, 1) and t.s.trading_days == len(days) == 5


def test_day_first_dates_are_read_from_the_file_when_a_day_is_above_12():
    text = EU_EXPORT.replace("06/03/2026", "16/03/2026")
    events, errors = nt.parse(text, Decimal(50000))
    assert errors == [] and [e.ts.date() for e in events][-1] == date(2026, 3, 16)
    assert nt.date_order(["16/06/2026 09:45:59"]) == "dmy"
    assert nt.date_order(["11/23/2026 9:35:00 AM"]) == "mdy"
    assert nt.date_order(["23.11.2026 09:31:05"]) == "dmy"  # dotted dates are day-first
    assert nt.date_order(["13-04-2026 00:27:56"]) == "dmy"


def test_an_ambiguous_file_is_refused_naming_the_option_and_read_with_it():
    events, errors = nt.parse(EU_EXPORT, Decimal(50000))
    assert events == [] and "--date-format dmy" in errors[0]
    t, events = replay(EU_EXPORT, "tpt-test-50k", "50000", date_format="dmy")
    assert sorted({e.ts.date() for e in events}) == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 6)]
    assert t.s.balance == Decimal("50973.06")  # the export's Cum. net profit, to the cent
    with pytest.raises(ValueError, match="mix"):
        nt.date_order(["13/02/2026 10:00:00", "02/13/2026 10:00:00"])


def test_european_money_and_separators():
    text = (
        HEADER + "\n"
        "1,NQ JUN26,PA-APEX-1,,Short,1,23960.00,23955.50,13-04-2026 10:27:56,13-04-2026 10:30:54,Entry,Target1,"
        "90.00 $,90.00 $,0.00 $,0.00 $,0.00 $,0.00 $,0.00 $,160.00 $,105.00 $,15.00 $,0,\n"
    )
    events, errors = nt.parse(text, Decimal(50000))
    assert errors == []
    assert events[-1].get("balance") == Decimal(50090) and events[-1].ts.date() == date(2026, 4, 13)


def test_a_bad_line_is_named_and_nothing_is_replayed():
    events, errors = nt.parse(US_EXPORT.replace("$895.50", "eight hundred"), Decimal(50000))
    assert events == [] and errors[0].startswith("line 4:")
