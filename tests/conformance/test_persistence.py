"""Persistence: keys and ciphertexts survive a graceful restart and a kill -9 in the middle of a
concurrent write load; the root account's first-start bootstrap and its credentials file."""

import base64
import json
import os
import re
import signal
import stat
import threading
import time
import uuid

import requests
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from conftest import (PROJECT_ID, SECRET_ID, SECRET_KEY, KmsdProcess, b64, call, create_key, expect_error,
                      make_client)

ROOT_ENV_UNSET = {"KMSD_ROOT_SECRET_ID": None, "KMSD_ROOT_SECRET_KEY": None, "KMSD_ROOT_PROJECT_ID": None}


def decrypt(kms, blob, **extra):
    return base64.b64decode(call(kms, "Decrypt", CiphertextBlob=blob, **extra).Plaintext)


def log_since(proc, offset):
    return proc.log_path.read_bytes()[offset:].decode(errors="replace")


def assert_clean_start(text):
    """The part of the log written by one start shows a clean open of the store."""
    assert "kmsd is serving" in text, text
    for bad in ("ERROR", "panicked", "corrupt", "repair"):
        assert bad not in text, f"{bad!r} in the log of a restart:\n{text}"


class Load:
    """A few threads that each loop CreateKey then Encrypt, recording every answered success."""

    def __init__(self, proc, threads=4):
        self.proc = proc
        self.keys = []          # (key_id, alias) whose CreateKey was answered with success
        self.blobs = []         # (key_id, blob, plaintext, context) whose Encrypt was answered
        self.vendor_errors = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True) for n in range(threads)]

    def run(self, n):
        kms = self.proc.client()
        i = 0
        while not self.stop.is_set():
            i += 1
            alias = f"load-{n}-{i}-{uuid.uuid4().hex[:6]}"
            try:
                key_id = call(kms, "CreateKey", Alias=alias, Description=f"thread {n}").KeyId
                with self.lock:
                    self.keys.append((key_id, alias))
                for j in range(2):
                    plaintext = os.urandom(24)
                    context = json.dumps({"thread": str(n), "i": str(i), "j": str(j)})
                    blob = call(kms, "Encrypt", KeyId=key_id, Plaintext=b64(plaintext),
                                EncryptionContext=context).CiphertextBlob
                    with self.lock:
                        self.blobs.append((key_id, blob, plaintext, context))
            except TencentCloudSDKException as e:
                if e.code == "ClientNetworkError":
                    return  # the server went away: this call was not answered
                with self.lock:
                    self.vendor_errors.append((e.code, e.message))
                return
            except OSError:
                return

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "a load thread hung"


def verify_acknowledged(kms, load):
    for key_id, alias in load.keys:
        meta = call(kms, "DescribeKey", KeyId=key_id).KeyMetadata
        assert (meta.KeyId, meta.Alias, meta.KeyState) == (key_id, alias, "Enabled")
    for key_id, blob, plaintext, context in load.blobs:
        dec = call(kms, "Decrypt", CiphertextBlob=blob, EncryptionContext=context)
        assert dec.KeyId == key_id
        assert base64.b64decode(dec.Plaintext) == plaintext


# ---- restarts ----

def test_graceful_restart_keeps_keys_states_and_ciphertexts(fresh_server):
    kms = fresh_server.start().client()
    plain = create_key(kms, Description="plain", Tags=[{"TagKey": "team", "TagValue": "persist"}])
    disabled = create_key(kms, Description="disabled")
    archived = create_key(kms, Description="archived")
    rotated = create_key(kms, Description="rotated")
    pending = create_key(kms, Description="pending")

    blob = call(kms, "Encrypt", KeyId=plain.KeyId, Plaintext=b64(b"restart me"),
                EncryptionContext='{"k":"v"}').CiphertextBlob
    archived_blob = call(kms, "Encrypt", KeyId=archived.KeyId, Plaintext=b64(b"arch")).CiphertextBlob
    before_rotation = call(kms, "Encrypt", KeyId=rotated.KeyId, Plaintext=b64(b"v1")).CiphertextBlob
    call(kms, "RotateKey", KeyId=rotated.KeyId)
    after_rotation = call(kms, "Encrypt", KeyId=rotated.KeyId, Plaintext=b64(b"v2")).CiphertextBlob
    call(kms, "EnableKeyRotation", KeyId=rotated.KeyId, RotateDays=30)
    data_key = call(kms, "GenerateDataKey", KeyId=plain.KeyId, KeySpec="AES_256")
    call(kms, "DisableKey", KeyId=disabled.KeyId)
    call(kms, "ArchiveKey", KeyId=archived.KeyId)
    call(kms, "DisableKey", KeyId=pending.KeyId)
    deletion = call(kms, "ScheduleKeyDeletion", KeyId=pending.KeyId, PendingWindowInDays=7)

    offset = fresh_server.log_path.stat().st_size
    assert fresh_server.stop() == 0, "SIGTERM exits 0"
    kms = fresh_server.start().client()
    assert_clean_start(log_since(fresh_server, offset))

    meta = call(kms, "DescribeKey", KeyId=plain.KeyId).KeyMetadata
    assert (meta.Alias, meta.Description, meta.KeyState, meta.CreateTime) == \
        (plain.Alias, "plain", "Enabled", plain.CreateTime)
    assert decrypt(kms, blob, EncryptionContext='{"k":"v"}') == b"restart me"
    expect_error("InvalidParameterValue.InvalidCiphertext", kms, "Decrypt", CiphertextBlob=blob)
    assert decrypt(kms, data_key.CiphertextBlob) == base64.b64decode(data_key.Plaintext)
    tagged = call(kms, "ListKeyDetail", TagFilters=[{"TagKey": "team", "TagValue": ["persist"]}])
    assert [k.KeyId for k in tagged.KeyMetadatas] == [plain.KeyId]

    assert call(kms, "DescribeKey", KeyId=disabled.KeyId).KeyMetadata.KeyState == "Disabled"
    assert call(kms, "DescribeKey", KeyId=archived.KeyId).KeyMetadata.KeyState == "Archived"
    assert decrypt(kms, archived_blob) == b"arch"
    pending_meta = call(kms, "DescribeKey", KeyId=pending.KeyId).KeyMetadata
    assert pending_meta.KeyState == "PendingDelete"
    assert pending_meta.DeletionDate == deletion.DeletionDate

    assert decrypt(kms, before_rotation) == b"v1"
    assert decrypt(kms, after_rotation) == b"v2"
    assert call(kms, "GetKeyRotationStatus", KeyId=rotated.KeyId).KeyRotationEnabled is True
    rotated_meta = call(kms, "DescribeKey", KeyId=rotated.KeyId).KeyMetadata
    assert (rotated_meta.KeyRotationEnabled, rotated_meta.RotateDays) == (True, 30)
    assert rotated_meta.LastRotateTime and rotated_meta.LastRotateTime > 0
    # the alias stays taken; ListKeys shows the Enabled, Disabled and PendingImport keys, exactly
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "CreateKey", Alias=plain.Alias)
    listed = call(kms, "ListKeys", Limit=200)
    assert listed.TotalCount == 3
    assert {k.KeyId for k in listed.Keys} == {plain.KeyId, disabled.KeyId, rotated.KeyId}


def test_sigterm_under_load_exits_0_and_keeps_every_answered_write(fresh_server):
    fresh_server.start()
    with Load(fresh_server) as load:
        time.sleep(1.0)
        assert fresh_server.stop(signal.SIGTERM) == 0, "SIGTERM exits 0 even with requests in flight"
    assert not load.vendor_errors, load.vendor_errors
    assert len(load.keys) >= 4 and len(load.blobs) >= 4, "the load ran"
    offset = fresh_server.log_path.stat().st_size
    kms = fresh_server.start().client()
    assert_clean_start(log_since(fresh_server, offset))
    verify_acknowledged(kms, load)


def test_kill_9_during_concurrent_writes_loses_nothing_answered(fresh_server):
    """32 clients at once, so the store commits many writes together when it is killed."""
    fresh_server.start()
    seen_keys, seen_blobs = [], []
    clients = 32
    for cycle in range(2):
        with Load(fresh_server, threads=clients) as load:
            time.sleep(1.5)
            code = fresh_server.kill()
            assert code == -signal.SIGKILL
        assert not load.vendor_errors, load.vendor_errors
        assert len(load.keys) >= 8, f"cycle {cycle}: the load ran long enough to matter ({len(load.keys)} keys)"
        seen_keys += load.keys
        seen_blobs += load.blobs

        offset = fresh_server.log_path.stat().st_size
        kms = fresh_server.start().client()
        assert_clean_start(log_since(fresh_server, offset))
        assert requests.get(fresh_server.url + "/healthz", timeout=5).status_code == 200
        everything = Load(fresh_server)
        everything.keys, everything.blobs = seen_keys, seen_blobs
        verify_acknowledged(kms, everything)
        listed = call(kms, "ListKeys", Limit=200)
        total = listed.TotalCount
        # a CreateKey in flight at the kill may or may not have committed, but nothing answered is lost
        assert len(seen_keys) <= total <= len(seen_keys) + clients * (cycle + 1)
        ids = set()
        for page_start in range(0, total, 200):
            ids |= {k.KeyId for k in call(kms, "ListKeys", Offset=page_start, Limit=200).Keys}
        assert {k for k, _ in seen_keys} <= ids

    # the recovered store takes new writes, and aliases stay unique
    kms = fresh_server.client()
    key = create_key(kms, Description="after crash")
    blob = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"fine")).CiphertextBlob
    assert decrypt(kms, blob) == b"fine"
    expect_error("InvalidParameterValue.AliasAlreadyExists", kms, "CreateKey", Alias=seen_keys[0][1])
    assert fresh_server.stop() == 0


# ---- root account bootstrap ----

def test_first_start_without_env_credentials_writes_root_credentials(tmp_path):
    proc = KmsdProcess(data_dir=tmp_path / "data", env=ROOT_ENV_UNSET)
    try:
        proc.start()
        path = proc.data_dir / "root-credentials.json"
        assert path.is_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        creds = json.loads(path.read_text())
        assert {"secret_id", "secret_key", "project_id"} <= set(creds)
        assert isinstance(creds["secret_id"], str) and len(creds["secret_id"]) >= 8
        assert isinstance(creds["secret_key"], str) and len(creds["secret_key"]) >= 16
        assert re.fullmatch(r"[0-9a-f]{32}", creds["project_id"]), creds["project_id"]
        assert creds["secret_id"] != SECRET_ID and creds["secret_key"] != SECRET_KEY

        kms = make_client(proc.endpoint, secret_id=creds["secret_id"], secret_key=creds["secret_key"])
        key = create_key(kms, Description="root")
        assert key.KeyState == "Enabled"
        blob = call(kms, "Encrypt", KeyId=key.KeyId, Plaintext=b64(b"bootstrap")).CiphertextBlob
        assert decrypt(kms, blob) == b"bootstrap"
        legacy = make_client(proc.endpoint, sign_method="HmacSHA256", secret_id=creds["secret_id"],
                             secret_key=creds["secret_key"])
        assert call(legacy, "DescribeKey", KeyId=key.KeyId).KeyMetadata.Description == "root"
        # the conformance credentials do not exist on this server; the right id with a wrong key fails
        expect_error("AuthFailure.SecretIdNotFound", proc.client(), "ListKeys")
        expect_error("AuthFailure.SignatureFailure",
                     make_client(proc.endpoint, secret_id=creds["secret_id"], secret_key="wrong"), "ListKeys")
        assert proc.stop() == 0
        before_bytes = path.read_bytes()
        before_stat = path.stat()

        # restart with different credentials in the environment: the store is the source of truth
        other_id, other_key = "AKIDdifferent000000000000000000000000", "differentSecretKey000000000000000"
        proc.extra_env = {"KMSD_ROOT_SECRET_ID": other_id, "KMSD_ROOT_SECRET_KEY": other_key,
                          "KMSD_ROOT_PROJECT_ID": PROJECT_ID}
        proc.start()
        after_stat = path.stat()
        assert path.read_bytes() == before_bytes
        assert (after_stat.st_ino, after_stat.st_mtime_ns) == (before_stat.st_ino, before_stat.st_mtime_ns), \
            "the credentials file is not rewritten"
        assert stat.S_IMODE(after_stat.st_mode) == 0o600
        kms = make_client(proc.endpoint, secret_id=creds["secret_id"], secret_key=creds["secret_key"])
        listed = call(kms, "ListKeys")
        assert listed.TotalCount == 1 and [k.KeyId for k in listed.Keys] == [key.KeyId]
        assert decrypt(kms, blob) == b"bootstrap"
        expect_error("AuthFailure.SecretIdNotFound",
                     make_client(proc.endpoint, secret_id=other_id, secret_key=other_key), "ListKeys")

        # and once more with no environment credentials at all
        assert proc.stop() == 0
        proc.extra_env = dict(ROOT_ENV_UNSET)
        proc.start()
        assert path.read_bytes() == before_bytes
        assert call(make_client(proc.endpoint, secret_id=creds["secret_id"], secret_key=creds["secret_key"]),
                    "ListKeys").TotalCount == 1
        assert proc.stop() == 0

        log = proc.log_path.read_text(errors="replace")
        assert creds["secret_key"] not in log, "the secret key never reaches the log"
        assert other_key not in log
        assert [p.name for p in proc.data_dir.iterdir() if p.name.startswith("root-credentials")] == \
            ["root-credentials.json"]
    finally:
        proc.cleanup()


def test_partial_env_credentials_still_write_the_file(tmp_path):
    """Only the project id given: the pair is generated and written, with the given project id."""
    env = dict(ROOT_ENV_UNSET, KMSD_ROOT_PROJECT_ID=PROJECT_ID)
    proc = KmsdProcess(data_dir=tmp_path / "data", env=env)
    try:
        proc.start()
        path = proc.data_dir / "root-credentials.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        creds = json.loads(path.read_text())
        assert creds["project_id"] == PROJECT_ID
        kms = make_client(proc.endpoint, secret_id=creds["secret_id"], secret_key=creds["secret_key"])
        assert call(kms, "ListKeys").TotalCount == 0
        assert proc.stop() == 0
        assert creds["secret_key"] not in proc.log_path.read_text(errors="replace")
    finally:
        proc.cleanup()


def test_env_credentials_work_and_are_not_written_or_logged(fresh_server):
    kms = fresh_server.start().client()
    create_key(kms)
    assert not (fresh_server.data_dir / "root-credentials.json").exists()
    assert fresh_server.stop() == 0
    assert SECRET_KEY not in fresh_server.log_path.read_text(errors="replace")
