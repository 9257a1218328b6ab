"""``bench ocr``: read the rendered Enigma panel set with an engine; field accuracy and time per frame."""

from __future__ import annotations

import time
from typing import Any

from enigma_apex.adapters.ocr import make_engine
from enigma_apex.app.ocr_reader import read_image
from enigma_apex.bench.ocr_panels import Panel, panel_set
from enigma_apex.bench.stats import summary_ms
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


def run(engine_name: str, count: int | None) -> dict[str, Any]:
    return score(panel_set(count), engine_name)
