"""`/metrics` after real calls of both SDKs: request counts by code, errors by code, a latency
histogram per dialect and action whose buckets add up to the answers counted, and a Grafana
dashboard that asks only for what the server exposes."""

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import requests

from conftest import KmsdProcess, b64, call, create_key, expect_error
from huawei import expect, huawei_client, m, new_key

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "kmsd-dashboard.json"
SAMPLE = re.compile(r'^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$')


@pytest.fixture(scope="module")
def proc():
    server = KmsdProcess().start()
    yield server
    server.cleanup()


def samples(proc):
    """Every sample of `/metrics`: (name, labels as a dict, value)."""
    answer = requests.get(proc.url + "/metrics", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = []
    for line in answer.text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        out.append((match["name"], labels, float(match["value"])))
    return out, answer.text


@pytest.fixture(scope="module")
def traffic(proc):
    """Calls of both dialects, some refused."""
    kms = proc.client()
    key = create_key(kms).KeyId
    for _ in range(5):
        blob = call(kms, "Encrypt", KeyId=key, Plaintext=b64(b"metrics")).CiphertextBlob
        call(kms, "Decrypt", CiphertextBlob=blob)
    call(kms, "DisableKey", KeyId=key)
    for _ in range(3):
        expect_error("ResourceUnavailable.CmkDisabled", kms, "Encrypt", KeyId=key,
                     Plaintext=b64(b"x"))
    expect_error("ResourceUnavailable.CmkDisabled", kms, "GenerateDataKey", KeyId=key,
                 KeySpec="AES_256")
    hw = huawei_client(proc.endpoint)
    hw_key = new_key(hw)
    hw.create_datakey(m.CreateDatakeyRequest(body=m.CreateDatakeyRequestBody(
        key_id=hw_key, datakey_length="256")))
    expect(404, "KMS.0207", hw.list_key_detail, m.ListKeyDetailRequest(
        body=m.OperateKeyRequestBody(key_id="0d0466b0-e727-4d9c-b35d-f84bb474a37f")))
    return key


def test_requests_and_errors_are_counted_by_code(proc, traffic):
    found, text = samples(proc)
    requests_total = {(s[1]["dialect"], s[1]["action"], s[1]["code"]): s[2]
                      for s in found if s[0] == "kmsd_requests_total"}
    assert requests_total[("tencent", "Encrypt", "ok")] == 5
    assert requests_total[("tencent", "Encrypt", "ResourceUnavailable.CmkDisabled")] == 3
    assert requests_total[("tencent", "Decrypt", "ok")] == 5
    assert requests_total[("huawei", "CreateDatakey", "ok")] == 1
    errors = {(s[1]["dialect"], s[1]["code"]): s[2] for s in found
              if s[0] == "kmsd_request_errors_total"}
    assert errors[("tencent", "ResourceUnavailable.CmkDisabled")] == 4, "Encrypt 3 and GenerateDataKey 1"
    assert errors[("huawei", "KMS.0207")] == 1
    assert not [k for k in errors if k[1] == "ok"]
    # Errors by code are the requests of every action answered with that code.
    by_code = defaultdict(float)
    for (dialect, _, code), n in requests_total.items():
        if code != "ok":
            by_code[(dialect, code)] += n
    assert dict(by_code) == errors


def test_latency_histograms_add_up_to_the_answers(proc, traffic):
    found, _ = samples(proc)
    answers = defaultdict(float)
    for name, labels, value in found:
        if name == "kmsd_requests_total":
            answers[(labels["dialect"], labels["action"])] += value
    buckets = defaultdict(list)
    counts, sums = {}, {}
    for name, labels, value in found:
        series = (labels.get("dialect"), labels.get("action"))
        if name == "kmsd_request_duration_seconds_bucket":
            buckets[series].append((float(labels["le"]), value))
        elif name == "kmsd_request_duration_seconds_count":
            counts[series] = value
        elif name == "kmsd_request_duration_seconds_sum":
            sums[series] = value
    assert set(buckets) == set(counts) == set(sums) == set(answers)
    assert ("tencent", "Encrypt") in buckets and ("huawei", "CreateDatakey") in buckets
    for series, bounds in buckets.items():
        assert [b for b, _ in bounds] == sorted(b for b, _ in bounds), series
        assert bounds[-1][0] == float("inf"), series
        values = [v for _, v in bounds]
        assert values == sorted(values), f"{series}: buckets are cumulative"
        assert values[-1] == counts[series] == answers[series], series
        assert sums[series] > 0, series
    assert counts[("tencent", "Encrypt")] == 8


def dashboard_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs and all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
    return {name for e in exprs for name in re.findall(r"\bkmsd_[a-z_]+", e)}


def test_the_dashboard_asks_for_metrics_the_server_exposes(proc, traffic):
    _, text = samples(proc)
    exposed = set(re.findall(r"^# TYPE (kmsd_[a-z_]+) (\w+)", text, re.M))
    families = {name for name, _ in exposed}
    kinds = dict(exposed)
    for name in dashboard_metrics():
        if name.startswith("kmsd_store_"):
            # Exposed over PostgreSQL only (test_cluster.py reads them).
            continue
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert family in families, f"{name} is asked for by the dashboard but not exposed"
        if family != name:
            assert kinds[family] == "histogram", name
