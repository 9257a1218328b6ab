"""The OCR engine in a child process of its own.

RapidOCR's ONNX sessions take a couple of hundred MB and their threads: in a child process that memory and CPU are
not the hub's, the models are loaded once (when the child starts) and kept, and a crash of the engine cannot take
the hub with it. The hub sends a frame (mode, size, raw pixels) over a pipe and gets the text back. A child found
dead when a frame is sent is replaced and the frame sent once more; a child that does not answer in time is
stopped and the frame fails with ``OCRError`` (the reader counts a failed frame), and the next frame starts a fresh
child. ``spawn`` everywhere, so it behaves the same on Windows.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from PIL import Image

from enigma_apex.adapters.ocr import OCRError, make_engine

START_TIMEOUT_S = 60.0  # loading the models on a slow machine
READ_TIMEOUT_S = 5.0


def _serve(conn: Connection, name: str, tesseract_cmd: str | None) -> None:
    """The child: load the engine once, then answer frames until the pipe closes."""
    try:
        engine = make_engine(name, Path(tesseract_cmd) if tesseract_cmd else None)
    except OCRError as exc:
        conn.send((False, str(exc)))
        return
    conn.send((True, "ready"))
    while True:
        try:
            mode, size, data = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send((True, engine.read(Image.frombytes(mode, size, data))))
        except OCRError as exc:
            conn.send((False, str(exc)))
        except Exception as exc:  # noqa: BLE001 - any failure is this frame's, answered; the child goes on
            conn.send((False, f"{name} failed: {exc.__class__.__name__}: {exc}"))


class ProcessEngine:
    """An ``Engine`` whose reads run in a child process (one at a time)."""

    def __init__(
        self,
        name: str,
        tesseract_cmd: Path | None = None,
        *,
        read_timeout_s: float = READ_TIMEOUT_S,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.tesseract_cmd = tesseract_cmd
        self.read_timeout_s = read_timeout_s
        self.start_timeout_s = start_timeout_s
        self.starts = 0
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else int(self._process.pid)

    def read(self, image: Image.Image) -> str:
        frame = (image.mode, image.size, image.tobytes())
        with self._lock:
            try:
                ok, value = self._ask(frame)
            except (EOFError, OSError):  # the child had died since the last frame: a fresh one, this frame once more
                self._stop()
                try:
                    ok, value = self._ask(frame)
                except (EOFError, OSError) as exc:
                    self._stop()
                    raise OCRError(f"the {self.name} engine's process ended ({exc.__class__.__name__})") from None
        if not ok:
            raise OCRError(str(value))
        return str(value)

    def _ask(self, frame: tuple[str, tuple[int, int], bytes]) -> tuple[bool, str]:
        conn = self._running()
        conn.send(frame)
        if not conn.poll(self.read_timeout_s):
            self._stop()
            raise OCRError(f"the {self.name} engine did not answer within {self.read_timeout_s:g} s")
        ok, value = conn.recv()
        return bool(ok), str(value)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _running(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._conn is not None:
            return self._conn
        self._stop()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        cmd = str(self.tesseract_cmd) if self.tesseract_cmd else None
        process = context.Process(target=_serve, args=(child, self.name, cmd), name="enigma-apex-ocr", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        self.starts += 1
        try:
            ready = parent.poll(self.start_timeout_s)
            ok, detail = parent.recv() if ready else (False, f"not ready within {self.start_timeout_s:g} s")
        except (EOFError, OSError) as exc:
            ok, detail = False, f"it ended while starting ({exc.__class__.__name__})"
        if not ok:
            self._stop()
            raise OCRError(f"the {self.name} engine could not start: {detail}")
        return parent

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(0.5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(2)
            self._process = None


__all__ = ["ProcessEngine"]
