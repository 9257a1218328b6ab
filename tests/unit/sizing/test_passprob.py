from __future__ import annotations

from dataclasses import replace

import pytest

from enigma_apex.sizing.passprob import SimConfig, gamblers_ruin, optimize, simulate

STATIC = SimConfig(
    start=100000,
    target=2000,
    drawdown=625,
    kind="static",
    lock_level=None,
    dll=None,
    max_contracts=2,
    min_trading_days=0,
    consistency_limit=None,
    consistency_strict=True,
    win_rate=0.5,
    payoff=1.0,
    stop_ticks=100,
    tick_value=1.25,
    commission=0,
    slippage_ticks=0,
    trades_per_day=10,
    max_days=600,
    sizing="fixed",
    contracts=1,
)


@pytest.mark.parametrize("p", [0.5, 0.55, 0.45])
def test_static_drawdown_matches_the_gamblers_ruin_formula(p):
    # R = 100 ticks x $1.25 = $125: the floor is 5 R below the start, the target 16 R above it.
    expected = gamblers_ruin(p, 5, 21)
    result = simulate(replace(STATIC, win_rate=p), paths=20000, seed=7)
    assert result.p_running == 0
    assert abs(result.p_pass - expected) <= 4 * result.stderr_pass + 0.002
    assert abs(result.p_fail - (1 - expected)) <= 4 * result.stderr_pass + 0.002


def test_the_same_seed_gives_the_same_answer():
    a, b = simulate(STATIC, 3000, seed=3), simulate(STATIC, 3000, seed=3)
    assert a == b


def test_a_time_limit_leaves_paths_running():
    short = simulate(replace(STATIC, max_days=1, trades_per_day=3), 2000, seed=1)
    assert short.p_running > 0.5 and short.p_pass == 0


def test_minimum_days_delay_the_pass():
    quick = replace(STATIC, win_rate=0.9, min_trading_days=0, max_days=200)
    slow = replace(quick, min_trading_days=5)
    a, b = simulate(quick, 2000, seed=2), simulate(slow, 2000, seed=2)
    assert b.median_days_to_pass >= 5 > a.median_days_to_pass


def test_intraday_trailing_fails_more_than_a_static_floor():
    base = replace(STATIC, drawdown=625, target=2000, max_days=600)
    trailing = replace(base, kind="intraday")
    assert simulate(trailing, 5000, seed=4).p_fail > simulate(base, 5000, seed=4).p_fail


def test_a_consistency_rule_that_blocks_the_pass_lowers_quick_passes():
    fast = replace(STATIC, win_rate=0.6, trades_per_day=20, max_days=30)
    rule = replace(fast, consistency_limit=30.0)
    assert simulate(rule, 4000, seed=5).p_pass < simulate(fast, 4000, seed=5).p_pass


def test_kelly_sizing_on_the_buffer_never_loses_more_than_the_buffer():
    kelly = replace(STATIC, sizing="kelly", kelly_fraction=1.0, win_rate=0.55, payoff=1.5, stop_ticks=10)
    result = simulate(kelly, 5000, seed=6)
    assert result.p_fail == 0


def test_optimize_returns_a_curve():
    curve = optimize(replace(STATIC, sizing="fixed"), 1000, 1, [1, 2])
    assert [v for v, _ in curve] == [1.0, 2.0]
