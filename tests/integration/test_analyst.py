"""The AI analyst through the real openai SDK against a loopback OpenAI-compatible server, inside the pipeline.

Each failure mode (slow, malformed, schema-invalid, 429, 500, refusal, connection refused) must end in the
deterministic scorer deciding, with the reason recorded, and never in a crash or a bigger size.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from enigma_apex.adapters.store import schema as s
from enigma_apex.bench.loopback_model import loopback_model
from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.domain.symbols import Contract
from tests.integration.gatewaykit import run, running_hub

TUESDAY_10_ET = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
MNQ = Contract("MNQ", 2026, 12)
ACCOUNTS = [{"name": "A1", "profile": "apex4-intraday-eval-50k", "executor": "nt8"}]


def long_signal(clock, n: int = 1, **fields) -> Signal:
    base = dict(entry=Decimal("21000.00"), stop=Decimal("20980.00"), target=Decimal("21040.00"), power=80)
    return Signal(f"S{n}", SignalSource.ALGOBOX, MNQ, Direction.LONG, clock.now(), **{**base, **fields})


def ai_config(base_url: str, **more) -> dict:
    return {
        "ai": {
            "enabled": True,
            "base_url": base_url,
            "model": "loopback",
            "timeout_s": "10",  # an answer is never late on a loaded machine; the slow case sets its own
            "price_input_per_mtok": "2.50",
            "price_output_per_mtok": "10",
            **more,
        }
    }


def stored(store, table):
    with store.engine.connect() as conn:
        return conn.execute(select(table)).all()


def decide(tmp_path, base_url: str, signals: list, extra_ai=None, notified=None):
    """Submit signals in auto mode; returns (outcomes, analyses rows, decisions rows). ``notified`` collects the
    analyst's alerts."""
    clock = ManualClock(TUESDAY_10_ET)

    async def scenario():
        extra = ai_config(base_url, **(extra_ai or {}))
        hub = running_hub(tmp_path, clock, ACCOUNTS, {"default_mode": "auto"}, extra, present=("nt8",))
        async with hub as (*_, g, store, _gd):
            if notified is not None:
                g.pipeline.analyst.notify = lambda *alert: notified.append(alert)
            outcomes = [await g.pipeline.submit(make(clock)) for make in signals]
            return outcomes, stored(store, s.analyses), stored(store, s.decisions)

    return run(scenario())


def test_a_good_answer_is_used_recorded_with_tokens_and_cost_and_never_raises_the_size(tmp_path):
    with loopback_model() as model:
        outcomes, analyses, decisions = decide(tmp_path, model.base_url, [long_signal])
    (analysis,) = analyses
    assert (analysis.source, analysis.score, analysis.action, analysis.fallback_reason) == ("ai", 82, "take", None)
    assert (analysis.prompt_tokens, analysis.completion_tokens) == (412, 37)
    assert analysis.cost_usd == Decimal("0.00140")  # 412 x 2.50 / 1e6 + 37 x 10 / 1e6
    assert analysis.prompt_version == "v1" and analysis.model == "loopback"
    (decision,) = decisions
    ai = json.loads(decision.ai)
    assert ai["analysis_id"] == analysis.id and ai["source"] == "ai"
    assert outcomes[0].decisions[0].action == "take"
    # the request the model got: structured output, the signal, the account's room, retries off
    (request,) = model.requests
    assert request["response_format"]["type"] == "json_schema"
    prompt = request["messages"][1]["content"]
    assert '"direction": "long"' in prompt and '"power": 80' in prompt and '"account": "A1"' in prompt
    assert "distance_to_threshold" in prompt


def test_skip_and_reduce_only_lower_the_size(tmp_path):
    with loopback_model() as model:
        model.answer = {"score": 70, "action": "take", "confidence": 0.5, "reasons": ["baseline"]}
        (taken,), *_ = decide(tmp_path / "a", model.base_url, [long_signal])
        model.answer = {"score": 45, "action": "reduce", "confidence": 0.5, "reasons": ["chop"]}
        (reduced,), *_ = decide(tmp_path / "b", model.base_url, [long_signal])
        model.answer = {"score": 10, "action": "skip", "confidence": 0.2, "reasons": ["against the trend"]}
        (skipped,), *_ = decide(tmp_path / "c", model.base_url, [long_signal])
        model.answer = {"score": 99, "action": "take", "confidence": 1.0, "reasons": ["sure thing"]}
        (confident,), *_ = decide(tmp_path / "d", model.base_url, [long_signal])
    full = taken.decisions[0].quantity
    assert full >= 2
    assert reduced.decisions[0].action == "take" and reduced.decisions[0].quantity == full // 2
    assert skipped.decisions[0].action == "skip" and skipped.decisions[0].order_keys == ()
    assert "says skip, score 10" in skipped.decisions[0].reason
    assert confident.decisions[0].quantity <= full  # confidence never buys size beyond the sizer's own answer


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        ("slow", "timeout"),
        ("malformed", "invalid_answer"),
        ("schema", "invalid_answer"),
        ("429", "rate_limited"),
        ("500", "server_error"),
        ("refusal", "refused"),
    ],
)
def test_every_model_failure_falls_back_to_the_scorer_with_the_reason(tmp_path, behaviour, kind):
    with loopback_model() as model:
        model.behaviour = behaviour
        extra = {"timeout_s": "0.5"} if behaviour == "slow" else None  # the model never answers: the timeout ends it
        outcomes, analyses, decisions = decide(tmp_path, model.base_url, [long_signal], extra)
    (analysis,) = analyses
    assert analysis.source == "scorer"
    assert analysis.fallback_reason.startswith(kind)
    assert analysis.prompt_tokens == 0 and analysis.cost_usd == 0
    # power 80 (+12), regular hours (+5): the scorer takes it
    assert (analysis.score, analysis.action) == (67, "take")
    assert outcomes[0].decisions[0].action == "take" and outcomes[0].decisions[0].quantity > 0
    assert json.loads(decisions[0].ai)["fallback_reason"] == analysis.fallback_reason


def test_connection_refused_falls_back_and_the_breaker_opens_after_repeated_failures(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    makers = [lambda c, n=n: long_signal(c, n) for n in range(1, 5)]
    alerts: list = []
    _, analyses, _ = decide(tmp_path, f"http://127.0.0.1:{port}/v1", makers, {"failure_threshold": 2}, alerts)
    assert [(severity, kind) for severity, kind, _ in alerts] == [("warning", "ai.fallback")]  # once, as it opens
    assert "deterministic scorer decides until" in alerts[0][2]
    reasons = [a.fallback_reason for a in sorted(analyses, key=lambda a: a.signal_id)]
    assert reasons[0].startswith("connection") and reasons[1].startswith("connection")
    assert reasons[2].startswith("breaker open until") and reasons[3].startswith("breaker open until")
    assert all(a.source == "scorer" for a in analyses)


def test_the_breaker_closes_again_after_its_cooldown(tmp_path):
    clock = ManualClock(TUESDAY_10_ET)

    async def scenario(model):
        extra = ai_config(model.base_url, failure_threshold=1, cooldown_s=30)
        hub = running_hub(tmp_path, clock, ACCOUNTS, {"default_mode": "auto"}, extra, present=("nt8",))
        async with hub as (*_, g, store, _gd):
            model.behaviour = "500"
            await g.pipeline.submit(long_signal(clock, 1))
            model.behaviour = "good"
            await g.pipeline.submit(long_signal(clock, 2))  # breaker open: the model is not asked
            asked = len(model.requests)
            clock.advance(timedelta(seconds=31))
            await g.pipeline.submit(long_signal(clock, 3))
            return asked, {a.signal_id: a for a in stored(store, s.analyses)}

    with loopback_model() as model:
        asked, analyses = run(scenario(model))
    assert asked == 1
    assert analyses["S2"].fallback_reason.startswith("breaker open")
    assert analyses["S3"].source == "ai"


def test_exits_are_never_analysed_and_ai_off_means_the_scorer(tmp_path):
    with loopback_model() as model:
        exit_signal = lambda c: Signal("X1", SignalSource.MANUAL, MNQ, Direction.EXIT, c.now())  # noqa: E731
        _, analyses, decisions = decide(tmp_path / "a", model.base_url, [exit_signal])
        assert analyses == [] and json.loads(decisions[0].ai)["source"] == "none"
        _, analyses, _ = decide(tmp_path / "b", model.base_url, [long_signal], {"enabled": False})
        assert model.requests == []
    assert analyses[0].source == "scorer" and analyses[0].fallback_reason == "ai disabled"
