"""The risk manager over a real database and through the CLI."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import make_url
from typer.testing import CliRunner

from enigma_apex import bootstrap
from enigma_apex.adapters.clock import SHIFT_ENV
from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store import trades as trades_module
from enigma_apex.adapters.store.trades import load_trades
from enigma_apex.app.analyst import AnalystService
from enigma_apex.app.risk import RiskService
from enigma_apex.cli import app
from enigma_apex.config import loader
from enigma_apex.config.models import Settings
from enigma_apex.domain.clock import ManualClock
from enigma_apex.domain.orders import Bracket, Fill, OrderIntent, Side
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.domain.symbols import Contract
from tests.integration.hubproc import IN_SESSION

D = Decimal
ENV = {"ENIGMA_APEX_CONFIG": "", "ENIGMA_APEX__HUB__USE_KEYRING": "false"}
MNQ = Contract("MNQ", 2026, 12)


def run(*args: str):
    return CliRunner().invoke(app, list(args), env=ENV)


def initialised(tmp_path):
    assert run("init", str(tmp_path)).exit_code == 0
    config = tmp_path / "enigma-apex.toml"
    config.write_text(config.read_text().replace("port = 8080", "port = 0"))
    return config


def record_trades(config, n_wins: int, n_losses: int):
    """Round trips with 10-point stops on MNQ ($20 of risk per contract), from AlgoBox signals with power 87."""
    settings = loader.load(config, environ={}, secret_lookup=lambda _k: None).settings
    clock = ManualClock(datetime(2026, 11, 2, 15, tzinfo=UTC))
    store, _ = bootstrap.open_store(settings, clock)
    outcomes = [True] * n_wins + [False] * n_losses
    for i, win in enumerate(outcomes):
        signal = Signal(f"S{i}", SignalSource.ALGOBOX, MNQ, Direction.LONG, clock.now(), power=87)
        key = f"k{i}"

        def write(ctx, signal=signal, key=key, win=win, i=i):
            repository.insert_signal(ctx, signal)
            decision = repository.insert_decision(
                ctx,
                signal_id=signal.signal_id,
                account="PAPER-1",
                action="take",
                quantity=1,
                ai={},
                verdicts=[],
                sizing={},
            )
            intent = OrderIntent(key, "PAPER-1", MNQ, Side.BUY, 1, bracket=Bracket(D("20990"), D("21015")))
            repository.insert_order(ctx, intent, executor="paper", decision_id=decision)
            exit_price = D("21015") if win else D("20990")
            for n, (side, price) in enumerate(((Side.BUY, D(21000)), (Side.SELL, exit_price))):
                repository.insert_fill(
                    ctx,
                    Fill(
                        f"F{i}-{n}",
                        key,
                        "PAPER-1",
                        MNQ,
                        side,
                        1,
                        price,
                        D("0.75"),
                        ctx.clock.now() + timedelta(minutes=i * 10 + n),
                    ),
                )

        store.writer.write(write)
    return store


def test_trades_are_rebuilt_from_fills_in_r(tmp_path):
    store = record_trades(initialised(tmp_path), 3, 2)
    with store.engine.connect() as conn:
        trades = load_trades(conn, "PAPER-1")
    store.close()
    assert len(trades) == 5
    assert {t.setup for t in trades} == {"algobox:MNQ:pwr85-100"}
    wins = [t for t in trades if t.pnl > 0]
    assert wins[0].risk == D(20) and wins[0].pnl == D("28.50")  # 15 points x $2 - $1.50 commission
    assert wins[0].r == D("1.425")


def test_stats_cli_per_account_and_setup(tmp_path):
    config = initialised(tmp_path)
    record_trades(config, 6, 4).close()
    result = run("-c", str(config), "stats", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["PAPER-1"]["trades"] == 10 and figures["PAPER-1"]["win_rate"] == "0.6000"
    assert "PAPER-1/algobox:MNQ:pwr85-100" in figures
    assert run("-c", str(config), "stats", "--account", "NOPE").exit_code == 2


def test_size_cli_prints_contracts_and_breakdown(tmp_path):
    config = initialised(tmp_path)
    result = run(
        "-c",
        str(config),
        "size",
        "--account",
        "PAPER-1",
        "--symbol",
        "MNQ",
        "--side",
        "long",
        "--entry",
        "21000",
        "--stop",
        "20990",
        "--target",
        "21020",
        "--json",
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["mode"] == "base_risk" and body["breakdown"]["risk_capital"]["value"] == "1800.00"
    assert body["breakdown"]["per_contract"]["worst_case"] == "22.50"  # 10 pts x $2 + 2 ticks x $0.50 + $1.50
    assert body["code"] in ("OK", "GATE_CLOSED")  # the gate decides with the real clock
    sized = ["-c", str(config), "size", "--account", "PAPER-1", "--symbol", "MNQ", "--side", "long", "--entry",
             "21000", "--stop", "20990"]  # fmt: skip
    human = CliRunner().invoke(app, sized, env={**ENV, SHIFT_ENV: IN_SESSION.isoformat()})
    assert human.exit_code == 0, human.output
    lines = {line.split("  ")[0].strip(): line for line in human.output.splitlines()}
    assert "micro contract" in human.output.splitlines()[0]  # the unit is named
    assert "$1,800.00" in lines["risk capital"] and "$22.50" in lines["worst case per contract"]
    assert "{" not in human.output  # labelled figures, not raw dictionaries
    assert "10 micros as 1 mini" in lines["contracts allowed now"]  # micros and minis told apart
    closed = CliRunner().invoke(app, sized, env={**ENV, SHIFT_ENV: "2026-12-01T17:30:00-05:00"})  # the daily break
    assert closed.output.splitlines()[0].endswith("(GATE_CLOSED, base_risk): SESSION_CLOSED: the firm's session is "
                                                  "closed"), closed.output  # what refuses it, said  # fmt: skip
    for bad in (("--entry", "21000.10"), ("--stop", "abc"), ("--symbol", "XYZ")):
        args = ["--account", "PAPER-1", "--symbol", "MNQ", "--side", "long", "--entry", "21000", "--stop", "20990"]
        i = args.index(bad[0])
        args[i + 1] = bad[1]
        assert run("-c", str(config), "size", *args).exit_code == 2


def test_passprob_cli_and_its_optimiser(tmp_path):
    base = [
        "-c",
        str(tmp_path / "none.toml"),
        "passprob",
        "--profile",
        "apex4-intraday-eval-50k",
        "--platform",
        "rithmic",
        "--win-rate",
        "0.5",
        "--payoff",
        "1.5",
        "--stop-ticks",
        "40",
        "--symbol",
        "MNQ",
        "--trades-per-day",
        "4",
        "--paths",
        "2000",
        "--seed",
        "3",
        "--json",
    ]
    one = json.loads(run(*base).output)
    assert 0 <= one["p_pass"] <= 1 and one["max_days"] == 22 and one["paths"] == 2000
    assert json.loads(run(*base).output)["p_pass"] == one["p_pass"]  # seeded
    best = json.loads(run(*base, "--optimize").output)
    assert len(best["results"]) == 20 and best["best"]["p_pass"] >= one["p_pass"] - 0.05
    fixed = json.loads(run(*base[:-1], "--sizing", "fixed", "--contracts", "3", "--json").output)
    assert fixed["sizing"] == "fixed"
    assert (
        run(
            "-c",
            str(tmp_path / "none.toml"),
            "passprob",
            "--profile",
            "apex4-intraday-pa-50k",
            "--win-rate",
            "0.5",
            "--payoff",
            "1",
            "--stop-ticks",
            "10",
            "--symbol",
            "MNQ",
            "--trades-per-day",
            "1",
        ).exit_code
        == 2
    )


def test_passprob_from_history(tmp_path):
    config = initialised(tmp_path)
    record_trades(config, 6, 4).close()
    result = run(
        "-c",
        str(config),
        "passprob",
        "--profile",
        "apex4-eod-eval-50k",
        "--from-history",
        "PAPER-1",
        "--stop-ticks",
        "40",
        "--symbol",
        "MNQ",
        "--trades-per-day",
        "3",
        "--paths",
        "500",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert 0.5 < json.loads(result.output)["win_rate"] < 0.6  # shrunk toward the prior


def test_bench_sizing_prints_figures():
    figures = json.loads(run("bench", "sizing", "--json", "--calls", "300", "--paths", "500").output)
    assert figures["sizing_call"]["n"] == 300 and figures["simulator"]["paths_per_s"] > 0


def test_the_scorer_reads_the_same_record_from_memory_as_from_the_database(tmp_path):
    """With the account's statistics in memory the scorer decides on the event loop, with no thread hop: the answer
    is the one it gives reading the record from the database (7 wins in 10 trades raise the score)."""
    config = initialised(tmp_path)
    store = record_trades(config, 7, 3)
    settings = loader.load(config, environ={}, secret_lookup=lambda _k: None).settings
    clock = ManualClock(datetime(2026, 11, 3, 15, tzinfo=UTC))
    guardian = bootstrap.build_guardian(settings, store, clock)
    risk = RiskService(settings, guardian, store.engine)
    analyst = AnalystService(settings, clock, store.engine, guardian, risk)
    signal = Signal("S-next", SignalSource.ALGOBOX, MNQ, Direction.LONG, clock.now(), power=87)
    try:
        assert risk.cached_stats(["PAPER-1"]) is None  # nothing read yet: the scorer would read in a thread
        from_database = analyst.fallback(signal, ["PAPER-1"], "ai disabled")
        known = risk.cached_stats(["PAPER-1"])
        assert known is not None and known["PAPER-1"].trades == 10 and known["PAPER-1"].wins == 7
        from_memory = asyncio.run(analyst._scored(signal, ["PAPER-1"], "ai disabled"))
        assert from_memory == from_database
        assert from_memory.score != analyst.fallback(signal, [], "ai disabled").score  # the record counts
        risk.refresh("PAPER-1")  # a fill: read again at once, off the signal's path
        assert risk.cached_stats(["PAPER-1"]) == known
    finally:
        store.close()


def test_each_fill_adds_to_the_statistics_what_a_replay_from_the_first_fill_gives(tmp_path, db_url):
    """A fill's refresh reads only the fills recorded since the last one and adds them to running sums. After every
    fill the figures equal a fresh replay of all the account's fills: with fills at the same instant, partial exits,
    reversals, setups of three kinds, another account's fills in between, and a fill recorded late with an earlier
    time (the history changed behind the sums: replayed from the first fill)."""
    url = make_url(db_url)
    settings = Settings.model_validate(
        {
            "hub": {"data_dir": str(tmp_path / "data")},
            "database": {
                "url": url._replace(password=None).render_as_string(hide_password=False),
                "password": url.password,
            },
            "accounts": [
                {"name": "A-1", "profile": "apex4-intraday-eval-50k"},
                {"name": "A-2", "profile": "apex4-intraday-eval-50k"},
            ],
        }
    )
    clock = ManualClock(datetime(2026, 11, 2, 15, tzinfo=UTC))
    store, _ = bootstrap.open_store(settings, clock)
    guardian = bootstrap.build_guardian(settings, store, clock)
    risk = RiskService(settings, guardian, store.engine)
    rng = random.Random(11)  # noqa: S311 - a repeatable sequence of fills, not cryptography
    start = clock.now()
    orders: dict[str, list[str]] = {"A-1": [], "A-2": []}

    def order(account: str, n: int, power: int | None) -> None:
        source = SignalSource.ALGOBOX if power is not None else SignalSource.MANUAL
        signal = Signal(f"S-{account}-{n}", source, MNQ, Direction.LONG, clock.now(), power=power)
        key = f"{account}-k{n}"
        stop = D(21000) - D(rng.choice((5, 10, 20)))

        def write(ctx):
            repository.insert_signal(ctx, signal)
            decision = repository.insert_decision(
                ctx, signal_id=signal.signal_id, account=account, action="take", quantity=1, ai={}, verdicts=[],
                sizing={},
            )  # fmt: skip
            intent = OrderIntent(key, account, MNQ, Side.BUY, 1, bracket=Bracket(stop, None))
            repository.insert_order(ctx, intent, executor="paper", decision_id=decision)

        store.writer.write(write)
        orders[account].append(key)

    for account in orders:
        for n, power in enumerate((87, 60, None)):
            order(account, n, power)

    held = {"A-1": 0, "A-2": 0}

    def fill(n: int, account: str, minutes: int) -> None:
        position = held[account]
        if position and rng.random() < 0.6:  # out: all of it, part of it, or through it (a reversal)
            side = Side.SELL if position > 0 else Side.BUY
            quantity = abs(position) + rng.choice((0, 0, -1, 1)) or abs(position)
        else:
            side, quantity = rng.choice((Side.BUY, Side.SELL)), rng.randint(1, 3)
        held[account] += quantity if side is Side.BUY else -quantity
        price = D(21000) + D(rng.randint(-40, 40)) / 4
        at = start + timedelta(minutes=minutes)
        f = Fill(f"F{n:03d}", rng.choice(orders[account]), account, MNQ, side, quantity, price, D("0.5"), at)
        store.writer.write(lambda ctx: repository.insert_fill(ctx, f))

    def from_the_first_fill(account: str) -> dict:
        return RiskService(settings, guardian, store.engine).stats(account)

    try:
        assert risk.stats("A-1") == from_the_first_fill("A-1")  # no fill yet: the prior alone
        replays = {}
        for n in range(60):
            account = "A-1" if n % 4 else "A-2"
            fill(n, account, minutes=n // 2)  # two fills a minute: the same instant, ordered by the fill id
            risk.refresh(account)
            assert risk.stats(account) == from_the_first_fill(account), n
            replay = replays.setdefault(account, risk._histories[account].replay)
            assert risk._histories[account].replay is replay, n  # only the new fills were read: never from the start
        figures = risk.stats("A-1")
        assert figures["A-1"].trades >= 5 and len(figures) >= 3  # trades closed, in more than one setup
        replay = risk._histories["A-1"].replay
        read_before = replay.fills
        fill(60, "A-1", minutes=3)  # recorded late, with the time of a fill already summed
        risk.refresh("A-1")
        assert risk._histories["A-1"].replay is not replay  # replayed afresh
        assert risk.stats("A-1") == from_the_first_fill("A-1")
        assert risk._histories["A-1"].replay.fills == read_before + 1
    finally:
        store.close()


def test_a_refresh_that_fails_halfway_leaves_no_half_counted_trades(tmp_path, monkeypatch):
    """A fill that cannot be replayed (here: the second of two new fills) fails the refresh; the next one counts the
    trades from the first fill again, never the first new fill twice or without its sums."""
    config = initialised(tmp_path)
    store = record_trades(config, 3, 2)
    settings = loader.load(config, environ={}, secret_lookup=lambda _k: None).settings
    guardian = bootstrap.build_guardian(settings, store, ManualClock(datetime(2026, 11, 3, 15, tzinfo=UTC)))
    risk = RiskService(settings, guardian, store.engine)
    try:
        assert risk.stats("PAPER-1")["PAPER-1"].trades == 5
        at = datetime(2026, 11, 3, 15, tzinfo=UTC)
        for n, (side, price) in enumerate(((Side.BUY, D(21000)), (Side.SELL, D(21015)))):  # one more win
            fill = Fill(f"F-late-{n}", "k0", "PAPER-1", MNQ, side, 1, price, D("0.75"), at + timedelta(minutes=n))
            store.writer.write(lambda ctx, f=fill: repository.insert_fill(ctx, f))
        real = trades_module._contract
        calls = iter(range(2))
        monkeypatch.setattr(trades_module, "_contract", lambda symbol: real(symbol) if next(calls, 1) == 0 else 1 / 0)
        with pytest.raises(ZeroDivisionError):
            risk.refresh("PAPER-1")  # the first new fill replayed, the second failed
        monkeypatch.setattr(trades_module, "_contract", real)
        risk.refresh("PAPER-1")
        figures = risk.stats("PAPER-1")["PAPER-1"]
        assert (figures.trades, figures.wins) == (6, 4)
        assert risk.stats("PAPER-1") == RiskService(settings, guardian, store.engine).stats("PAPER-1")
    finally:
        store.close()
