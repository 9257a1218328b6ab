"""The pure analysis core: deterministic scorer, circuit breaker, prompt template, answer schema, cost."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from enigma_apex.analysis.answer import AnalystAnswer, cost
from enigma_apex.analysis.breaker import CircuitBreaker
from enigma_apex.analysis.prompt import PromptTemplate
from enigma_apex.analysis.scorer import ScoreInputs, score

MIDDAY = time(11, 0)


def test_scorer_formula_term_by_term():
    neutral = score(ScoreInputs("long", MIDDAY))
    assert (neutral.score, neutral.action, neutral.breakdown) == (55, "take", {"base": 50, "time": 5})
    strong = score(ScoreInputs("long", MIDDAY, power=90, confluence=4, trend="up"))
    assert strong.score == 50 + 16 + 10 + 10 + 5
    against = score(ScoreInputs("short", MIDDAY, power=60, confluence=2, trend="up"))
    assert against.score == 50 + 4 + 0 - 20 + 5 and against.action == "reduce"
    weak = score(ScoreInputs("long", time(3, 0), power=20, confluence=1, trend="down"))
    assert weak.score == 50 - 12 - 5 - 20 - 10 and weak.action == "skip"
    floor = score(ScoreInputs("long", time(3, 0), power=0, confluence=1, trend="down"))
    assert floor.score == 0  # 50 - 20 - 5 - 20 - 10 = -5, clamped


def test_the_traders_own_signal_is_scored_on_evidence_not_on_the_time_of_day():
    overnight = time(3, 0)
    machine = score(ScoreInputs("long", overnight))
    manual = score(ScoreInputs("long", overnight, source="manual"))
    assert (machine.score, machine.action) == (40, "reduce")  # AlgoBox at 03:00: the overnight penalty
    assert (manual.score, manual.action) == (50, "take") and "time" not in manual.breakdown
    against = score(ScoreInputs("long", overnight, trend="down", source="api", hit_rate=Decimal("0.2"), trades=20))
    assert against.action == "skip"  # evidence still counts: a trend against it and a poor hit rate


def test_hit_rate_counts_only_from_ten_trades():
    few = score(ScoreInputs("long", MIDDAY, hit_rate=Decimal("0.9"), trades=9))
    many = score(ScoreInputs("long", MIDDAY, hit_rate=Decimal("0.9"), trades=10))
    assert "hit_rate" not in few.breakdown and many.score == few.score + 16


@pytest.mark.parametrize(
    ("at", "points"),
    [(time(9, 31), -10), (time(9, 35), 5), (time(15, 44), 5), (time(15, 45), -10), (time(20, 0), -10)],
)
def test_time_of_day_points(at, points):
    assert score(ScoreInputs("long", at)).breakdown["time"] == points


@given(
    power=st.none() | st.integers(0, 100),
    confluence=st.none() | st.integers(1, 4),
    trend=st.sampled_from([None, "up", "down", "flat"]),
    hit=st.none() | st.decimals(0, 1, places=3),
    trades=st.integers(0, 500),
    minute=st.integers(0, 24 * 60 - 1),
)
def test_scorer_is_bounded_and_consistent(power, confluence, trend, hit, trades, minute):
    at = time(minute // 60, minute % 60)
    result = score(ScoreInputs("short", at, power, confluence, trend, hit, trades), take_score=60, skip_score=40)
    assert 0 <= result.score <= 100
    assert Decimal("0.25") <= result.confidence <= Decimal("0.75")
    expected = "take" if result.score >= 60 else "reduce" if result.score >= 40 else "skip"
    assert result.action == expected


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown():
    t0 = datetime(2026, 12, 1, 15, tzinfo=UTC)
    b = CircuitBreaker(3, timedelta(seconds=60))
    assert not b.failure(t0) and not b.failure(t0)
    assert b.allows(t0) and b.state(t0) == "closed"
    assert b.failure(t0)  # third: open
    assert not b.allows(t0 + timedelta(seconds=59)) and b.state(t0) == "open"
    later = t0 + timedelta(seconds=60)
    assert b.allows(later) and b.state(later) == "half-open"
    assert b.failure(later)  # the trial call failed: open again at once
    assert not b.allows(later + timedelta(seconds=1))
    b.success()
    assert b.allows(later) and b.failures == 0


def test_prompt_template_needs_a_version_a_separator_and_every_field():
    text = "version: t1\nsystem part\n---\n$signal $recent $accounts $stats $schema"
    template = PromptTemplate.parse(text)
    messages = template.messages({"signal": {"symbol": "MNQ"}, "recent": [], "accounts": [], "stats": {}})
    assert template.version == "t1" and messages[0] == {"role": "system", "content": "system part"}
    assert '{"symbol": "MNQ"}' in messages[1]["content"] and '"score"' in messages[1]["content"]
    with pytest.raises(ValueError, match="version"):
        PromptTemplate.parse("system\n---\n$signal")
    with pytest.raises(ValueError, match="---"):
        PromptTemplate.parse("version: x\nno separator $signal $recent $accounts $stats $schema")
    with pytest.raises(ValueError, match=r"\$stats"):
        PromptTemplate.parse("version: x\ns\n---\n$signal $recent $accounts $schema")


def test_answer_schema_rejects_anything_outside_it():
    AnalystAnswer.model_validate({"score": 0, "action": "skip", "confidence": 0, "reasons": []})
    for bad in (
        {"score": 101, "action": "take", "confidence": 0.5, "reasons": []},
        {"score": 50, "action": "double", "confidence": 0.5, "reasons": []},
        {"score": 50, "action": "take", "confidence": 1.5, "reasons": []},
        {"score": 50, "action": "take", "confidence": 0.5, "reasons": [], "size": 10},
        {"score": 50, "action": "take", "confidence": 0.5},
    ):
        with pytest.raises(ValidationError):
            AnalystAnswer.model_validate(bad)


def test_cost_from_tokens_and_prices():
    assert cost(1_000_000, 500_000, Decimal("2.5"), Decimal(10)) == Decimal("7.5")
    assert cost(412, 37, Decimal(0), Decimal(0)) == 0
