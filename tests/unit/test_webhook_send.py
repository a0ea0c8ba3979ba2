"""One webhook attempt against real local servers on 127.0.0.1: the total deadline holds against
a receiver that drips its answer, addresses are tried in the resolver's order with fallback,
internal addresses are refused at the resolve-and-check step (no connection made), and an
answer with NUL bytes is stored safely."""

import asyncio
import socket
import threading
import time

import pytest

from shared import webhook_client as webhook

LOOPBACK = ["127.0.0.0/8", "::1/128"]


class SlowServer:
    """A raw TCP server on 127.0.0.1 that answers each connection with ``script(conn)``."""

    def __init__(self, script):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.script, self.connections = script, 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.recv(65536)
            self.script(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.sock.close()


def drip(conn):
    for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok":
        conn.sendall(bytes([byte]))
        time.sleep(0.25)


def nul_answer(conn):
    conn.sendall(b"HTTP/1.1 500 Oops\r\ncontent-length: 9\r\n\r\nbad\x00\x1f\x8b\x08zz")


def send(url, deadline=2.0, allowed=LOOPBACK, lookup=None):
    async def attempt():
        session = webhook.make_session(allowed, deadline)
        if lookup:
            session.connector._resolver = webhook.CheckedResolver(allowed, lookup)
        try:
            body = b'{"type":"story.published"}'
            return await webhook.send(session, url, body, {"content-type": "application/json"}, deadline)
        finally:
            await session.close()

    return asyncio.run(attempt())


@pytest.fixture
def server(request):
    made = SlowServer(request.param)
    yield made
    made.close()


@pytest.mark.parametrize("server", [drip], indirect=True)
def test_a_dripping_receiver_cannot_hold_an_attempt_past_its_deadline(server):
    started = time.monotonic()
    result = send(f"http://127.0.0.1:{server.port}/hook", deadline=1.0)
    assert time.monotonic() - started < 2.0  # the drip would take ~10 s
    assert result.status_code is None and "deadline" in result.error


@pytest.mark.parametrize("server", [nul_answer], indirect=True)
def test_an_answer_with_nul_bytes_is_stored_without_them(server):
    result = send(f"http://127.0.0.1:{server.port}/hook")
    assert result.status_code == 500
    assert "\x00" not in result.response_excerpt and result.response_excerpt.startswith("bad")


@pytest.mark.parametrize("server", [lambda conn: conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")], indirect=True)
def test_addresses_are_tried_in_resolver_order_with_fallback(server):
    async def dual_stack(host, port, family):  # the first address refuses connections
        return ["::1", "127.0.0.1"] if host == "dual.example" else []

    result = send(f"http://dual.example:{server.port}/hook", lookup=dual_stack)
    assert result.status_code == 204, result.error


@pytest.mark.parametrize("address", ["10.0.0.7", "169.254.169.254", "192.168.1.20", "fe80::1", "64:ff9b::a00:7"])
def test_internal_addresses_are_refused_before_any_connection(address):
    async def lookup(host, port, family):
        return [address]

    result = send("http://rebound.example:8080/hook", allowed=[], lookup=lookup)
    assert result.status_code is None
    assert "private/loopback/link-local" in result.error


def test_a_plain_answer_goes_through():
    server = SlowServer(lambda conn: conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"))
    try:
        result = send(f"http://127.0.0.1:{server.port}/hook")
    finally:
        server.close()
    assert result.ok and result.response_excerpt == "ok"
