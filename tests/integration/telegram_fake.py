"""A loopback Telegram Bot API for the Telegram control tests, built from the Bot API's published reference
(https://core.telegram.org/bots/api). python-telegram-bot's ``base_url`` points at it.

What it imitates, each from that page:
- "Making requests": every method is ``POST <base>/bot<token>/<method>``; parameters as form fields (objects such as
  ``reply_markup`` JSON-encoded); the answer ``{"ok": true, "result": …}``, or ``{"ok": false, "error_code",
  "description"}`` with ``parameters.retry_after`` on 429 (ResponseParameters). A wrong token answers 401.
- ``getMe`` → a User with ``is_bot`` true.
- ``getUpdates`` (offset, timeout, allowed_updates): long polling; returns the updates with ``update_id`` ≥ offset,
  waiting up to ``timeout`` seconds for one; an offset confirms (forgets) every earlier update.
- ``sendMessage`` (chat_id, text, reply_markup) and ``editMessageText`` (chat_id, message_id, text, reply_markup)
  → the Message (message_id, date, chat, text); ``answerCallbackQuery`` (callback_query_id, text, show_alert) → true.
- Update objects: ``message`` (a Message from a user in a private chat) and ``callback_query`` (id, from,
  chat_instance, message, data) as a tap on an inline keyboard button sends them.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:TEST-token-for-the-loopback-bot-api"
BOT = {"id": 123456, "is_bot": True, "first_name": "Enigma-Apex", "username": "enigma_apex_test_bot"}


@dataclass
class Sent:
    method: str
    params: dict[str, Any]


@dataclass
class FakeBotApi:
    server: ThreadingHTTPServer
    updates: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Sent] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)  # method -> status codes to answer next
    next_update: int = 1
    next_message: int = 100
    cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/bot"

    # ------------------------------------------------------------------ what a user does
    def _user(self, chat: int) -> dict[str, Any]:
        return {"id": chat, "is_bot": False, "first_name": f"user{chat}"}

    def text(self, chat: int, text: str) -> None:
        """The user of a private chat sends a message."""
        with self.cond:
            message = {"message_id": self._message_id(), "date": int(time.time()), "chat": {"id": chat,
                       "type": "private"}, "from": self._user(chat), "text": text}  # fmt: skip
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            self._push({"message": message})

    def tap(self, chat: int, message: dict[str, Any], data: str) -> str:
        """The user taps an inline button of a message the bot sent; returns the callback query's id."""
        with self.cond:
            query_id = f"cq{self.next_update}"
            bot_message = {"message_id": message["message_id"], "date": message["date"], "chat": message["chat"],
                           "from": BOT, "text": message.get("text", "")}  # fmt: skip
            self._push({"callback_query": {"id": query_id, "from": self._user(chat), "chat_instance": f"ci{chat}",
                                           "message": bot_message, "data": data}})  # fmt: skip
            return query_id

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = self.next_update
        self.next_update += 1
        self.updates.append(update)
        self.cond.notify_all()

    def _message_id(self) -> int:
        self.next_message += 1
        return self.next_message

    # ------------------------------------------------------------------ what the tests read
    def sent(self, method: str, chat: int | None = None) -> list[dict[str, Any]]:
        with self.cond:
            return [c.params for c in self.calls if c.method == method and (chat is None or
                    int(c.params.get("chat_id", 0)) == chat)]  # fmt: skip

    def fail_next(self, method: str, *codes: int) -> None:
        with self.cond:
            self.failures.setdefault(method, []).extend(codes)

    # ------------------------------------------------------------------ the API
    def answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if token != TOKEN:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        with self.cond:
            self.calls.append(Sent(method, params))
            codes = self.failures.get(method)
            if codes:
                code = codes.pop(0)
                if code == 429:
                    return 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                 "parameters": {"retry_after": 1}}  # fmt: skip
                return code, {"ok": False, "error_code": code, "description": "Internal Server Error"}
        if method == "getMe":
            return 200, {"ok": True, "result": BOT}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        if method in ("sendMessage", "editMessageText"):
            with self.cond:
                message_id = int(params["message_id"]) if method == "editMessageText" else self._message_id()
            result = {"message_id": message_id, "date": int(time.time()), "from": BOT,
                      "chat": {"id": int(params["chat_id"]), "type": "private"}, "text": params.get("text", "")}  # fmt: skip
            if "reply_markup" in params:
                result["reply_markup"] = params["reply_markup"]
            return 200, {"ok": True, "result": result}
        if method in ("answerCallbackQuery", "deleteWebhook", "setMyCommands"):
            return 200, {"ok": True, "result": True}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0) or 0)
        wait = float(params.get("timeout", 0) or 0)
        deadline = time.monotonic() + wait
        with self.cond:
            if offset:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed: forgotten
            while not self.updates and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            return list(self.updates)

    def close(self) -> None:
        with self.cond:
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


def _handler(api: FakeBotApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            parts = path.strip("/").split("/")
            if len(parts) != 2 or not parts[0].startswith("bot"):
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if self.headers.get("Content-Type", "").startswith("application/json"):
                params = json.loads(body or "{}")
            else:
                params = {k: v[-1] for k, v in urllib.parse.parse_qs(body).items()}
                for key in ("reply_markup", "allowed_updates"):
                    if key in params:
                        params[key] = json.loads(params[key])
            status, answer = api.answer(parts[0][3:], parts[1], params)
            self._reply(status, answer)

        do_GET = do_POST  # noqa: N815 - the Bot API takes GET too

        def _reply(self, status: int, answer: dict[str, Any]) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def start() -> FakeBotApi:
    api = FakeBotApi(server=None)  # type: ignore[arg-type]
    api.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.server.daemon_threads = True
    threading.Thread(target=api.server.serve_forever, daemon=True).start()
    return api
