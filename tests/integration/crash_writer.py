"""A child process for the crash test: writes through the group-commit writer and prints each
acknowledgement as soon as its future resolves, until it is killed."""

from __future__ import annotations

import sys

from enigma_apex.adapters.clock import SystemClock
from enigma_apex.adapters.store import migrate, repository
from enigma_apex.adapters.store.engine import make_engine
from enigma_apex.adapters.store.writer import GroupCommitWriter
from enigma_apex.domain.orders import OrderIntent, Side
from enigma_apex.domain.symbols import Contract


def main(url: str) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    writer = GroupCommitWriter(engine, SystemClock())
    writer.start()
    writer.write(
        lambda ctx: repository.sync_accounts(
            ctx, [repository.AccountRecord("A1", "apex4-intraday-eval-50k", None, "paper", "default")]
        )
    )
    contract = Contract("MNQ", 2026, 12)
    print("READY", flush=True)
    i = 0
    while True:
        batch = []
        for _ in range(20):
            i += 1
            intent = OrderIntent(f"key-{i}", "A1", contract, Side.BUY, 1)
            batch.append(
                (
                    i,
                    writer.submit(
                        lambda ctx, intent=intent, i=i: repository.insert_order(ctx, intent, executor="paper", seq=i)
                    ),
                )
            )
        for n, future in batch:
            future.result()
            print(f"ACK {n}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
