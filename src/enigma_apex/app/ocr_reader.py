"""The AlgoBox Enigma screen reader: capture → colour + OCR → reading → two-frame stability → signal.

Frames are grabbed in a worker thread at ``ocr.rate_hz``; a frame whose pixels are those of the last one read (a
BLAKE2 digest of the raw pixels, microseconds) keeps the last reading, so an unchanging screen costs a grab and a
hash, not an OCR pass. The engine runs in a child process by default (``adapters/ocr_process.py``). A reading stable
over ``stable_frames`` frames becomes one signal (source ``algobox``) for the pipeline; the same Enigma staying on
screen is not sent again. When the capture or the engine fails ``UNHEALTHY_AFTER`` frames in a row the reader
reports itself unhealthy (a component-health row and a critical alert telling the trader to use manual entry) and
keeps trying; the first good frame reports it healthy again.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog
from PIL import Image

from enigma_apex.adapters.ocr import Engine, OCRError, ScreenCapture, make_engine
from enigma_apex.adapters.store import repository
from enigma_apex.adapters.store.store import Store
from enigma_apex.config.models import OCRSection
from enigma_apex.domain.clock import Clock
from enigma_apex.domain.events import ComponentHealth
from enigma_apex.domain.instruments import INSTRUMENTS
from enigma_apex.domain.signals import Direction, Signal, SignalSource
from enigma_apex.domain.symbols import front_contract
from enigma_apex.intake.algobox import EnigmaReading, StabilityFilter, colour_of, compile_patterns, parse_reading

log = structlog.get_logger("enigma_apex.ocr")
UNHEALTHY_AFTER = 3


def read_image(image: Image.Image, engine: Engine, cfg: OCRSection) -> EnigmaReading:
    """One frame: its colour from the pixels, its fields from the engine's text."""
    colour = colour_of(np.asarray(image.convert("RGB")))
    return parse_reading(engine.read(image), colour, compile_patterns(cfg.patterns))


def signal_from_reading(reading: EnigmaReading, cfg: OCRSection, clock: Clock, signal_id: str) -> Signal | None:
    """The signal a stable reading stands for, or None when the configured filters drop it."""
    if cfg.min_power is not None and (reading.power is None or reading.power < cfg.min_power):
        return None
    if cfg.min_confluence is not None and (reading.confluence is None or reading.confluence < cfg.min_confluence):
        return None
    if cfg.require_price and reading.price is None:
        return None
    now = clock.now()
    root = reading.symbol if reading.symbol in INSTRUMENTS else cfg.symbol.upper()
    contract = front_contract(INSTRUMENTS[root], now.date())
    direction = Direction.LONG if reading.direction == "long" else Direction.SHORT
    price = reading.price
    if price is not None:
        tick = contract.spec.tick_size
        price = (price / tick).to_integral_value() * tick  # a misread last digit must not make an off-tick price
    stop = None
    if price is not None and cfg.stop_ticks is not None:
        offset = contract.spec.tick_size * cfg.stop_ticks
        stop = price - offset if direction is Direction.LONG else price + offset
    extra = [("colour", reading.colour.value), ("strong", "yes" if reading.colour.strong else "no")]
    if reading.macvu is not None:
        extra.append(("trend", reading.macvu))
    return Signal(
        signal_id=signal_id,
        source=SignalSource.ALGOBOX,
        contract=contract,
        direction=direction,
        received_at=now,
        entry=price,
        stop=stop,
        group=cfg.group,
        power=reading.power,
        confluence=reading.confluence,
        note=reading.text[:500],
        extra=tuple(extra),
    )


@dataclass
class ReaderStatus:
    healthy: bool = True
    frames: int = 0
    failures: int = 0
    reads: int = 0  # frames the engine read (the others showed the pixels already read)
    consecutive_failures: int = 0
    signals: int = 0
    last_error: str | None = None
    last_reading: dict[str, Any] | None = None
    frame_ms: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        recent = sorted(self.frame_ms[-200:])
        return {
            "healthy": self.healthy,
            "frames": self.frames,
            "reads": self.reads,
            "failures": self.failures,
            "signals": self.signals,
            "last_error": self.last_error,
            "last_reading": self.last_reading,
            "frame_ms_p50": round(recent[len(recent) // 2], 2) if recent else None,
        }


class EnigmaReader:
    def __init__(
        self,
        cfg: OCRSection,
        clock: Clock,
        store: Store,
        submit: Callable[[Signal, str], Awaitable[Any]],
        grab: Callable[[], Image.Image] | None = None,
        engine: Engine | None = None,
        on_health: Callable[[bool, str], None] | None = None,
    ) -> None:
        self.on_health = on_health  # the hub's component view (/health): degraded while reads fail
        self.cfg = cfg
        self.clock = clock
        self.store = store
        self.submit = submit
        region = cfg.region
        self.grab = grab or ScreenCapture(region.left, region.top, region.width, region.height, cfg.monitor).grab
        self._engine = engine
        self.filter = StabilityFilter(cfg.stable_frames)
        self.status = ReaderStatus()
        self._last: tuple[bytes, EnigmaReading] | None = None  # the last frame read: its pixels' digest, its reading

    def engine(self) -> Engine:
        if self._engine is None:
            if self.cfg.engine_process:
                from enigma_apex.adapters.ocr_process import ProcessEngine

                engine = ProcessEngine(self.cfg.engine, self.cfg.tesseract_cmd)
                engine.read(Image.new("RGB", (8, 8)))  # the child starts and loads its models now, not on a signal
                self._engine = engine
            else:
                self._engine = make_engine(self.cfg.engine, self.cfg.tesseract_cmd)
        return self._engine

    def frame(self) -> EnigmaReading:
        """Grab and read one frame (blocking: run it in a worker thread). Pixels already read keep their reading."""
        image = self.grab()
        digest = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        if self._last is not None and self._last[0] == digest:
            return self._last[1]
        reading = read_image(image, self.engine(), self.cfg)
        self.status.reads += 1
        self._last = (digest, reading)
        return reading

    def close(self) -> None:
        """Stop the engine's child process, if it has one."""
        close = getattr(self._engine, "close", None)
        if close is not None:
            close()

    async def step(self) -> Signal | None:
        """One frame through the filter; the signal it produced (already submitted), if any."""
        started = time.perf_counter()
        try:
            reading = await asyncio.to_thread(self.frame)
        except OCRError as exc:
            await self._failed(str(exc))
            return None
        self.status.frame_ms.append((time.perf_counter() - started) * 1000)
        del self.status.frame_ms[:-1000]
        self.status.frames += 1
        self.status.last_reading = reading.as_dict()
        if not self.status.healthy:
            await self._health(True, "reading the screen again")
        self.status.consecutive_failures = 0
        stable = self.filter.feed(reading)
        if stable is None:
            return None
        signal = signal_from_reading(stable, self.cfg, self.clock, repository.new_id())
        if signal is None:
            log.info("ocr.filtered", reading=stable.as_dict())
            return None
        self.status.signals += 1
        dedup = f"ocr:{self.clock.now().strftime('%Y%m%dT%H%M%S')}:{hash(stable.key) & 0xFFFFFFFF:08x}"
        log.info("ocr.signal", signal=signal.signal_id, reading=stable.as_dict())
        await self.submit(signal, dedup)
        return signal

    async def run(self) -> None:
        period = 1.0 / float(self.cfg.rate_hz)
        try:
            while True:
                started = time.perf_counter()
                try:
                    await self.step()
                except Exception as exc:
                    log.exception("ocr.step_failed", error=str(exc))
                await asyncio.sleep(max(0.0, period - (time.perf_counter() - started)))
        finally:
            await asyncio.to_thread(self.close)

    async def _failed(self, error: str) -> None:
        self.status.failures += 1
        self.status.consecutive_failures += 1
        self.status.last_error = error
        if self.status.healthy and self.status.consecutive_failures >= UNHEALTHY_AFTER:
            await self._health(False, error)

    async def _health(self, healthy: bool, detail: str) -> None:
        self.status.healthy = healthy
        if self.on_health is not None:
            self.on_health(healthy, detail)
        event = ComponentHealth("ocr", "ok" if healthy else "down", detail[:500], self.clock.now())
        message = (
            "AlgoBox screen reader recovered"
            if healthy
            else f"AlgoBox screen reader failing ({detail[:300]}); enter signals by hand (CLI, dashboard, API)"
        )

        def op(ctx: Any) -> None:
            repository.record_component_health(ctx, event)
            repository.record_alert(ctx, severity="info" if healthy else "critical", kind="ocr.health", message=message)

        await self.store.writer.write_async(op)
        (log.info if healthy else log.error)("ocr.health", healthy=healthy, detail=detail)
