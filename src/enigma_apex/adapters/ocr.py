"""Screen capture (mss) and OCR engines (RapidOCR, Tesseract) for the AlgoBox Enigma reader.

RapidOCR runs recognition only on the configured panel crop (its text detector upscales a thin strip to
hundreds of pixels and costs ~1 s; the crop is already one text line): ~30-40 ms a frame, models shipped in
the wheel, no system install. Tesseract runs through ``pytesseract`` (one process per frame, ~130 ms) on the
crop's brightest channel, contrast-stretched, inverted and scaled to ~90 px high.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageOps


class OCRError(Exception):
    """The screen could not be read (capture or engine failure)."""


class Engine(Protocol):
    name: str

    def read(self, image: Image.Image) -> str: ...


class RapidOCREngine:
    name = "rapidocr"

    def __init__(self) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise OCRError(f"rapidocr is not installed: {exc}") from None
        params = {"Global.use_det": False, "Global.use_cls": False, "Global.log_level": "critical"}
        self._engine = RapidOCR(params=params)
        self._lock = threading.Lock()  # one inference at a time per engine

    def read(self, image: Image.Image) -> str:
        array = np.asarray(image.convert("RGB"))
        with self._lock:
            try:
                output = self._engine(array, use_det=False, use_cls=False, use_rec=True)
            except Exception as exc:  # noqa: BLE001 - any engine failure is a failed frame
                raise OCRError(f"rapidocr failed: {exc}") from None
        texts = getattr(output, "txts", None) or ()
        return " ".join(str(t) for t in texts)


class TesseractEngine:
    name = "tesseract"

    def __init__(self, command: Path | None = None) -> None:
        try:
            import pytesseract
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise OCRError(f"pytesseract is not installed: {exc}") from None
        if command is not None:
            pytesseract.pytesseract.tesseract_cmd = str(command)
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # tesseract's OpenMP doubles the time on small crops
        self._tesseract = pytesseract
        try:
            pytesseract.get_tesseract_version()
        except Exception as exc:  # noqa: BLE001 - not installed or not on PATH
            raise OCRError(f"tesseract is not available ({exc}); install it or set ocr.tesseract_cmd") from None

    @staticmethod
    def prepare(image: Image.Image, height: int = 90) -> Image.Image:
        bright = Image.fromarray(np.asarray(image.convert("RGB")).max(axis=2))
        grey = ImageOps.invert(ImageOps.autocontrast(bright, cutoff=1))
        scale = max(1.0, height / grey.height)
        return grey.resize((round(grey.width * scale), round(grey.height * scale)), Image.Resampling.LANCZOS)

    def read(self, image: Image.Image) -> str:
        try:
            text = self._tesseract.image_to_string(self.prepare(image), config="--psm 7", timeout=5)
        except Exception as exc:  # noqa: BLE001 - any engine failure is a failed frame
            raise OCRError(f"tesseract failed: {exc}") from None
        return str(text).strip()


def make_engine(name: str, tesseract_cmd: Path | None = None) -> Engine:
    if name == "tesseract":
        return TesseractEngine(tesseract_cmd)
    return RapidOCREngine()


class ScreenCapture:
    """Grabs one screen region with mss (the mss object lives in the thread that grabs)."""

    def __init__(self, left: int, top: int, width: int, height: int, monitor: int = 1) -> None:
        self.region = {"left": left, "top": top, "width": width, "height": height}
        self.monitor = monitor
        self._local = threading.local()

    def _mss(self) -> Any:
        grabber = getattr(self._local, "mss", None)
        if grabber is None:
            import mss

            factory = getattr(mss, "MSS", None) or mss.mss
            grabber = self._local.mss = factory()
        return grabber

    def grab(self) -> Image.Image:
        try:
            grabber = self._mss()
            monitors = grabber.monitors
            if self.monitor >= len(monitors):
                raise OCRError(f"monitor {self.monitor} does not exist ({len(monitors) - 1} found)")
            base = monitors[self.monitor]
            region = {
                "left": base["left"] + self.region["left"],
                "top": base["top"] + self.region["top"],
                "width": self.region["width"],
                "height": self.region["height"],
            }
            shot = grabber.grab(region)
        except OCRError:
            raise
        except Exception as exc:  # noqa: BLE001 - no display, region off screen, permission
            raise OCRError(f"screen capture failed: {exc}") from None
        return Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")
