"""The executor's journal: keys written ahead, reports kept, a torn last line skipped, compaction."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from enigma_apex.adapters.brokers.journal import Journal
from enigma_apex.protocol import messages as m

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def fill(n: int) -> m.FillMsg:
    return m.FillMsg(
        id=f"f{n}", ts=NOW, fill_id=f"F{n}", key=f"k{n}", account="A1", symbol="MNQ 12-26", side="buy",
        quantity=1, price=Decimal("21000.25"), commission=Decimal("0.62"), executed_at=NOW,
    )  # fmt: skip


def test_a_restarted_executor_reads_its_keys_and_recent_reports_back(tmp_path):
    path = tmp_path / "paper-journal.jsonl"
    first = Journal(path)
    first.load()
    first.placed("k1")
    first.reported(fill(1))
    working = m.OrderUpdate(id="u", ts=NOW, key="k2", account="A1", status="working")
    first.reported(working)  # not final: not kept (a replay must never move an order backwards)
    first.reported(m.OrderUpdate(id="u2", ts=NOW, key="k1", account="A1", status="filled", filled_quantity=1))
    first.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"k": "torn')  # the process died in the middle of a line
    again = Journal(path)
    again.load()
    assert again.keys == ["k1"]
    recent = again.recent()
    assert [type(r).__name__ for r in recent] == ["FillMsg", "OrderUpdate"]
    assert recent[0].fill_id == "F1" and recent[1].status == "filled"
    again.placed("k3")  # the torn line was dropped when the journal was read: new lines start clean
    again.close()
    last = Journal(path)
    last.load()
    last.close()
    assert last.keys == ["k1", "k3"]


def test_the_journal_is_compacted_to_the_newest_entries(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path, keep=10)
    journal.load()
    for n in range(50):
        journal.placed(f"k{n}")
        journal.reported(fill(n))
    journal.close()
    lines = path.read_text().splitlines()
    assert len(lines) <= 40  # compacted whenever it passes twice ``keep``
    again = Journal(path, keep=10)
    again.load()
    assert again.keys == [f"k{n}" for n in range(40, 50)]
    assert [r.fill_id for r in again.recent()] == [f"F{n}" for n in range(40, 50)]
    again.close()


def test_a_venue_fill_is_journaled_before_the_paper_venue_saves_its_state(tmp_path):
    """The paper venue writes its state right after it reports a fill: by then the fill must be in the executor's
    journal, or a process killed between the two would restart knowing a fill it never reports to the hub."""
    import asyncio
    import json

    from enigma_apex.adapters.brokers.paper import PaperConnector
    from enigma_apex.adapters.brokers.runner import ExecutorRunner
    from enigma_apex.config.models import PaperSection
    from enigma_apex.domain.clock import ManualClock
    from enigma_apex.domain.orders import Side
    from enigma_apex.domain.symbols import Contract
    from enigma_apex.execution.events import OrderRequest
    from enigma_apex.execution.market import Tick

    journal_path, state = tmp_path / "paper-journal.jsonl", tmp_path / "paper-state.json"

    async def scenario() -> list[str]:
        connector = PaperConnector(
            {"A1": Decimal(50000)}, PaperSection(), ManualClock(NOW), state_file=state, market=False
        )
        runner = ExecutorRunner(connector, "ws://127.0.0.1:9", "token", journal=Journal(journal_path))
        seen_at_save: list[str] = []
        save = connector._save

        def saving() -> None:  # what the journal holds at the moment the venue writes its state
            seen_at_save.append(journal_path.read_text(encoding="utf-8") if journal_path.exists() else "")
            save()

        connector._save = saving  # type: ignore[method-assign]
        runner.journal.load()
        await connector.start(runner._emitted)
        contract = Contract("MNQ", 2026, 12)
        connector.tick([Tick(None, contract, Decimal("21000.00"), Decimal("21000.25"), Decimal("21000.25"))])
        await connector.place(OrderRequest("k-1", "A1", contract, Side.BUY, 1))
        await connector.close()
        runner.journal.close()
        return seen_at_save

    seen = asyncio.run(scenario())
    fills = [line for text in seen for line in text.splitlines() if '"fill_id' in line]
    assert fills, seen
    assert json.loads(json.loads(fills[0])["e"])["key"] == "k-1"


def test_a_refused_order_is_kept_and_sent_again_but_not_an_acceptance_or_a_refused_flatten(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.load()
    journal.reported(m.Ack(id="a1", ts=NOW, ack=7, key="k7", status="rejected", reason="reduce-only: no position"))
    journal.reported(m.Ack(id="a2", ts=NOW, ack=8, key="k8", status="accepted"))
    journal.reported(m.Ack(id="a3", ts=NOW, key="flatten:A1:x", status="rejected", reason="not connected"))
    journal.close()
    again = Journal(path)
    again.load()
    recent = again.recent()
    again.close()
    assert [(type(r).__name__, r.key, r.status) for r in recent] == [("Ack", "k7", "rejected")]
    assert recent[0].reason == "reduce-only: no position" and recent[0].ack == 7
