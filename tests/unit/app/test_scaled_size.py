"""The analyst's ``reduce`` and the account's multiplier on the sizer's answer (app/pipeline.py ``_scaled``)."""

from __future__ import annotations

from decimal import Decimal

from enigma_apex.analysis.answer import NOT_ANALYSED, Analysis
from enigma_apex.app.pipeline import _scaled
from enigma_apex.domain.symbols import Contract
from enigma_apex.sizing.sizer import SizeResult

MNQ = Contract("MNQ", 2026, 12)
REDUCE = Analysis("scorer", 40, "reduce", Decimal("0.45"))


def sized(quantity: int) -> SizeResult:
    return SizeResult(MNQ, quantity, "OK", "base_risk", {})


def test_reduce_makes_a_trade_smaller_never_none():
    assert _scaled(sized(1), MNQ, None, Decimal(1), REDUCE, Decimal("0.5")).quantity == 1
    assert _scaled(sized(5), MNQ, None, Decimal(1), REDUCE, Decimal("0.5")).quantity == 2
    assert _scaled(sized(0), MNQ, None, Decimal(1), REDUCE, Decimal("0.5")).quantity == 0  # nothing stays nothing
    assert _scaled(sized(4), MNQ, None, Decimal(1), NOT_ANALYSED, Decimal("0.5")).quantity == 4


def test_a_multiplier_below_one_may_still_round_to_zero_and_says_so():
    result = _scaled(sized(1), MNQ, None, Decimal("0.5"), NOT_ANALYSED, Decimal("0.5"))
    assert (result.quantity, result.code) == (0, "MULTIPLIER")
    assert result.breakdown["reason"] == "the account's multiplier rounds the size to zero"
