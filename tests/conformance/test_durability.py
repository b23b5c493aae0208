"""Nothing acknowledged is lost: restarts, kill -9 in the middle of a write load, graceful
shutdown, and the root account's first-start bootstrap."""

import base64
import json
import os
import signal
import stat
import threading
import time

from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from conftest import SECRET_KEY, KmsdProcess, b64, call, create_key, expect_error, make_client


def test_keys_and_ciphertexts_survive_a_graceful_restart(fresh_server):
    kms = fresh_server.start().client()
    key = create_key(kms, Description="kept")
    blob = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"restart me")).CiphertextBlob
    call(kms, "RotateKey", KeyId=key.KeyId)
    assert fresh_server.stop() == 0, "SIGTERM exits 0 after finishing in-flight work"
    kms = fresh_server.start().client()
    assert call(kms, "DescribeKey", KeyId=key.KeyId).KeyMetadata.Description == "kept"
    assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == b"restart me"


def test_every_acknowledged_write_survives_kill_9(fresh_server):
    fresh_server.start()
    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n):
        kms = fresh_server.client()
        i = 0
        while not stop.is_set():
            i += 1
            try:
                key = call(kms, "CreateKey", Alias=f"crash-{n}-{i}").KeyId
                plaintext = os.urandom(16)
                blob = call(kms, "Encrypt", KeyId=key, Plaintext=b64(plaintext)).CiphertextBlob
                call(kms, "DisableKey", KeyId=key)
            except (TencentCloudSDKException, OSError):
                return  # the server died under us: this write was not acknowledged
            with lock:
                acknowledged.append((key, blob, plaintext))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    fresh_server.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert len(acknowledged) > 20, "the load ran long enough to matter"

    kms = fresh_server.start().client()
    listed = call(kms, "ListKeyDetail", Limit=200, KeyState=2)
    disabled = {m.KeyId for m in listed.KeyMetadatas}
    for key, blob, plaintext in acknowledged:
        assert key in disabled or call(kms, "DescribeKey", KeyId=key).KeyMetadata.KeyState == "Disabled"
        call(kms, "EnableKey", KeyId=key)
        assert base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob).Plaintext) == plaintext


def test_first_start_writes_root_credentials_once(tmp_path):
    unset = {"KMSD_ROOT_SECRET_ID": None, "KMSD_ROOT_SECRET_KEY": None, "KMSD_ROOT_PROJECT_ID": None}
    proc = KmsdProcess(data_dir=tmp_path / "data", env=unset).start()
    try:
        path = proc.data_dir / "root-credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        creds = json.loads(path.read_text())
        assert creds["secret_id"].startswith("AKID") and len(creds["secret_key"]) >= 32
        assert len(creds["project_id"]) == 32 and int(creds["project_id"], 16) >= 0
        kms = make_client(proc.endpoint, secret_id=creds["secret_id"], secret_key=creds["secret_key"])
        create_key(kms)
        expect_error("AuthFailure.SecretIdNotFound", proc.client(), "ListKeys")
        assert proc.stop() == 0
        before = path.read_bytes()

        # Later starts ignore the environment: the store is the source of truth.
        proc.extra_env = {"KMSD_ROOT_SECRET_ID": "AKIDother0000000000000000000000000000",
                          "KMSD_ROOT_SECRET_KEY": "otherSecret"}
        proc.start()
        assert path.read_bytes() == before
        kms = make_client(proc.endpoint, secret_id=creds["secret_id"], secret_key=creds["secret_key"])
        assert call(kms, "ListKeys").TotalCount == 1
        other = make_client(proc.endpoint, secret_id="AKIDother0000000000000000000000000000", secret_key="otherSecret")
        expect_error("AuthFailure.SecretIdNotFound", other, "ListKeys")
        proc.stop()
        log = proc.log_path.read_text()
        assert creds["secret_key"] not in log, "the secret never reaches the log"
        assert "root-credentials.json" in log
    finally:
        proc.cleanup()


def test_root_credentials_from_the_environment_are_not_written(fresh_server):
    fresh_server.start()
    assert not (fresh_server.data_dir / "root-credentials.json").exists()
    assert SECRET_KEY not in fresh_server.log_path.read_text()
    for name in ("kms.redb", "root.key"):
        assert SECRET_KEY.encode() not in (fresh_server.data_dir / name).read_bytes()


def test_sigterm_and_sigint_exit_cleanly(fresh_server):
    for sig in (signal.SIGTERM, signal.SIGINT):
        fresh_server.start()
        assert fresh_server.stop(sig) == 0
