"""What a request costs before its signature is checked: linear time and bounded memory, whatever
it says. Each request here is hand-made as an attacker would make it, with a known SecretId and
no secret; each gets the vendor's code at once and the server's peak memory does not move."""

from pathlib import Path

import pytest
import requests

from conftest import SECRET_ID, tc3_headers, tc3_post
from test_hostile_input import alive
from test_transport import check_envelope, error_code


def peak_rss_bytes(server):
    """The server's peak resident memory so far (Linux: VmHWM)."""
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")


def with_signed_headers(server, signed_headers, extra_headers=None):
    """A TC3 POST whose Authorization names `signed_headers`, with a signature that cannot verify."""
    h = tc3_headers(server.endpoint, "ListKeys", b"{}")
    scope = h["Authorization"].split("Credential=")[1].split(",")[0]
    h["Authorization"] = f"TC3-HMAC-SHA256 Credential={scope}, SignedHeaders={signed_headers}, Signature={'0' * 64}"
    h.update(extra_headers or {})
    return h


@needs_proc
def test_one_large_header_signed_thousands_of_times(server):
    """The reproduction: `SignedHeaders` naming a 24 KB header 8,000 times once built 192 MB of
    canonical request, twice, per request (0.7 s, 417 MB)."""
    big = {"a": "x" * (24 * 1024)}
    h = with_signed_headers(server, "content-type;host" + ";a" * 8000, big)
    assert sum(len(k) + len(v) for k, v in h.items()) < 60 * 1024, "fits the server's header limit"
    before = peak_rss_bytes(server)
    for _ in range(5):
        r = requests.post(server.url + "/", data=b"{}", headers=h, timeout=30)
        response = check_envelope(r)
        assert error_code(response) == "AuthFailure.InvalidAuthorization"
        assert "more than once" in response["Error"]["Message"]
    grown = peak_rss_bytes(server) - before
    assert grown < 32 * 1024 * 1024, f"peak memory grew by {grown} bytes"
    alive(server)


@pytest.mark.parametrize("signed_headers", [
    "content-type;host;host",
    "content-type;host;Host",
    "content-type;host;content-type",
    ";".join(["content-type", "host"] + [f"x-h{i}" for i in range(63)]),
    "content-type;;host",
])
def test_signed_headers_named_twice_empty_or_too_many(server, signed_headers):
    h = with_signed_headers(server, signed_headers)
    response = check_envelope(requests.post(server.url + "/", data=b"{}", headers=h, timeout=10))
    assert error_code(response) == "AuthFailure.InvalidAuthorization"


def test_authorization_parts_given_twice(server):
    h = tc3_headers(server.endpoint, "ListKeys", b"{}")
    authorization = h["Authorization"]
    for part in ["Credential", "SignedHeaders", "Signature"]:
        value = authorization.split(f"{part}=")[1].split(",")[0]
        h["Authorization"] = f"{authorization}, {part}={value}"
        response = check_envelope(requests.post(server.url + "/", data=b"{}", headers=h, timeout=10))
        assert error_code(response) == "AuthFailure.InvalidAuthorization", part


def test_a_large_signed_header_named_once_is_merely_checked(server):
    """Within the bounds nothing changes: an honest client may sign a header of its own."""
    big = {"x-big": "y" * (32 * 1024)}
    h = with_signed_headers(server, "content-type;host;x-big", big)
    response = check_envelope(requests.post(server.url + "/", data=b"{}", headers=h, timeout=10))
    assert error_code(response) == "AuthFailure.SignatureFailure"


def test_legacy_get_with_too_many_parameters(server):
    """The legacy signature sorts every parameter: their number is bounded in the query string as
    it is in a form body."""
    query = "&".join(f"P{i}=1" for i in range(1200))
    r = requests.get(f"{server.url}/?Action=ListKeys&SecretId={SECRET_ID}&{query}", timeout=10)
    response = check_envelope(r)
    assert error_code(response) == "InvalidParameter"
    assert "1000" in response["Error"]["Message"]
    alive(server)


def test_signed_requests_still_work(server):
    assert "Keys" in tc3_post(server.endpoint, "ListKeys", {})
