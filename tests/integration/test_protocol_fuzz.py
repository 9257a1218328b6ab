"""A seeded, bounded fuzz of the WebSocket protocol against the real gateway: mutated messages of every type a
dashboard and an executor may send (wrong types, missing and unknown fields, lone surrogates, huge numbers, garbage,
non-objects, binary frames at the end). The hub never closes with 1011, and every frame a dashboard sends is
answered: an ``error`` naming it (``ref`` when it had a usable id), a ``result``, a ``pong`` or its decisions."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from websockets.asyncio.client import connect

from enigma_apex.client import new_id, now
from enigma_apex.protocol import messages as m
from enigma_apex.protocol.codec import decode, encode
from tests.integration.gatewaykit import login, recv, running_hub, until_closed

SEED = 20261202
FRAMES = 600
TS = "2026-12-01T15:00:00Z"

DASHBOARD_TEMPLATES: list[dict[str, Any]] = [
    {"type": "ping"},
    {"type": "subscribe", "topics": ["risk", "decisions"]},
    {"type": "signal", "symbol": "MNQ 12-26", "side": "long", "entry": "21000.00", "stop": "20980.00", "quantity": 1},
    {"type": "signal", "symbol": "MNQ 12-26", "side": "exit"},
    {"type": "emergency.stop", "reason": "fuzz", "accounts": ["A1"]},
    {"type": "halt", "account": "A2", "reason": "fuzz"},
    {"type": "resume", "account": "A2"},
    {"type": "approve", "signal_id": "nothing-pending"},
    {"type": "reject", "signal_id": "nothing-pending"},
]
EXECUTOR_TEMPLATES: list[dict[str, Any]] = [
    {"type": "ack", "key": "k1", "status": "accepted"},
    {"type": "order.update", "key": "k1", "account": "A1", "status": "working"},
    {"type": "position", "account": "A1", "symbol": "MNQ 12-26", "quantity": 0},
    {"type": "account.update", "account": "A1", "balance": "50000.00"},
    {"type": "market.data", "symbol": "MNQ 12-26", "last": "21000.25"},
    {"type": "health", "components": {"fuzz": {"status": "ok"}}},
]
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 10**30, "", "x" * 600, "\ud800", "🚀", [], {}, [1, "a"], {"a": {"b": None}},
    "NaN", "2026-13-45T99:99:99Z", "21000.123",
]  # fmt: skip


def mutate(rng: random.Random, template: dict[str, Any], n: int) -> str | bytes:
    """One frame: usually the template with an id and a few mutations, sometimes garbage."""
    roll = rng.random()
    if roll < 0.04:
        return rng.choice(["{", "[]", "null", "42", '"text"', "{}", '{"v": 1}', "\x00\x01", "{" * 300 + "}" * 300])
    data: dict[str, Any] = {"v": 1, "id": f"f{n}", "ts": TS, **template}
    for _ in range(rng.randrange(0, 3)):
        action = rng.random()
        key = rng.choice([*list(data), "extra", "type", "v", "ts", "id"])
        if action < 0.4:
            data[key] = rng.choice(ODD_VALUES)
        elif action < 0.6:
            data.pop(key, None)
        elif action < 0.8:
            data[rng.choice(["unknown", "zzz", "quantity", "accounts", "topics"])] = rng.choice(ODD_VALUES)
        else:
            data["type"] = rng.choice(["nonsense", "welcome", "order.place", "flatten", "risk.update", "result"])
    return json.dumps(data)


def answers(reply: m.Message, frame: str | bytes) -> bool:
    """Whether ``reply`` answers ``frame``: its error or result names it, or it is the pong or a decision."""
    try:
        sent_id = json.loads(frame).get("id") if isinstance(frame, str) else None
    except (ValueError, AttributeError):
        sent_id = None
    if reply.type in ("error", "result"):
        return reply.ref == sent_id or reply.ref is None
    return reply.type in ("pong", "decision")


async def _sync(ws: Any, received: list[m.Message]) -> None:
    """Everything the hub sent for the frames before a ping of ours (frames are handled in order)."""
    marker = f"sync-{new_id()}"
    await ws.send(encode(m.Ping(id=marker, ts=now())))
    while True:
        reply = await recv(ws, timeout=10)
        if reply.type == "pong" and reply.ref == marker:
            return
        received.append(reply)


def test_fuzzed_frames_are_each_answered_and_never_crash_a_connection(tmp_path):
    rng = random.Random(SEED)  # noqa: S311 - a seeded, reproducible fuzz, nothing secret

    async def scenario():
        hub = running_hub(tmp_path, max_errors_per_min=10_000, heartbeat_timeout_s=60, signals={"default_mode": "auto"})
        async with hub as (url, made, _gateway, _store, _guardian):
            async with connect(url) as dash, connect(url) as nt8:
                await login(dash, made["dash"])
                await login(nt8, made["nt8"])
                unanswered = []
                for n in range(FRAMES):
                    frame = mutate(rng, rng.choice(DASHBOARD_TEMPLATES), n)
                    await dash.send(frame)
                    received: list[m.Message] = []
                    await _sync(dash, received)
                    if not any(answers(reply, frame) for reply in received):
                        unanswered.append((frame, [r.type for r in received]))
                    executor_frame = mutate(rng, rng.choice(EXECUTOR_TEMPLATES), 10_000 + n)
                    await nt8.send(executor_frame)
                    reports: list[m.Message] = []
                    await _sync(nt8, reports)
                    if not isinstance(decode(executor_frame), m.Message):  # a bad report gets its error
                        assert any(r.type == "error" for r in reports), executor_frame
                assert not unanswered, unanswered[:5]
                # a binary frame: refused with the documented close (1003), no 1011 anywhere
                await dash.send(b'{"v": 1, "type": "ping", "id": "bin", "ts": "2026-12-01T15:00:00Z"}')
                _received, code = await until_closed(dash)
                assert code == 1003
                await _sync(nt8, [])  # the other connection lives on

    asyncio.run(scenario())
