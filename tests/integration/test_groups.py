"""Account groups: per-group modes, per-account symbol maps (MNQ on evaluations, NQ on a large PA) and
multipliers, each only ever lowering what the sizer and the gate allow."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.orders import Side
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.domain.symbols import Contract
from tests.integration.gatewaykit import run, running_hub

TUESDAY_10_ET = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
NQ = Contract("NQ", 2026, 12)
ENTRY, STOP = Decimal("21000.00"), Decimal("20990.00")

ACCOUNTS = [
    {"name": "EVAL1", "profile": "apex4-intraday-eval-50k", "group": "nq", "symbols": {"NQ": "MNQ"}},
    {"name": "PA1", "profile": "apex4-intraday-pa-150k", "group": "nq"},
    {"name": "PA2", "profile": "apex4-intraday-pa-150k", "group": "nq", "multiplier": "0.5"},
    {"name": "COPY", "profile": "apex4-intraday-pa-150k", "group": "copy", "multiplier": 2},
    {"name": "WATCH", "profile": "apex4-intraday-pa-150k", "group": "watch"},
]
GROUPS = {"nq": {"mode": "auto"}, "copy": {"mode": "auto"}, "watch": {"mode": "alert"}}


def nq_signal(clock, group: str, n: int = 1, **more) -> Signal:
    return Signal(f"S{n}", SignalSource.MANUAL, NQ, Direction.LONG, clock.now(), ENTRY, STOP, group=group, **more)


def scenario_run(tmp_path, body):
    clock = ManualClock(TUESDAY_10_ET)

    async def scenario():
        extra = {"groups": GROUPS, "ai": {"take_score": 0, "skip_score": 0}, "sizing": {"base_risk_pct": 20}}
        hub = running_hub(tmp_path, clock, ACCOUNTS, {"default_mode": "confirm"}, extra, present=("paper",))
        async with hub as (*_, g, _s, _gd):
            return await body(g.pipeline, clock)

    return run(scenario())


def test_a_group_trades_each_accounts_mapped_contract_and_scaled_size(tmp_path):
    async def body(pipeline, clock):
        full_pa, _ = pipeline.risk.size("PA1", NQ, Side.BUY, ENTRY, STOP)
        outcome = await pipeline.submit(nq_signal(clock, "nq"))
        return full_pa.quantity, {d.account: d for d in outcome.decisions}

    full, decided = scenario_run(tmp_path, body)
    assert set(decided) == {"EVAL1", "PA1", "PA2"}  # only the signal's group
    assert all(d.action == "take" for d in decided.values())
    assert decided["EVAL1"].symbol.startswith("MNQ")  # mapped: micros on the evaluation
    assert decided["PA1"].symbol.startswith("NQ") and decided["PA1"].quantity == full >= 2
    assert decided["PA2"].quantity == full // 2  # multiplier 0.5


def test_the_sources_quantity_times_the_multiplier_caps_the_size(tmp_path):
    async def body(pipeline, clock):
        outcome = await pipeline.submit(nq_signal(clock, "copy", max_quantity=1))
        return outcome.decisions

    (decision,) = scenario_run(tmp_path, body)
    assert decision.account == "COPY" and decision.action == "take" and decision.quantity == 2


def test_group_modes_alert_and_the_default_confirm(tmp_path):
    async def body(pipeline, clock):
        watched = await pipeline.submit(nq_signal(clock, "watch", 1))
        nobody = await pipeline.submit(nq_signal(clock, "empty", 2))
        return watched.decisions, nobody.decisions

    watched, nobody = scenario_run(tmp_path, body)
    assert [(d.account, d.action, d.order_keys) for d in watched] == [("WATCH", "alert", ())]
    assert [(d.account, d.action) for d in nobody] == [(None, "skip")]


def test_a_multiplier_that_rounds_to_zero_skips_with_the_reason(tmp_path):
    accounts = [{"name": "TINY", "profile": "apex4-intraday-eval-50k", "multiplier": "0.01"}]
    clock = ManualClock(TUESDAY_10_ET)

    async def scenario():
        extra = {"ai": {"take_score": 0, "skip_score": 0}}
        hub = running_hub(tmp_path, clock, accounts, {"default_mode": "auto"}, extra, present=("paper",))
        async with hub as (*_, g, _s, _gd):
            signal = Signal(
                "S1", SignalSource.MANUAL, Contract("MNQ", 2026, 12), Direction.LONG, clock.now(), ENTRY, STOP
            )
            return (await g.pipeline.submit(signal)).decisions

    (decision,) = run(scenario())
    assert decision.action == "skip" and "multiplier" in decision.reason
