"""``bench ocr``: read the rendered Enigma panel set with an engine; field accuracy and time per frame; and what the
screen reader costs the hub: CPU and memory on an unchanging screen, and how soon a changed panel is read.

The reader's costs are measured in a process of its own (spawned), standing for the hub: the reader as the hub runs
it, its engine in a child process, a screen that shows one panel; then the panel changes, alternating, and each
change is timed until the reader's reading shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from typing import Any

from enigma_apex.adapters.ocr import make_engine
from enigma_apex.app.ocr_reader import read_image
from enigma_apex.bench.ocr_panels import Panel, panel_set
from enigma_apex.bench.stats import process_cpu_s, process_rss_mb, summary_ms
from enigma_apex.config.models import OCRSection

FIELDS = ("colour", "direction", "power", "confluence", "macvu", "price", "symbol")
MACVU = {"BULL": "up", "BEAR": "down"}


def score(panels: list[Panel], engine_name: str, cfg: OCRSection | None = None) -> dict[str, Any]:
    """Read every panel; counts of correct fields (per field and overall), misses, and frame times."""
    cfg = cfg or OCRSection(engine=engine_name)
    started = time.perf_counter()
    engine = make_engine(engine_name, cfg.tesseract_cmd)
    init_s = time.perf_counter() - started
    engine.read(panels[0].image)  # the first call loads the model: not a frame time
    times: list[float] = []
    correct = dict.fromkeys(FIELDS, 0)
    misses: list[dict[str, Any]] = []
    for panel in panels:
        t0 = time.perf_counter()
        reading = read_image(panel.image, engine, cfg)
        times.append((time.perf_counter() - t0) * 1000)
        got = {
            "colour": reading.colour.value,
            "direction": reading.direction,
            "power": reading.power,
            "confluence": reading.confluence,
            "macvu": reading.macvu,
            "price": None if reading.price is None else f"{reading.price:.2f}",
            "symbol": reading.symbol,
        }
        truth = {**panel.truth(), "macvu": MACVU[panel.macvu]}
        wrong = [f for f in FIELDS if got[f] != truth[f]]
        for f in FIELDS:
            correct[f] += f not in wrong
        if wrong:
            misses.append(
                {
                    "text": panel.text,
                    "read": reading.text,
                    "wrong": wrong,
                    "font": panel.font,
                    "size": panel.size,
                    "noise": panel.noise,
                }
            )
    total = len(panels) * len(FIELDS)
    return {
        "engine": engine_name,
        "panels": len(panels),
        "fields": total,
        "fields_correct": sum(correct.values()),
        "field_accuracy": round(sum(correct.values()) / total, 4),
        "per_field": correct,
        "panels_all_correct": len(panels) - len(misses),
        "init_s": round(init_s, 3),
        "frame_ms": summary_ms(times),
        "misses": misses[:20],
    }


def run(engine_name: str, count: int | None, idle_s: float = 5.0, changes: int = 10) -> dict[str, Any]:
    results = score(panel_set(count), engine_name)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_reader_costs_child, args=(child, engine_name, idle_s, changes))
    process.start()
    child.close()
    try:
        if not parent.poll(idle_s + 180):
            raise RuntimeError("the screen reader's bench did not finish")
        results["reader"] = parent.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    return results


def _reader_costs_child(conn: Any, engine_name: str, idle_s: float, changes: int) -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    conn.send(asyncio.run(reader_costs(engine_name, idle_s, changes)))


async def reader_costs(engine_name: str, idle_s: float, changes: int) -> dict[str, Any]:
    """The reader as the hub runs it, on a screen showing one panel, then panels changing."""
    from enigma_apex.adapters.clock import SystemClock
    from enigma_apex.app.ocr_reader import EnigmaReader

    panels = panel_set(8)
    shown = [panels[0].image]
    cfg = OCRSection(engine=engine_name)

    async def submit(_signal: Any, _dedup: str) -> None:
        return None

    reader = EnigmaReader(cfg, SystemClock(), None, submit, grab=lambda: shown[0])  # type: ignore[arg-type]
    await asyncio.to_thread(reader.engine)  # the child started and its models loaded
    task = asyncio.create_task(reader.run())
    try:
        await asyncio.sleep(1.0)  # settled on the first panel
        child = getattr(reader.engine(), "pid", None)
        hub_cpu, child_cpu, wall = time.process_time(), process_cpu_s(child) if child else None, time.perf_counter()
        reads = reader.status.reads
        await asyncio.sleep(idle_s)
        wall = time.perf_counter() - wall
        idle = {
            "seconds": round(wall, 1),
            "hub_cpu_pct_of_a_core": round((time.process_time() - hub_cpu) / wall * 100, 2),
            "engine_cpu_pct_of_a_core": None
            if child_cpu is None or child is None
            else round(((process_cpu_s(child) or 0.0) - child_cpu) / wall * 100, 2),
            "engine_reads": reader.status.reads - reads,
            "frames": round(float(cfg.rate_hz) * wall),
        }
        latencies: list[float] = []
        for i in range(changes):
            before = reader.status.last_reading
            shown[0] = panels[1 + i % (len(panels) - 1)].image
            started = time.perf_counter()
            deadline = started + 10
            while reader.status.last_reading == before and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.3)
        return {
            "engine": engine_name,
            "engine_process": cfg.engine_process,
            "rate_hz": float(cfg.rate_hz),
            "idle": idle,
            "hub_rss_mb": process_rss_mb(os.getpid()),
            "engine_rss_mb": process_rss_mb(child) if child else None,
            "changed_panel_read_ms": {"changes": changes, **summary_ms(latencies, 1)},
            "targets": {"hub_rss_mb": 150, "idle_cpu_pct": 5, "changed_read_ms": 300},
        }
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
