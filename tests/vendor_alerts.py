"""The alert messages TradersPost, TradingView, CrossTrade and PickMyTrade document for their users, each with the
position an account must end in: "from position X, alert Y → position Z" (MNQ, one account, multiplier 1).

Where a vendor's example names a stock (TradersPost writes AAPL/TSLA) or a contract that has expired by the tests'
date (CrossTrade's ``MNQ 06-25``, PickMyTrade's ``NQM5``), the row uses the current MNQ contract and says so; the
expired originals are refused in tests/unit/intake/test_tradingview.py. Used by the planner's unit tests and by the
executor tests (paper broker, ATI files, Tradovate) over the real webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Sources (read with the project's search tools; the page beside each row)
TP_PARTIAL = "traderspost.io/reference/strategy-message/exit-partial-position"
TP_SENTIMENT = "traderspost.io/reference/strategy-message/no-entry-sentiment"
TP_CLOSE = "traderspost.io/reference/strategy-message/close-open-position"
TP_ADD = "traderspost.io/reference/strategy-message/add-to-position and strategy-field/allow-add-to-position"
TP_BEHAVIOUR = "docs.traderspost.io/docs/learn/platform-concepts/order-behavior"
TV_STRATEGY = "tradingview.com/support/solutions/43000481368 (strategy alerts, default message and placeholders)"
CT_REFERENCE = "crosstrade.io/answers/faq/payload-reference"
CT_SYNC = "docs.crosstrade.io/webhooks/advanced-options/strategy-synchronization"
CT_POSITION = "crosstrade.io/answers/faq/position-management (flatten_first, require_market_position)"
PMT_TEMPLATE = "pickmytrade.io/pages/alert.html (its alert template)"
PMT_REVERSE = (
    "docs.pickmytrade.trade/docs/setting-up-automated-trading-for-tradingview-indicators (1.1, reverse/pyramid)"
)


def pickmytrade(data: str, **changes: Any) -> dict[str, Any]:
    """PickMyTrade's own alert template (all values as strings, as it publishes them), TradingView's
    placeholders filled (``{{ticker}}`` → MNQ1!, ``{{close}}`` → 21000)."""
    template = {
        "symbol": "MNQ1!",
        "date": "2026-12-01T14:59:59Z",
        "data": data,
        "quantity": "1",
        "risk_percentage": "0",
        "price": "21000",
        "tp": "0",
        "percentage_tp": "0",
        "dollar_tp": "2",
        "sl": "0",
        "dollar_sl": "0",
        "percentage_sl": "0",
        "trail": "0",
        "trail_stop": "0",
        "trail_trigger": "0",
        "trail_freq": "0",
        "update_tp": "false",
        "update_sl": "false",
        "token": "Ct8tPtD345345t3fty2EtYtCtVtVtUtL",
        "duplicate_position_allow": "true",
        "reverse_order_close": "true",
        "multiple_accounts": [
            {
                "token": "Ct8tPtD345345t3fty2EtYtCtVtVtUtL",
                "account_id": "2",
                "risk_percentage": 2,
                "quantity_multiplier": 0,
            }
        ],
    }
    return {**template, **changes}


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    start: int  # signed MNQ position before the alert
    body: Any  # dict (sent as JSON) or text
    end: int  # signed MNQ position the account must end in

    def __str__(self) -> str:
        return self.name


CT = "key=ct-Secret-123;command=PLACE;account=A1;instrument=MNQ 12-26;order_type=MARKET;tif=DAY;"

CASES = [
    # ---------------------------------------------------------------- TradersPost JSON
    Case("tp-partial-exit", TP_PARTIAL, 2, {"ticker": "MNQ1!", "action": "sell", "quantity": 1}, 1),
    Case("tp-sentiment-long-partial", TP_SENTIMENT, 2,
         {"ticker": "MNQ1!", "action": "sell", "sentiment": "long", "quantity": "1"}, 1),
    Case("tp-sell-flat", TP_SENTIMENT, 1, {"ticker": "MNQ1!", "action": "sell", "sentiment": "flat"}, 0),
    Case("tp-buy-flat-only-closes-a-short", TP_CLOSE, 1, {"ticker": "MNQ1!", "action": "buy", "sentiment": "flat"}, 1),
    Case("tp-buy-flat-closes-the-short", TP_CLOSE, -2, {"ticker": "MNQ1!", "action": "buy", "sentiment": "flat"}, 0),
    Case("tp-strategy-reversal", TP_CLOSE + "; " + TV_STRATEGY, 1,
         {"ticker": "MNQ1!", "action": "sell", "sentiment": "short", "quantity": "2"}, -1),
    Case("tp-bullish-reversal", TP_SENTIMENT, -1,
         {"ticker": "MNQ1!", "action": "buy", "sentiment": "bullish", "quantity": "2"}, 1),
    Case("tp-exit", TP_CLOSE, -3, {"ticker": "MNQ1!", "action": "exit"}, 0),
    Case("tp-add", TP_ADD, 1, {"ticker": "MNQ1!", "action": "add", "quantity": 1}, 2),
    Case("tp-add-needs-a-position", TP_ADD, 0, {"ticker": "MNQ1!", "action": "add", "quantity": 1}, 0),
    Case("tp-buy-while-long-is-refused", TP_ADD, 1, {"ticker": "MNQ1!", "action": "buy", "quantity": 1}, 1),
    Case("tp-sell-exits-then-shorts", TP_BEHAVIOUR, 1, {"ticker": "MNQ1!", "action": "sell", "quantity": 1}, -1),
    Case("tp-buy-from-flat", TP_BEHAVIOUR, 0, {"ticker": "MNQ1!", "action": "buy", "quantity": 2}, 2),
    # ---------------------------------------------------------------- TradingView's default strategy message
    Case("tv-partial-exit", TV_STRATEGY, 2, "order sell @ 1 filled on MNQ1!. New strategy position is 1", 1),
    Case("tv-reversal", TV_STRATEGY, 1, "order sell @ 2 filled on MNQ1!. New strategy position is -1", -1),
    Case("tv-exit-short", TV_STRATEGY, -1, "order buy @ 1 filled on MNQ1!. New strategy position is 0", 0),
    Case("tv-add", TV_STRATEGY, 1, "order buy @ 1 filled on MNQ1!. New strategy position is 2", 2),
    Case("tv-entry", TV_STRATEGY, 0, "order buy @ 2 filled on MNQ1!. New strategy position is 2", 2),
    # ---------------------------------------------------------------- CrossTrade key=value;
    Case("ct-sync-exit", CT_SYNC, 1, CT + "action=SELL;qty=1;market_position=flat;prev_market_position=long;", 0),
    Case("ct-sync-exit-resyncs", CT_SYNC, 2, CT + "action=SELL;qty=1;market_position=flat;prev_market_position=long;", 0),
    Case("ct-sync-reversal", CT_SYNC, 1,
         CT + "action=SELL;qty=2;market_position=short;prev_market_position=long;target_quantity=-1;sync_strategy=true;",
         -1),
    Case("ct-sync-partial", CT_SYNC, 2, CT + "action=SELL;qty=1;market_position=long;prev_market_position=long;", 1),
    Case("ct-place-nets", CT_REFERENCE, -1, CT + "action=BUY;qty=1;", 0),
    Case("ct-flatten-first", CT_POSITION, -1, CT + "action=BUY;qty=2;flatten_first=true;", 2),
    Case("ct-require-flat-blocks", CT_POSITION, 1, CT + "action=BUY;qty=1;require_market_position=flat;", 1),
    Case("ct-closeposition", CT_REFERENCE, 3, "key=ct-Secret-123;command=CLOSEPOSITION;account=A1;instrument=MNQ 12-26;", 0),
    # ---------------------------------------------------------------- PickMyTrade JSON
    Case("pmt-buy", PMT_TEMPLATE, 0, pickmytrade("buy"), 1),
    Case("pmt-sell-reverses", PMT_TEMPLATE + "; " + PMT_REVERSE, 1, pickmytrade("sell"), -1),
    Case("pmt-close", PMT_TEMPLATE, 2, pickmytrade("close"), 0),
    Case("pmt-no-reverse-close-nets", PMT_REVERSE, 2, pickmytrade("sell", reverse_order_close="false"), 1),
    Case("pmt-no-pyramid-replaces", PMT_REVERSE, 2, pickmytrade("buy", duplicate_position_allow="false"), 1),
    Case("pmt-pyramid-adds", PMT_REVERSE, 1, pickmytrade("buy"), 2),
]  # fmt: skip
