"""Connection limits: slow or idle clients are cut off, header sizes and connection counts are
bounded, and the server keeps serving everybody else."""

import json
import socket
import time

import pytest
import requests

from conftest import KmsdProcess, tc3_headers, tc3_post


@pytest.fixture(scope="module")
def strict():
    proc = KmsdProcess(extra_args=["--header-timeout-secs", "1", "--body-timeout-secs", "1",
                                   "--max-connections", "4"]).start()
    yield proc
    proc.cleanup()


def connect(proc):
    return socket.create_connection(("127.0.0.1", proc.port), timeout=10)


def read_all(sock, deadline=6):
    """Everything the server sends until it closes the connection (or `deadline` seconds)."""
    sock.settimeout(deadline)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def test_headers_must_arrive_in_time(strict):
    with connect(strict) as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        started = time.time()
        answer = read_all(slow)
        assert time.time() - started < 5, "the connection was cut off by the header timeout"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
    assert "Keys" in tc3_post(strict.endpoint, "ListKeys", {})


def test_idle_keep_alive_connections_are_closed(strict):
    payload = b"{}"
    h = tc3_headers(strict.endpoint, "ListKeys", payload)
    head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    with connect(strict) as idle:
        idle.sendall(f"POST / HTTP/1.1\r\n{head}Content-Length: 2\r\n\r\n".encode() + payload)
        started = time.time()
        answer = read_all(idle)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert b'"Keys"' in answer
        assert time.time() - started < 5, "the idle connection was closed"


def test_oversized_headers_are_refused(strict):
    r = requests.get(strict.url + "/", headers={"X-Filler": "a" * 70_000}, timeout=10)
    assert r.status_code == 431
    assert "Keys" in tc3_post(strict.endpoint, "ListKeys", {})


def test_a_body_must_arrive_in_time(strict):
    payload = b'{"Limit": 1}'
    h = tc3_headers(strict.endpoint, "ListKeys", payload)
    head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    with connect(strict) as slow:
        slow.sendall(f"POST / HTTP/1.1\r\n{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload[:3])
        answer = read_all(slow)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    error = json.loads(body)["Response"]["Error"]
    assert error["Code"] == "InvalidParameter"
    assert "did not arrive" in error["Message"]


def test_connections_are_bounded_and_freed(strict):
    held = [connect(strict) for _ in range(4)]
    try:
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1024)
        # Every permit is held by an open keep-alive connection: a fifth client waits.
        with pytest.raises(requests.exceptions.Timeout):
            requests.get(strict.url + "/healthz", timeout=0.5)
        held.pop().close()
        assert requests.get(strict.url + "/healthz", timeout=5).text == "ok"
    finally:
        for s in held:
            s.close()
    # Connections the clients closed have given their permits back.
    assert requests.get(strict.url + "/healthz", timeout=5).text == "ok"


def test_idle_connections_give_their_permits_back(strict):
    held = [connect(strict) for _ in range(4)]
    try:
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1024)
        # The clients keep their connections open but idle: the server closes them within two
        # header timeouts (1 s here), and a new client is served.
        assert requests.get(strict.url + "/healthz", timeout=4).text == "ok"
        assert all(read_all(s, deadline=1) == b"" for s in held), "the idle connections were closed"
    finally:
        for s in held:
            s.close()


def test_limits_must_be_positive(tmp_path):
    proc = KmsdProcess(data_dir=tmp_path / "data", extra_args=["--max-connections", "0"])
    with pytest.raises(RuntimeError, match="--max-connections must be at least 1"):
        proc.start()
    proc.stop()
    assert not (tmp_path / "data").exists()
