"""OpenTelemetry traces (`--otel-endpoint`): a small OTLP/gRPC receiver stands in for the
collector; calls through the vendors' SDKs, the IAM token route and the admin API arrive as one
server span each, named and attributed as docs/observability.md says, continuing a caller's W3C
trace, and never carrying a secret. A collector that is down costs clients nothing, and without
the setting nothing is exported.
"""

import json
import threading
import time
import uuid
from concurrent import futures

import grpc
import pytest
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from conftest import (PROJECT_ID, SECRET_KEY, KmsdProcess, b64, call, create_key, expect_error,
                      free_port)
from huawei import describe, expect, huawei_client, new_key

# The export delay of the SDK's batch processor, in milliseconds (5 seconds by default).
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every ExportTraceServiceRequest it is sent."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def Export(self, request, context):
        with self.lock:
            self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self):
        """(resource attributes, span) of every span received."""
        with self.lock:
            return [(attributes(rs.resource), span)
                    for request in self.requests
                    for rs in request.resource_spans
                    for ss in rs.scope_spans
                    for span in ss.spans]

    def wait_for_request_ids(self, request_ids, timeout=10):
        """The spans of these request ids, once all of them arrived."""
        deadline = time.time() + timeout
        while True:
            found = {attributes(span).get("kmsd.request_id"): (resource, span)
                     for resource, span in self.spans()}
            if all(rid in found for rid in request_ids) or time.time() > deadline:
                missing = [rid for rid in request_ids if rid not in found]
                assert not missing, f"no span for {missing}; got {sorted(k for k in found if k)}"
                return {rid: found[rid] for rid in request_ids}
            time.sleep(0.05)

    def raw(self):
        with self.lock:
            return b"".join(r.SerializeToString() for r in self.requests)

    def stop(self):
        self.server.stop(0)


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attributes(holder):
    return {kv.key: value(kv.value) for kv in holder.attributes}


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.stop()


def traced_server(endpoint, env=None):
    return KmsdProcess(extra_args=["--otel-endpoint", endpoint],
                       env={**FAST_EXPORT, **(env or {})}).start()


def admin_token(server):
    return (server.data_dir / "admin-token").read_text().strip()


def test_calls_of_every_dialect_arrive_as_spans_without_secrets(collector):
    server = traced_server(collector.endpoint, env={"OTEL_SERVICE_NAME": "kms-otel-test"})
    try:
        kms = server.client()
        plaintext = b"otel plaintext " + uuid.uuid4().hex.encode()
        created = create_key(kms, Description="traced")
        key_id = created.KeyId
        encrypted = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(plaintext))
        call(kms, "DisableKey", KeyId=key_id)
        refused = expect_error("ResourceUnavailable.CmkDisabled", kms, "Decrypt",
                               CiphertextBlob=encrypted.CiphertextBlob)
        call(kms, "EnableKey", KeyId=key_id)

        # A caller's trace continues through kmsd.
        trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        continued = kms.call_json("Encrypt", {"KeyId": key_id, "Plaintext": b64(plaintext)},
                                  headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
        continued_id = continued["Response"]["RequestId"]

        hw = huawei_client(server.endpoint)
        hw_key = new_key(hw)
        missing = expect(404, "KMS.0207", describe, hw, str(uuid.uuid4()))

        password = "otel-password-" + uuid.uuid4().hex
        token = requests.post(server.url + "/v3/auth/tokens", data=json.dumps({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "nobody", "password": password, "domain": {"name": "100000000001"}}}},
            "scope": {"project": {"id": PROJECT_ID}}}}),
            headers={"Content-Type": "application/json"}, timeout=10)
        assert token.status_code == 401
        token_id = token.headers["X-Request-Id"]

        status = requests.get(server.url + "/admin/v1/seal-status", timeout=5,
                              headers={"Authorization": f"Bearer {admin_token(server)}"})
        assert status.status_code == 200
        admin_id = status.headers["X-Request-Id"]

        ids = {
            "create": created.RequestId,
            "encrypt": encrypted.RequestId,
            "refused": refused.requestId,
            "continued": continued_id,
            "missing": missing.request_id,
            "token": token_id,
            "admin": admin_id,
        }
        spans = collector.wait_for_request_ids(list(ids.values()))
        by = {name: spans[rid] for name, rid in ids.items()}

        expected = {
            "create": ("tencent CreateKey", "tencent", "CreateKey", "ok", 200),
            "encrypt": ("tencent Encrypt", "tencent", "Encrypt", "ok", 200),
            "refused": ("tencent Decrypt", "tencent", "Decrypt",
                        "ResourceUnavailable.CmkDisabled", 200),
            "continued": ("tencent Encrypt", "tencent", "Encrypt", "ok", 200),
            "missing": ("huawei ListKeyDetail", "huawei", "ListKeyDetail", "KMS.0207", 404),
            "token": ("huawei KeystoneCreateUserTokenByPassword", "huawei",
                      "KeystoneCreateUserTokenByPassword", None, 401),
            "admin": ("admin SealStatus", "admin", "SealStatus", "ok", 200),
        }
        for name, (span_name, dialect, action, code, http_status) in expected.items():
            resource, span = by[name]
            attrs = attributes(span)
            assert span.name == span_name, name
            assert span.kind == trace_pb2.Span.SPAN_KIND_SERVER, name
            assert attrs["kmsd.dialect"] == dialect, name
            assert attrs["kmsd.action"] == action, name
            if code is not None:
                assert attrs["kmsd.code"] == code, name
            else:
                assert attrs["kmsd.code"] != "ok", name
            assert attrs["http.response.status_code"] == http_status, name
            assert attrs["kmsd.request_id"] == ids[name]
            assert span.start_time_unix_nano <= span.end_time_unix_nano
            assert resource["service.name"] == "kms-otel-test"

        # Signed calls name the account (the root account, the key's creator) and the key.
        uin = str(call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.CreatorUin)
        for name in ("create", "encrypt", "refused", "continued", "missing"):
            assert attributes(by[name][1])["kmsd.account"] == uin, name
        assert attributes(by["encrypt"][1])["kmsd.resources"] == [key_id]
        assert attributes(by["admin"][1]).get("kmsd.account") is None

        # The caller's traceparent: same trace, its span is the parent.
        continued_span = by["continued"][1]
        assert continued_span.trace_id.hex() == trace_id
        assert continued_span.parent_span_id.hex() == parent_id
        # Without one, each call is a trace of its own.
        assert by["encrypt"][1].parent_span_id == b""
        assert by["encrypt"][1].trace_id != by["create"][1].trace_id
        # kmsd's own failures only are errors; a refusal is the client's.
        assert by["refused"][1].status.code == trace_pb2.Status.STATUS_CODE_UNSET

        assert hw_key in {r for _, s in collector.spans()
                          for r in attributes(s).get("kmsd.resources", [])}

        raw = collector.raw()
        for secret in (plaintext, b64(plaintext).encode(), SECRET_KEY.encode(), password.encode(),
                       encrypted.CiphertextBlob.encode(), admin_token(server).encode()):
            assert secret not in raw
    finally:
        server.cleanup()


def test_a_collector_that_is_down_costs_clients_nothing():
    # Nothing listens there; the setting comes from the environment this time.
    closed = f"http://127.0.0.1:{free_port()}"
    server = KmsdProcess(env={**FAST_EXPORT, "KMSD_OTEL_ENDPOINT": closed}).start()
    try:
        kms = server.client()
        key_id = create_key(kms).KeyId
        slowest = 0.0
        began = time.monotonic()
        for i in range(100):
            t = time.monotonic()
            blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"%d" % i)).CiphertextBlob
            assert call(kms, "Decrypt", CiphertextBlob=blob).Plaintext == b64(b"%d" % i)
            slowest = max(slowest, time.monotonic() - t)
        # Exports fail (and are retried) the whole time, on the exporter's thread.
        assert slowest < 1.0, slowest
        assert time.monotonic() - began < 15
        stopping = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - stopping < 8
    finally:
        server.cleanup()


def test_without_the_setting_nothing_is_exported(collector):
    # The SDK's own endpoint variable does not turn traces on: only --otel-endpoint does.
    server = KmsdProcess(env={**FAST_EXPORT, "KMSD_OTEL_ENDPOINT": None,
                              "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                              "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint}).start()
    try:
        kms = server.client()
        key_id = create_key(kms).KeyId
        call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(b"x"))
        time.sleep(1.5)
        assert server.stop() == 0
        assert collector.spans() == []
    finally:
        server.cleanup()
