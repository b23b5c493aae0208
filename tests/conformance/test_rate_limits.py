"""Rate limits and fault mode, through both official SDKs.

Each test starts servers of its own with small limits; conftest's shared servers run unlimited.
Tencent answers a throttled call with RequestLimitExceeded in its envelope (HTTP 200), Huawei
with the API gateway's 429 APIG.0308. Budgets are per principal, action and region; only
authenticated calls spend one.
"""

import json
import time

import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ServerResponseException
from huaweicloudsdkcore.retry.backoff_strategy import BackoffStrategies
from huaweicloudsdkkms.v2 import model as m
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.retry import StandardRetryer

from conftest import KmsdProcess, call, create_key, expect_error, tc3_post
from huawei import expect, huawei_client

RATE = 5


def start(*args, data_dir=None):
    return KmsdProcess(data_dir=data_dir, extra_args=list(args)).start()


@pytest.fixture
def servers():
    started = []

    def make(*args, data_dir=None):
        proc = start(*args, data_dir=data_dir)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.cleanup()


def until_refused(fn, most=50):
    """Calls `fn` until it raises; returns how many calls passed and the exception."""
    for passed in range(most):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - the caller checks the SDK's exception type
            return passed, e
    pytest.fail(f"{most} calls passed without a refusal")


def tencent_random(kms):
    return lambda: call(kms, "GenerateRandom", NumberOfBytes=16)


def huawei_random(hw):
    body = m.GenRandomRequestBody(random_data_length="128")
    return lambda: hw.create_random(m.CreateRandomRequest(body=body))


def audit_records(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def metric(proc, name, dialect, code):
    text = requests.get(proc.url + "/metrics", timeout=5).text
    prefix = f'{name}{{dialect="{dialect}",code="{code}"}} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return int(lines[0].split()[-1]) if lines else 0


def test_tencent_budget_per_action_and_region_refills_and_is_audited(servers, tmp_path):
    audit = tmp_path / "audit.jsonl"
    proc = servers("--rate-limit", str(RATE), "--audit-log", str(audit))
    kms = proc.client()
    passed, refused = until_refused(tencent_random(kms))
    # A budget of one second's worth; a slow client earns a little more while it spends it.
    assert RATE <= passed <= 2 * RATE
    assert isinstance(refused, TencentCloudSDKException)
    assert refused.code == "RequestLimitExceeded" and refused.requestId
    # In the vendor's envelope with HTTP 200 (tc3_post checks the status).
    answers = [tc3_post(proc.endpoint, "GenerateRandom", {"NumberOfBytes": 16}) for _ in range(3)]
    assert any(a.get("Error", {}).get("Code") == "RequestLimitExceeded" and a["RequestId"]
               for a in answers)
    # Another action and another region have budgets of their own.
    call(kms, "ListKeys")
    call(proc.client(region="ap-shanghai"), "GenerateRandom", NumberOfBytes=16)
    time.sleep(1.1)
    for _ in range(RATE - 1):
        call(kms, "GenerateRandom", NumberOfBytes=16)
    assert metric(proc, "kmsd_throttled_total", "tencent", "RequestLimitExceeded") >= 2
    throttled = [r for r in audit_records(audit) if r["outcome"] == "RequestLimitExceeded"]
    assert len(throttled) >= 2
    assert all(r["action"] == "GenerateRandom" and r["account"] for r in throttled)


def test_huawei_budget_per_operation_apart_from_tencent(servers):
    proc = servers("--rate-limit", str(RATE))
    hw = huawei_client(proc.endpoint)
    passed, refused = until_refused(huawei_random(hw))
    assert RATE <= passed <= 2 * RATE
    assert (refused.status_code, refused.error_code) == (429, "APIG.0308"), refused.error_msg
    assert refused.request_id
    # Another operation and the other dialect have budgets of their own.
    hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody()))
    call(proc.client(), "GenerateRandom", NumberOfBytes=16)
    time.sleep(1.1)
    for _ in range(RATE - 1):
        huawei_random(hw)()
    assert metric(proc, "kmsd_throttled_total", "huawei", "APIG.0308") >= 1


def test_unauthenticated_flood_spends_no_budget(servers):
    proc = servers("--rate-limit", str(RATE))
    forger = proc.client(secret_key="not-the-key-0000000000000000000000")
    for _ in range(30):
        expect_error("AuthFailure.SignatureFailure", forger, "GenerateRandom", NumberOfBytes=16)
    kms = proc.client()
    for _ in range(RATE):
        call(kms, "GenerateRandom", NumberOfBytes=16)


def test_account_override_replaces_the_default(servers, tmp_path):
    audit = tmp_path / "audit.jsonl"
    first = servers("--audit-log", str(audit))
    call(first.client(), "ListKeys")
    account = audit_records(audit)[-1]["account"]
    first.stop()
    # Unlimited by default, three per second for this account.
    proc = servers("--rate-limit", "0", "--account-rate-limit", f"{account}=3", data_dir=first.data_dir)
    passed, refused = until_refused(tencent_random(proc.client()))
    assert 3 <= passed <= 6 and refused.code == "RequestLimitExceeded"
    proc.stop()
    # The vendors' defaults for everyone, none for this account.
    proc = servers("--account-rate-limit", f"{account}=0", data_dir=first.data_dir)
    hw = huawei_client(proc.endpoint)
    for _ in range(60):
        huawei_random(hw)()


def test_fault_mode_at_one_answers_every_call_and_changes_nothing(servers):
    proc = servers("--fault-rate", "1", "--fault-kinds", "throttle")
    kms, hw = proc.client(), huawei_client(proc.endpoint)
    for _ in range(5):
        expect_error("RequestLimitExceeded", kms, "CreateKey", Alias="faulted")
        expect(429, "APIG.0308", hw.create_key,
               m.CreateKeyRequest(body=m.CreateKeyRequestBody(key_alias="faulted-hw")))
    # Authentication still comes first.
    forger = proc.client(secret_key="not-the-key-0000000000000000000000")
    expect_error("AuthFailure.SignatureFailure", forger, "ListKeys")
    assert metric(proc, "kmsd_faults_injected_total", "huawei", "APIG.0308") == 5
    proc.stop()
    internal = servers("--fault-rate", "1", "--fault-kinds", "internal", data_dir=proc.data_dir)
    kms, hw = internal.client(), huawei_client(internal.endpoint)
    expect_error("InternalError", kms, "CreateKey", Alias="faulted")
    with pytest.raises(ServerResponseException) as info:
        hw.create_key(m.CreateKeyRequest(body=m.CreateKeyRequestBody(key_alias="faulted-hw")))
    assert (info.value.status_code, info.value.error_code) == (500, "KMS.0101")
    internal.stop()
    # No faulted call created anything.
    plain = servers("--fault-rate", "0", data_dir=proc.data_dir)
    kms = plain.client()
    assert call(kms, "ListKeys").TotalCount == 0
    hw = huawei_client(plain.endpoint)
    assert hw.list_keys(m.ListKeysRequest(body=m.ListKeysRequestBody())).total == 0
    # At a share of zero no call faults.
    for _ in range(20):
        create_key(kms)
    assert call(kms, "ListKeys").TotalCount == 20


class Retryer(StandardRetryer):
    """The SDK's StandardRetryer with its loop corrected: as shipped (tencentcloud-sdk-python
    3.x) it keeps the first attempt's error, so a call that succeeds on a retry is retried
    again and finally raises. The decision (`should_retry`: RequestLimitExceeded and network
    errors) and the back-off are the SDK's."""

    def send_request(self, fn):
        for n in range(self._max_attempts):
            try:
                return fn()
            except TencentCloudSDKException as e:
                if n + 1 == self._max_attempts or not self.should_retry(None, e):
                    raise
            time.sleep(self._backoff_fn(n))


def test_the_sdks_retry_logic_recovers_from_injected_faults(servers):
    proc = servers("--fault-rate", "0.3", "--fault-kinds", "throttle", "--rate-limit", "0")
    kms = proc.client()
    # The Tencent SDK's StandardRetryer retries RequestLimitExceeded (not InternalError); a
    # faulted call changed nothing, so retrying even CreateKey is safe.
    kms.profile.retryer = Retryer(max_attempts=12, backoff_fn=lambda n: 0.01)
    key_id = create_key(kms).KeyId
    for _ in range(30):
        blob = call(kms, "Encrypt", KeyId=key_id, Plaintext="aGVsbG8=").CiphertextBlob
        assert call(kms, "Decrypt", CiphertextBlob=blob).Plaintext == "aGVsbG8="
    assert metric(proc, "kmsd_faults_injected_total", "tencent", "RequestLimitExceeded") > 0
    assert call(kms, "ListKeys").TotalCount == 1
    proc.stop()

    # Huawei's SDK retries through the invoker's condition, here on 429 and 500.
    both = servers("--fault-rate", "0.3", "--rate-limit", "0", data_dir=proc.data_dir)
    hw = huawei_client(both.endpoint)

    def transient(response, exception):
        return exception is not None and exception.status_code in (429, 500)

    body = m.EncryptDataRequestBody(key_id=key_id, plain_text="hello")
    for _ in range(30):
        answer = (hw.encrypt_data_invoker(m.EncryptDataRequest(body=body))
                  .with_retry(transient, 10, BackoffStrategies.NONE)
                  .invoke())
        assert answer.cipher_text
    faults = (metric(both, "kmsd_faults_injected_total", "huawei", "APIG.0308")
              + metric(both, "kmsd_faults_injected_total", "huawei", "KMS.0101"))
    assert faults > 0
