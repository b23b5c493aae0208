"""`kmsd dev`: one command, then both vendors' SDKs take their credential from the environment
it wrote (the SDKs' own environment providers, no other step); no rate limits; a temporary store
removed at exit, or `--persist DIR` across runs; never beyond loopback."""

import base64
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from huaweicloudsdkcore.auth.provider import EnvCredentialProvider
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkkms.v2 import KmsClient as HuaweiKmsClient
from huaweicloudsdkkms.v2 import model as hm
from tencentcloud.common.credential import EnvironmentVariableCredential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.kms.v20190118 import kms_client

from conftest import KMSD_BIN, ROOT, b64, call, expect_error, free_port, make_client


class DevServer:
    def __init__(self, cwd, *args):
        self.cwd, self.port = cwd, free_port()
        self.env_file = cwd / "kmsd-dev.env"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
        self.log = open(cwd / f"dev-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [KMSD_BIN, "dev", "--listen", f"127.0.0.1:{self.port}", *args], cwd=cwd, env=env,
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        # The banner comes once the server serves.
        self.banner = [self.proc.stdout.readline() for _ in range(8)]
        assert self.banner[0].startswith("kmsd dev is serving"), self.banner

    def environment(self):
        """The env file, as a test runner or `source` would load it."""
        pairs = [line.split("=", 1) for line in self.env_file.read_text().splitlines()
                 if line and not line.startswith("#")]
        return dict(pairs)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code

    def data_dir(self):
        text = (self.cwd / f"dev-{self.port}.log").read_text()
        return Path(re.search(r"data_dir=(\S+)", text).group(1))


@pytest.fixture
def sdk_env(monkeypatch):
    """Loads a dev server's env file into this process's environment."""
    def load(server):
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
    return load


def tencent_from_env():
    endpoint = os.environ["KMSD_ENDPOINT"]
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=endpoint, protocol="http"))
    return kms_client.KmsClient(EnvironmentVariableCredential().get_credential(),
                                os.environ["TENCENTCLOUD_REGION"], profile)


def huawei_from_env():
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    return (HuaweiKmsClient.new_builder().with_http_config(config)
            .with_credentials(EnvCredentialProvider.get_basic().get_credentials())
            .with_endpoints([f"http://{os.environ['KMSD_ENDPOINT']}"]).build())


def test_both_sdks_work_from_the_env_file_alone(tmp_path, sdk_env):
    server = DevServer(tmp_path)
    try:
        sdk_env(server)
        assert server.environment()["KMSD_ENDPOINT"] == f"127.0.0.1:{server.port}"
        assert "AKIDkmsddev000000000000000000000000" in server.banner[1]
        kms = tencent_from_env()
        key = call(kms, "CreateKey", Alias="dev-key").KeyId
        blob = call(kms, "Encrypt", KeyId=key, Plaintext=b64(b"dev mode")).CiphertextBlob
        hw = huawei_from_env()
        # The same key through the other dialect: the Huawei SDK decrypts the Tencent blob.
        answer = hw.decrypt_data(hm.DecryptDataRequest(body=hm.DecryptDataRequestBody(
            cipher_text=blob)))
        assert answer.key_id == key
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"dev mode"
        # No rate limit: a burst well past Tencent's documented 150/s for GenerateRandom.
        for _ in range(400):
            call(kms, "GenerateRandom", NumberOfBytes=8)
        assert requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).text == "ok"
        data_dir = server.data_dir()
        assert data_dir.is_dir()
    finally:
        assert server.stop() == 0
    assert not data_dir.exists(), "the temporary store is removed at exit"


def test_persist_keeps_keys_and_the_credential(tmp_path, sdk_env):
    store = tmp_path / "store"
    first = DevServer(tmp_path, "--persist", str(store))
    try:
        sdk_env(first)
        kms = tencent_from_env()
        key = call(kms, "CreateKey", Alias="kept").KeyId
        blob = call(kms, "Encrypt", KeyId=key, Plaintext=b64(b"across runs")).CiphertextBlob
        assert "kept across runs" in "".join(first.banner)
    finally:
        assert first.stop() == 0
    assert (store / "root.key").exists()
    second = DevServer(tmp_path, "--persist", str(store))
    try:
        sdk_env(second)
        kms = tencent_from_env()
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"across runs"
        assert [k.KeyId for k in call(kms, "ListKeys").Keys] == [key]
    finally:
        assert second.stop() == 0


def test_dev_mode_never_listens_beyond_loopback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    done = subprocess.run([KMSD_BIN, "dev", "--listen", f"0.0.0.0:{free_port()}"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "loopback only" in done.stderr, done.stderr
    assert not (tmp_path / "kmsd-dev.env").exists()


FIXTURES = ROOT / "examples" / "fixtures.toml"
ORDERS, SCRATCH, MAC, BYOK, SIGNING, RETIRED = (
    f"5f0a3c1e-7b2d-4e8f-9a61-0c3b5d7e9f2{i}" for i in range(1, 7))


def fixture_run(tmp_path, sdk_env, *args):
    """A fresh dev server (a new temporary store) with the example fixtures."""
    server = DevServer(tmp_path, "--fixtures", str(FIXTURES), *args)
    sdk_env(server)
    return server, tencent_from_env()


def test_fixtures_make_the_same_keys_in_every_run(tmp_path, sdk_env):
    saved = {}
    for run in range(2):
        server, kms = fixture_run(tmp_path, sdk_env)
        try:
            keys = {k.KeyId: k for k in call(kms, "ListKeyDetail", KeyUsage="ALL", Limit=100).KeyMetadatas}
            assert set(keys) == {ORDERS, SCRATCH, MAC, BYOK, SIGNING}, "ap-shanghai holds the sixth"
            assert (keys[ORDERS].Alias, keys[ORDERS].Description, keys[ORDERS].KeyState) == \
                ("orders", "order records", "Enabled")
            assert keys[BYOK].Origin == "EXTERNAL" and keys[BYOK].KeyState == "Enabled"
            assert keys[SIGNING].KeyUsage == "ASYMMETRIC_SIGN_VERIFY_ECC"
            shanghai = make_region_client("ap-shanghai")
            retired = call(shanghai, "DescribeKey", KeyId=RETIRED).KeyMetadata
            assert (retired.Alias, retired.KeyState) == ("retired", "Disabled")

            mac = huawei_from_env().generate_mac(hm.GenerateMacRequest(body=hm.GenerateMacRequestBody(
                key_id=MAC, mac_algorithm="HMAC_SHA_256", message=b64(b"webhook body")))).mac
            public = call(kms, "GetPublicKey", KeyId=SIGNING).PublicKey
            blobs = {k: call(kms, "Encrypt", KeyId=k, Plaintext=b64(f"run {run} {k}".encode())).CiphertextBlob
                     for k in (ORDERS, BYOK)}
            assert call(kms, "Encrypt", KeyId=ORDERS, Plaintext=b64(f"run {run} {ORDERS}".encode())) \
                .CiphertextBlob != blobs[ORDERS], "nonces stay random"
            if run == 0:
                saved = {"mac": mac, "public": public, "blobs": blobs}
            else:
                # A fresh store, the same keys: what the first run made still opens.
                assert mac == saved["mac"]
                assert public == saved["public"]
                for key, blob in saved["blobs"].items():
                    answer = call(kms, "Decrypt", CiphertextBlob=blob)
                    assert (answer.KeyId, base64.b64decode(answer.Plaintext)) == \
                        (key, f"run 0 {key}".encode())
        finally:
            assert server.stop() == 0


def make_region_client(region):
    endpoint = os.environ["KMSD_ENDPOINT"]
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=endpoint, protocol="http"))
    return kms_client.KmsClient(EnvironmentVariableCredential().get_credential(), region, profile)


def test_the_console_shows_the_fixture_keys_to_the_well_known_credential(tmp_path, sdk_env):
    server, _ = fixture_run(tmp_path, sdk_env)
    try:
        url = re.search(r"web console\s+(\S+)", "".join(server.banner)).group(1)
        env = server.environment()
        session = requests.Session()
        answer = session.post(url + "/login", data={
            "kind": "credential", "secret_id": env["TENCENTCLOUD_SECRET_ID"],
            "secret_key": env["TENCENTCLOUD_SECRET_KEY"]})
        assert answer.url.endswith("/console/keys")
        assert ORDERS in answer.text and "orders" in answer.text
    finally:
        server.stop()


def test_a_persisted_store_keeps_what_tests_changed_in_fixture_keys(tmp_path, sdk_env):
    store = tmp_path / "store"
    server, kms = fixture_run(tmp_path, sdk_env, "--persist", str(store))
    try:
        call(kms, "DisableKey", KeyId=ORDERS)
    finally:
        assert server.stop() == 0
    server, kms = fixture_run(tmp_path, sdk_env, "--persist", str(store))
    try:
        assert call(kms, "DescribeKey", KeyId=ORDERS).KeyMetadata.KeyState == "Disabled"
        assert call(kms, "ListKeys", Limit=100).TotalCount == 5
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("fixture, message", [
    ('[[keys]]\nid = "nope"\nalias = "a"\n', "line 2"),
    ('[[keys]]\nid = "00000000-0000-4000-8000-000000000001"\nalias = "a"\nspec = "Hmac256"\n',
     "keys[0] (a): a Hmac256 key cannot be used for EncryptDecrypt"),
    ('[[keys]]\nid = "00000000-0000-4000-8000-000000000001"\nalias = "a"\norigin = "External"\n',
     "keys[0] (a): an External key needs its material"),
    ('[[keys]]\nid = "00000000-0000-4000-8000-000000000001"\nalias = "a"\nmaterial = "AAAA"\n',
     "keys[0] (a): a Aes256 key's material is 32 bytes, not 3"),
    ('[[keys]]\nid = "00000000-0000-4000-8000-000000000001"\nalias = "a"\nspec = "Rsa2048"\n'
     'usage = "SignVerify"\nmaterial = "AAAA"\n',
     "keys[0] (a): the key material is not valid"),
    ('[[keys]]\nid = "00000000-0000-4000-8000-000000000001"\nalias = "bad alias!"\n',
     "keys[0] (bad alias!): alias must be"),
    ('[[data_keys]]\nid = "00000000-0000-4000-8000-000000000009"\nname = "d"\n'
     'key = "00000000-0000-4000-8000-000000000001"\nplaintext = "AAAA"\n',
     "data_keys[0] (d): key 00000000-0000-4000-8000-000000000001 is not among the fixture's keys"),    ('[[users]]\nid = "100000000101"\nname = "u"\npolicies = ["missing"]\n',
     'users[0] (u): policy "missing" is not among the fixture\'s policies of its account'),
    ('[[users]]\nid = "u1"\nname = "u"\n', "users[0] (u): id must be 1 to 20 digits"),
    ('[[users]]\nid = "1"\nname = "u"\nsecret_id = "AKIDx"\n',
     "users[0] (u): give secret_id and secret_key together, or neither"),
    ('[[accounts]]\nuin = 5\nsecret_id = "AKIDa"\nsecret_key = "k"\nproject_id = "XYZ"\n',
     "accounts[0] (5): project_id must be 32 lowercase hex characters"),
    ('[[keys]]\nid = "00000000-0000-4000-8000-000000000001"\nalias = "a"\naccount = 7\n',
     "keys[0] (a): account 7 is not among the fixture's accounts"),
    ('[[policies]]\nname = "p"\nlanguage = "cam"\ndocument = "{not json"\n',
     "policies[0] (p): the policy document is not valid JSON"),
    ('[[policies]]\nname = "p"\nlanguage = "cam"\ndocument = \'{"version": "2.0", "statement": 5}\'\n',
     "policies[0] (p): the policy document is refused"),
])
def test_bad_fixtures_refuse_the_start_and_say_where(tmp_path, fixture, message):
    refuse_start(tmp_path, fixture, message)


def refuse_start(tmp_path, fixture, message):
    path = tmp_path / "fixtures.toml"
    path.write_text(fixture)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    # A refused fixture must stop the start; should it not, the server would serve on.
    done = subprocess.run([KMSD_BIN, "dev", "--listen", f"127.0.0.1:{free_port()}",
                           "--fixtures", str(path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert message in done.stderr, done.stderr
    assert f"fixtures {path}" in done.stderr, done.stderr
    assert "kmsd dev is serving" not in done.stdout


def reset(server, token=None):
    if token is None:
        token_file = re.search(r"admin token\s+(\S+)", "".join(server.banner)).group(1)
        token = Path(token_file).read_text().strip()
    return requests.post(f"http://127.0.0.1:{server.port}/admin/v1/dev/reset",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_reset_restores_the_fixtures_between_test_cases(tmp_path, sdk_env):
    server, kms = fixture_run(tmp_path, sdk_env)
    try:
        blob = call(kms, "Encrypt", KeyId=ORDERS, Plaintext=b64(b"before the reset")).CiphertextBlob
        # What a test case leaves behind: a key of its own, a hosted data key, a fixture key
        # disabled and another scheduled for deletion, a key in another region.
        extra = call(kms, "CreateKey", Alias="left-behind").KeyId
        call(kms, "GenerateDataKey", KeyId=ORDERS, NumberOfBytes=32, IsHostedByKms=1,
             DataKeyName="left-behind-data")
        call(kms, "DisableKey", KeyId=ORDERS)
        call(kms, "DisableKey", KeyId=SCRATCH)
        call(kms, "ScheduleKeyDeletion", KeyId=SCRATCH, PendingWindowInDays=7)
        call(make_region_client("ap-beijing"), "CreateKey", Alias="far-away")

        answer = reset(server)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"KeysDeleted": 8, "DataKeysDeleted": 2, "FixtureKeysMade": 7}

        ids = [k.KeyId for k in call(kms, "ListKeys", Limit=100).Keys]
        assert sorted(ids) == sorted([ORDERS, SCRATCH, MAC, BYOK, SIGNING])
        assert extra not in ids
        assert call(kms, "DescribeKey", KeyId=ORDERS).KeyMetadata.KeyState == "Enabled"
        assert call(kms, "DescribeKey", KeyId=SCRATCH).KeyMetadata.KeyState == "Enabled"
        assert [d.DataKeyId for d in call(kms, "ListDataKeys").DataKeys] == [ORDERS_DEK]
        assert call(make_region_client("ap-beijing"), "ListKeys").TotalCount == 0
        # The alias is free again, and the fixed material opens what was sealed before.
        call(kms, "CreateKey", Alias="left-behind")
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == \
            b"before the reset"

        refused = reset(server, token="not-the-token")
        assert refused.status_code == 401, refused.text
    finally:
        assert server.stop() == 0


def test_only_dev_mode_resets(server):
    token = (server.data_dir / "admin-token").read_text().strip()
    answer = requests.post(server.url + "/admin/v1/dev/reset",
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NotFound"


TENANT_KEY = "5f0a3c1e-7b2d-4e8f-9a61-0c3b5d7e9f27"
ORDERS_DEK = "5f0a3c1e-7b2d-4e8f-9a61-0c3b5d7e9f31"
DEK_PLAINTEXT = "DhAnumePYBpxvQ0SqbNiA9JY3gTIt+cX4iFTOmNkaGI="


def client_as(secret_id, secret_key, region="ap-guangzhou"):
    return make_client(os.environ["KMSD_ENDPOINT"], region=region, secret_id=secret_id,
                       secret_key=secret_key)


def test_fixture_principals_sign_in_with_their_fixed_credentials(tmp_path, sdk_env):
    blobs = []
    for run in range(2):
        server, kms = fixture_run(tmp_path, sdk_env)
        try:
            # The user may encrypt and decrypt, as its policy says, and nothing else.
            app = client_as("AKIDkmsdfixtureappserver000000000000", "fixtureAppServerSecretKey0000000")
            blob = call(app, "Encrypt", KeyId=ORDERS, Plaintext=b64(b"from the app")).CiphertextBlob
            assert base64.b64decode(call(app, "Decrypt", CiphertextBlob=blob).Plaintext) == b"from the app"
            expect_error("UnauthorizedOperation", app, "CreateKey", Alias="not-allowed")
            # The tenant account sees its own key only, whose ciphertext opens in every run.
            tenant = client_as("AKIDkmsdfixturetenant000000000000000", "fixtureTenantSecretKey0000000000")
            assert [k.KeyId for k in call(tenant, "ListKeys").Keys] == [TENANT_KEY]
            expect_error("ResourceUnavailable.CmkNotFound", tenant, "DescribeKey", KeyId=ORDERS)
            blobs.append(call(tenant, "Encrypt", KeyId=TENANT_KEY, Plaintext=b64(b"tenant")).CiphertextBlob)
            for earlier in blobs:
                assert base64.b64decode(call(tenant, "Decrypt", CiphertextBlob=earlier).Plaintext) == b"tenant"
            # A reset empties the root account's regions, not the tenant's nor its principals.
            assert reset(server).json()["FixtureKeysMade"] == 7
            assert call(app, "DescribeKey", KeyId=ORDERS).KeyMetadata.Alias == "orders"
            assert [k.KeyId for k in call(tenant, "ListKeys").Keys] == [TENANT_KEY]
        finally:
            assert server.stop() == 0


def test_fixture_data_keys_hold_the_same_plaintext_in_every_run(tmp_path, sdk_env):
    for _ in range(2):
        server, kms = fixture_run(tmp_path, sdk_env)
        try:
            metadata = call(kms, "DescribeDataKey", DataKeyId=ORDERS_DEK).DataKeyMetadata
            assert (metadata.DataKeyName, metadata.KeyId, metadata.NumberOfBytes, metadata.Origin) == \
                ("orders-dek", ORDERS, 32, "EXTERNAL")
            assert call(kms, "GetDataKeyPlaintext", DataKeyId=ORDERS_DEK).Plaintext == DEK_PLAINTEXT
        finally:
            assert server.stop() == 0
