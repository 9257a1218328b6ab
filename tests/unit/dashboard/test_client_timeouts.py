"""A command the hub does not answer in time is 'perhaps done', never 'not done'; a read that times out is the
hub not answering."""

from __future__ import annotations

import socket
import threading

import pytest

from enigma_apex.dashboard.client import HubAPI, HubError


@pytest.fixture
def silent_server():
    """Accepts connections and reads, never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held = []

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def test_a_command_without_an_answer_is_unknown_and_a_read_is_not(silent_server):
    with HubAPI(silent_server, "t", timeout_s=0.2, command_timeout_s=0.3) as api:
        with pytest.raises(HubError) as command:
            api.post("/api/v1/signals/x/approve", {})
        assert command.value.unknown and "may still have done it" in command.value.detail
        with pytest.raises(HubError) as read:
            api.get("/api/v1/accounts")
        assert not read.value.unknown and "does not answer" in read.value.detail
