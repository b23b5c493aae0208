"""Starts the real kmsd and hands tests clients of the official Tencent Cloud SDK.

The binary is target/release/kmsd unless KMSD_BIN names another. Each test module shares one
server (fresh data directory); tests that restart or kill a server start their own with
`KmsdProcess`.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.kms.v20190118 import kms_client, models

ROOT = Path(__file__).resolve().parents[2]
KMSD_BIN = os.environ.get("KMSD_BIN", str(ROOT / "target" / "release" / "kmsd"))
SECRET_ID = "AKIDconformance0000000000000000000000"
SECRET_KEY = "conformanceSecretKey0000000000000"
PROJECT_ID = "0123456789abcdef0123456789abcdef"
REGION = "ap-guangzhou"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KmsdProcess:
    """One kmsd process over a data directory that outlives restarts."""

    def __init__(self, data_dir=None, extra_args=(), env=None):
        """`env` overrides the server's environment; a value of None removes the variable."""
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="kmsd-test-"))
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.port = None
        self.proc = None
        self.log_path = self.data_dir.parent / (self.data_dir.name + ".log")

    @property
    def endpoint(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.endpoint}"

    def start(self, ready_status=200):
        """Starts the server and waits until /healthz answers `ready_status` (503 for a server
        that starts sealed)."""
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "KMSD_ROOT_SECRET_ID": SECRET_ID,
            "KMSD_ROOT_SECRET_KEY": SECRET_KEY,
            "KMSD_ROOT_PROJECT_ID": PROJECT_ID,
            "KMSD_LOG": "info",
            # Suites pace nothing; test_rate_limits.py starts servers with limits of its own.
            "KMSD_RATE_LIMIT": "0",
        })
        env.update(self.extra_env)
        for name in [k for k, v in env.items() if v is None]:
            del env[name]
        args = [KMSD_BIN, "serve", "--listen", self.endpoint, "--data-dir", str(self.data_dir)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args + self.extra_args, env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kmsd exited with {self.proc.returncode}; log: {self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == ready_status:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("kmsd did not become healthy")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def kill(self):
        return self.stop(signal.SIGKILL)

    def client(self, region=REGION, sign_method=None, req_method="POST", secret_id=SECRET_ID, secret_key=SECRET_KEY):
        return make_client(self.endpoint, region, sign_method, req_method, secret_id, secret_key)

    def cleanup(self):
        """Stops the server and removes its data and log (KMSD_KEEP_LOGS=1 keeps the log)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if not os.environ.get("KMSD_KEEP_LOGS"):
            self.log_path.unlink(missing_ok=True)


def make_client(endpoint, region=REGION, sign_method=None, req_method="POST", secret_id=SECRET_ID, secret_key=SECRET_KEY):
    http = HttpProfile(endpoint=endpoint, protocol="http", reqMethod=req_method)
    profile = ClientProfile(httpProfile=http)
    if sign_method:
        profile.signMethod = sign_method
    return kms_client.KmsClient(credential.Credential(secret_id, secret_key), region, profile)


@pytest.fixture(scope="module")
def server():
    proc = KmsdProcess().start()
    yield proc
    proc.cleanup()


@pytest.fixture(scope="module")
def kms(server):
    """A TC3-signing SDK client of the root account in ap-guangzhou."""
    return server.client()


@pytest.fixture
def fresh_server():
    """A server of the test's own, for restarts and kills."""
    proc = KmsdProcess()
    yield proc
    proc.cleanup()


def call(client, action, **params):
    """Calls `action` with `params` through the SDK's own request model; returns the response model."""
    req = getattr(models, action + "Request")()
    req.from_json_string(json.dumps(params))
    return getattr(client, action)(req)


def expect_error(code, client, action, **params):
    """Asserts the call fails with exactly `code`; returns the SDK exception."""
    with pytest.raises(TencentCloudSDKException) as info:
        call(client, action, **params)
    assert info.value.code == code, f"{action}: expected {code}, got {info.value.code}: {info.value.message}"
    assert info.value.requestId, "every error carries a RequestId"
    return info.value


def unique_alias(prefix="k"):
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def create_key(client, **params):
    params.setdefault("Alias", unique_alias())
    return call(client, "CreateKey", **params)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tc3_headers(host, action, payload, *, secret_id=SECRET_ID, secret_key=SECRET_KEY,
                timestamp=None, region=REGION, version="2019-01-18"):
    """Headers of a TC3-signed JSON POST of `payload` (bytes) to `host`, computed independently of
    the SDK. `region=None` leaves X-TC-Region out."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    canonical = "\n".join([
        "POST", "/", "", f"content-type:application/json\nhost:{host}\n", "content-type;host",
        hashlib.sha256(payload).hexdigest(),
    ])
    scope = f"{date}/kms/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    k = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, b"kms", hashlib.sha256).digest()
    k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    h = {
        "Content-Type": "application/json",
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Version": version,
        "X-TC-Timestamp": str(timestamp),
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={sig}",
    }
    if region is not None:
        h["X-TC-Region"] = region
    return h


def tc3_post(endpoint, action, body, *, secret_id=SECRET_ID, secret_key=SECRET_KEY, region=REGION,
             version="2019-01-18", timestamp=None, host=None, headers=None, sign_body=None):
    """A hand-signed TC3 request, for tests that need to bend one part of it: `host` is the Host
    signed and sent, `sign_body` the body signed instead of the one sent. Returns the parsed
    `Response` object."""
    payload = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
    h = tc3_headers(host or endpoint, action, payload if sign_body is None else sign_body,
                    secret_id=secret_id, secret_key=secret_key, timestamp=timestamp,
                    region=region, version=version)
    h.update(headers or {})
    r = requests.post(f"http://{endpoint}/", data=payload, headers=h, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    return r.json()["Response"]
