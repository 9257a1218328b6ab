"""`firms`, `replay`, `account` and `bench rules` through the CLI."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from enigma_apex.cli import app

ENV = {"ENIGMA_APEX_CONFIG": "", "ENIGMA_APEX__HUB__USE_KEYRING": "false"}


def run(*args: str):
    return CliRunner().invoke(app, list(args), env=ENV)


def test_firms_lists_every_family_with_key_numbers(tmp_path):
    result = run("-c", str(tmp_path / "none.toml"), "firms", "--json")
    assert result.exit_code == 0
    rows = {r["id"]: r for r in json.loads(result.output)}
    for prefix in (
        "apex4-eod-eval-",
        "apex4-intraday-pa-",
        "apexlegacy-full-pa-",
        "apexlegacy-static-eval-",
        "topstep-combine-",
        "topstep-xfa-",
        "mffu-rapid-eval-",
        "tpt-proplus-",
        "tradeify-lightning-funded-",
    ):
        assert any(pid.startswith(prefix) for pid in rows), prefix
    assert rows["apex4-intraday-pa-50k"]["lock"] == "50100"
    assert rows["topstep-combine-150k"]["drawdown"] == "4500"
    table = run("-c", str(tmp_path / "none.toml"), "firms")
    assert "apexlegacy-full-eval-300k" in table.output


EVENTS = [
    '{"ts": "2026-11-23T10:00:00-05:00", "type": "mark", "balance": 50000, "open_pnl": 0}',
    '{"ts": "2026-11-23T11:00:00-05:00", "type": "mark", "balance": "51000", "open_pnl": "1100.00"}',
    '{"ts": "2026-11-23T12:00:00-05:00", "type": "mark", "balance": 51500, "open_pnl": 0}',
    '{"ts": "2026-11-24T10:00:00-05:00", "type": "payout", "amount": 500}',
    '{"ts": "2026-11-24T11:00:00-05:00", "type": "mark", "balance": 50100, "open_pnl": 0}',
]


def test_replay_json_lines_give_one_row_per_event(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(EVENTS) + "\n")
    result = run(
        "-c",
        str(tmp_path / "none.toml"),
        "replay",
        "--profile",
        "apex4-intraday-pa-50k",
        "--events",
        str(events),
        "--json",
    )
    assert result.exit_code == 0, result.output
    *rows, last = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 5
    assert last["verdict"]["result"] == "breached" and last["verdict"]["rule"].startswith("TRAILING_THRESHOLD")
    assert set(rows[0]) == {
        "ts",
        "equity",
        "balance",
        "peak",
        "threshold",
        "locked",
        "breached",
        "distance",
        "state",
        "max_contracts",
        "dll_remaining",
        "best_day_share",
    }
    assert (rows[1]["peak"], rows[1]["threshold"], rows[1]["locked"]) == (52100, 50100, True)
    assert rows[2]["best_day_share"] == 1
    assert rows[3]["balance"] == 51000 and rows[3]["threshold"] == 50100  # a payout leaves the threshold
    assert rows[4]["breached"] and rows[4]["state"] == "FAILED"


def test_replay_reports_every_bad_line_and_replays_nothing(tmp_path):
    events = tmp_path / "bad.jsonl"
    events.write_text(
        "\n".join(
            [
                EVENTS[0],
                '{"ts": "2026-11-23T10:05:00", "type": "mark", "balance": 1}',
                '{"ts": "2026-11-23T10:06:00-05:00", "type": "mark", "balance": "NaN"}',
                '{"ts": "2026-11-23T10:07:00-05:00", "type": "jump"}',
                "not json",
                '{"ts": "2026-11-23T10:08:00-05:00", "type": "mark", "balance": 1, "colour": "red"}',
                EVENTS[1],
            ]
        )
        + "\n"
    )
    result = run(
        "-c",
        str(tmp_path / "none.toml"),
        "replay",
        "--profile",
        "apex4-intraday-pa-50k",
        "--events",
        str(events),
        "--json",
    )
    assert result.exit_code == 2
    for n, word in ((2, "offset"), (3, "finite"), (4, "type"), (5, "JSON"), (6, "unknown field")):
        assert f"line {n}:" in result.output and word in result.output, (n, result.output)
    assert '"threshold"' not in result.output


def test_replay_refuses_unknown_profiles_and_platforms(tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text(EVENTS[0])
    assert (
        run("-c", str(tmp_path / "x.toml"), "replay", "--profile", "apex-50k", "--events", str(events)).exit_code == 2
    )
    assert (
        run(
            "-c",
            str(tmp_path / "x.toml"),
            "replay",
            "--profile",
            "apex4-eod-eval-50k",
            "--platform",
            "mt5",
            "--events",
            str(events),
        ).exit_code
        == 2
    )


# The layout of a real NinjaTrader 8 Trades export (header with its trailing comma; Profit net of commission, Cum. net
# profit its running sum; ../shared/research/sources_round2.md) — see tests/unit/rules/test_nt_trades.py for more.
NT_CSV = """Trade number,Instrument,Account,Strategy,Market pos.,Qty,Entry price,Exit price,Entry time,Exit time,Entry name,Exit name,Profit,Cum. net profit,Commission,Clearing Fee,Exchange Fee,IP Fee,NFA Fee,MAE,MFE,ETD,Bars,
1,NQ 12-26,Sim101,,Long,1,21000,21040,11/23/2026 9:35:00 AM,11/23/2026 9:50:00 AM,Entry,Exit,$795.50,$795.50,$4.50,$0.00,$0.00,$0.00,$0.00,$100.00,$900.00,$104.50,3,
2,NQ 12-26,Sim101,,Short,1,21100,21120,11/24/2026 10:00:00 AM,11/24/2026 10:20:00 AM,Entry,Exit,($404.50),$391.00,$4.50,$0.00,$0.00,$0.00,$0.00,$450.00,$50.00,$454.50,4,
3,NQ 12-26,Sim101,,Long,2,21000,21100,11/25/2026 10:00:00 AM,11/25/2026 11:00:00 AM,Entry,Exit,"$3,991.00","$4,382.00",$9.00,$0.00,$0.00,$0.00,$0.00,$200.00,"$4,200.00",$209.00,9,
"""


def test_replay_of_a_ninjatrader_trades_export_prints_a_day_table(tmp_path):
    csv = tmp_path / "trades.csv"
    csv.write_text(NT_CSV)
    result = run(
        "-c",
        str(tmp_path / "none.toml"),
        "replay",
        "--profile",
        "apex4-intraday-eval-50k",
        "--platform",
        "rithmic",
        "--nt-trades",
        str(csv),
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["day", "balance", "peak", "threshold"]
    by_day = {line.split()[0]: line for line in lines if line.strip().startswith("2026-")}
    assert "$50,795.50" in by_day["2026-11-23"]
    assert "$54,382.00" in by_day["2026-11-25"] and " no " in by_day["2026-11-25"]
    assert "of net" in by_day["2026-11-25"] and "$4,382.00" in by_day["2026-11-25"]  # the best day against the net
    assert lines[-1].startswith("result: PASSED")
    as_json = run(
        "-c",
        str(tmp_path / "none.toml"),
        "replay",
        "--profile",
        "apex4-intraday-eval-50k",
        "--nt-trades",
        str(csv),
        "--json",
    )
    *days, last = [json.loads(line) for line in as_json.output.splitlines()]
    assert [d["day"] for d in days] == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert days[0]["peak"] == 50900  # the first trade's MFE raised the intraday peak
    verdict = last["verdict"]
    assert (verdict["result"], verdict["trading_days"], verdict["balance"]) == ("passed", 3, 54382)
    assert verdict["rule"].startswith("TARGET:")


def test_a_bad_ninjatrader_export_names_the_line(tmp_path):
    csv = tmp_path / "trades.csv"
    csv.write_text(NT_CSV.replace("$795.50,$795.50", "eight hundred,$795.50"))
    result = run(
        "-c", str(tmp_path / "none.toml"), "replay", "--profile", "apex4-intraday-eval-50k", "--nt-trades", str(csv)
    )
    assert result.exit_code == 2 and "line 2:" in result.output


def test_account_status_and_bootstrap(tmp_path):
    assert run("init", str(tmp_path)).exit_code == 0
    config_file = tmp_path / "enigma-apex.toml"
    config_file.write_text(config_file.read_text().replace("port = 8080", "port = 0"))
    config = str(config_file)
    status = run("-c", config, "account", "status", "--json")
    assert status.exit_code == 0
    (row,) = json.loads(status.output)
    assert (row["account"], row["profile"], row["state"], row["threshold"]) == (
        "PAPER-1",
        "apex4-intraday-eval-50k",
        "ACTIVE",
        "48000",
    )
    boot = run("-c", config, "account", "bootstrap", "PAPER-1", "--peak", "51000")
    assert boot.exit_code == 0 and "threshold $49,000.00" in boot.output, boot.output
    assert "$49,000.00" in run("-c", config, "account", "status").output
    again = json.loads(run("-c", config, "account", "bootstrap", "PAPER-1", "--peak", "51000", "--json").output)
    assert (again["threshold"], again["distance"]) == ("49000", "1000")  # the balance is still 50,000
    assert run("-c", config, "account", "bootstrap", "NOPE", "--peak", "1").exit_code == 2
    assert run("-c", config, "account", "bootstrap", "PAPER-1", "--peak", "x").exit_code == 2


def test_bench_rules_prints_microseconds(tmp_path):
    result = run("bench", "rules", "--json", "--checks", "400")
    figures = json.loads(result.output)
    assert figures["accounts"] == 20
    assert figures["pre_trade_check"]["n"] == 400 and figures["pre_trade_check"]["p99_us"] > 0
    assert figures["mark_update"]["p50_us"] > 0


def test_replay_refuses_an_ambiguous_ninjatrader_export_and_reads_it_with_date_format(tmp_path):
    from tests.unit.rules.test_nt_trades import EU_EXPORT

    csv = tmp_path / "european.csv"
    csv.write_text(EU_EXPORT, encoding="utf-8")
    base = ["-c", str(tmp_path / "none.toml"), "replay", "--profile", "tpt-test-50k", "--nt-trades", str(csv)]
    refused = run(*base)
    assert refused.exit_code == 2 and "--date-format dmy" in refused.output
    read = run(*base, "--date-format", "dmy", "--json")
    assert read.exit_code == 0, read.output
    *days, last = [json.loads(line) for line in read.output.splitlines()]
    assert [d["day"] for d in days] == ["2026-03-02", "2026-03-03", "2026-03-06"]
    assert last["verdict"]["trading_days"] == 3
