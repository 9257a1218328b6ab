"""A loopback OpenAI-compatible chat-completions server: the model behind ``bench pipeline`` and the analyst's
tests (real HTTP, the real ``openai`` SDK on the other side).

``behaviour`` is set per test: ``good``, ``slow`` (holds the request until the test ends), ``malformed``
(content that is not JSON), ``schema`` (JSON outside the answer schema), ``refusal`` (the model refuses),
``429`` and ``500`` (HTTP errors). Every request body is kept in ``requests``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD = {"score": 82, "action": "take", "confidence": 0.64, "reasons": ["with the trend", "L3 confluence"]}


class LoopbackModel:
    def __init__(self) -> None:
        self.behaviour = "good"
        self.answer: dict[str, Any] = dict(GOOD)
        self.delay = 0.0  # seconds the good answer waits (the bench's 200 ms model)
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        if self.server is None:
            raise RuntimeError("the loopback model is not running")
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


def completion(content: str | None, refusal: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 1_780_000_000,
        "model": "loopback",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 412, "completion_tokens": 37, "total_tokens": 449},
    }


@contextmanager
def loopback_model() -> Iterator[LoopbackModel]:
    state = LoopbackModel()

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            mode = state.behaviour
            if mode == "slow":
                state.release.wait(30)
            elif state.delay:
                threading.Event().wait(state.delay)
            if mode in ("429", "500"):
                self._send(int(mode), {"error": {"message": "loopback says no", "type": "server_error"}})
            elif mode == "malformed":
                self._send(200, completion('{"score": 80, "action": "take", '))
            elif mode == "schema":
                self._send(200, completion(json.dumps({**GOOD, "score": 150, "action": "double"})))
            elif mode == "refusal":
                self._send(200, completion(None, refusal="I cannot help with trading."))
            else:
                self._send(200, completion(json.dumps(state.answer)))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
