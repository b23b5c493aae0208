"""`kmsd backup`, `kmsd backup verify` and `kmsd restore`, driven through the vendors' SDKs (keys
of several kinds, SM4 among them, a hosted data key, aliases, a Huawei grant, a sub-account
credential): a backup taken from a running server while a client keeps creating keys holds every
key acknowledged before it began and a prefix of the ones made meanwhile; restored into a new data
dir and into a new PostgreSQL database and served with the same root key file, old ciphertext
decrypts, signatures verify, the sub-account credential signs in, the grant holds, and what was
made or deleted after the backup is gone or back. A truncated or tampered backup, a wrong root
key and a non-empty target are refused before anything is written."""

import base64
import json
import os
import struct
import subprocess
import threading
import time

import pytest
import requests
from huaweicloudsdkkms.v2 import model as m
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

from conftest import KMSD_BIN, KmsdProcess, call, create_key, expect_error, unique_alias
from huawei import huawei_client
from test_cluster import Database, everything_works, make_everything

NOT_FOUND = "ResourceUnavailable.CmkNotFound"


def kmsd(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSD_")}
    return subprocess.run([KMSD_BIN, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


def backup_of(server, to, token_file=None):
    done = kmsd("backup", "--to", to, "--endpoint", server.url,
                "--token-file", token_file or server.data_dir / "admin-token")
    assert done.returncode == 0, done.stderr
    assert "backed up" in done.stdout
    return to


def restored(file, target, key_file):
    """Restores `file` into the data dir `target` and starts a server on it with `key_file`."""
    done = kmsd("restore", "--from", file, "--data-dir", target, "--root-key-file", key_file)
    assert done.returncode == 0, done.stderr
    return KmsdProcess(data_dir=target, extra_args=["--root-key-file", str(key_file)]).start()


class KeyMaker:
    """Creates keys one after another on a thread of its own, remembering each acknowledged one
    in order, until stopped."""

    def __init__(self, server):
        self.client = server.client()
        self.acknowledged = []
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.halt.is_set():
            self.acknowledged.append(create_key(self.client).KeyId)

    def __enter__(self):
        self.thread.start()
        while len(self.acknowledged) < 5:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    """A served store with everything in it, backed up while keys were being created, and what
    happened after the backup."""
    tmp = tmp_path_factory.mktemp("backup")
    source = KmsdProcess(data_dir=tmp / "source").start()
    try:
        made = make_everything(source, tmp)
        kms = source.client()
        hw = huawei_client(source.endpoint)
        made["huawei_blob"] = hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
            key_id=made["sym"], plain_text="through huawei"))).cipher_text
        sm4 = hw.create_key(m.CreateKeyRequest(body=m.CreateKeyRequestBody(
            key_alias=unique_alias("sm4"), key_spec="SM4"))).key_info.key_id
        made["sm4_blob"] = hw.encrypt_data(m.EncryptDataRequest(body=m.EncryptDataRequestBody(
            key_id=sm4, plain_text="under sm4", encryption_algorithm="SM4"))).cipher_text
        doomed = create_key(kms).KeyId
        with KeyMaker(source) as maker:
            before = list(maker.acknowledged)
            file = backup_of(source, tmp / "store.kmsbackup")
        after_backup = list(maker.acknowledged)
        late = create_key(kms).KeyId
        late_blob = call(kms, "Encrypt", KeyId=late, Plaintext=base64.b64encode(b"late").decode()).CiphertextBlob
        call(kms, "DisableKey", KeyId=doomed)
        call(kms, "ScheduleKeyDeletion", KeyId=doomed, PendingWindowInDays=7)
        yield {
            "source": source, "made": made, "file": file, "before": before, "during": after_backup,
            "late": late, "late_blob": late_blob, "doomed": doomed, "key_file": source.data_dir / "root.key",
            "tmp": tmp,
        }
    finally:
        source.cleanup()


def check_restored(node, drill):
    everything_works(node, drill["made"])
    kms = node.client()
    hw = huawei_client(node.endpoint)
    plain = hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(
        cipher_text=drill["made"]["huawei_blob"]))).plain_text
    assert plain == "through huawei"
    sm4 = hw.decrypt_data(m.DecryptDataRequest(body=m.DecryptDataRequestBody(
        cipher_text=drill["made"]["sm4_blob"]))).plain_text
    assert sm4 == "under sm4"
    for key_id in drill["before"]:
        assert call(kms, "DescribeKey", KeyId=key_id).KeyMetadata.KeyState == "Enabled"
    # One client made the keys one after another: the snapshot holds a prefix of them.
    present = []
    for key_id in drill["during"]:
        try:
            call(kms, "DescribeKey", KeyId=key_id)
            present.append(key_id)
        except TencentCloudSDKException as e:
            assert e.code == NOT_FOUND, e
    assert present == drill["during"][:len(present)], "the backup is one consistent state"
    assert len(present) >= len(drill["before"])
    # After the backup: a key made then is gone with what it encrypted; a key whose deletion
    # was scheduled then is back as it was.
    expect_error(NOT_FOUND, kms, "DescribeKey", KeyId=drill["late"])
    expect_error(NOT_FOUND, kms, "Decrypt", CiphertextBlob=drill["late_blob"])
    assert call(kms, "DescribeKey", KeyId=drill["doomed"]).KeyMetadata.KeyState == "Enabled"


def test_verify_accepts_the_backup_and_names_what_it_holds(drill):
    done = kmsd("backup", "verify", drill["file"])
    assert done.returncode == 0, done.stderr
    assert "is intact" in done.stdout and "from the embedded store" in done.stdout
    assert oct(os.stat(drill["file"]).st_mode & 0o777) == "0o600"
    assert not [p for p in drill["tmp"].iterdir() if ".partial-" in p.name]
    data = drill["file"].read_bytes()
    assert data.startswith(b"KMSDBKUP\x00\x01")
    # Sealed stays sealed: no secret of the root account or of the sub-account credential.
    assert drill["made"]["credential"]["secret_key"].encode() not in data
    assert b"conformanceSecretKey" not in data


def test_a_restore_into_a_new_data_dir_serves_everything_from_before_the_backup(drill):
    target = drill["tmp"] / "restored"
    done = kmsd("restore", "--from", drill["file"], "--data-dir", target,
                "--root-key-file", drill["key_file"])
    assert done.returncode == 0, done.stderr
    assert "restored" in done.stdout and "--root-key-file" in done.stdout
    assert not (target / "root.key").exists(), "the root of trust is not in the backup"
    node = KmsdProcess(data_dir=target, extra_args=["--root-key-file", str(drill["key_file"])]).start()
    try:
        check_restored(node, drill)
    finally:
        node.stop()
    again = kmsd("restore", "--from", drill["file"], "--data-dir", target,
                 "--root-key-file", drill["key_file"])
    assert again.returncode != 0 and "is not empty" in again.stderr
    node.cleanup()


def test_a_restore_into_a_new_postgres_database_serves_everything_from_before_the_backup(drill):
    db = Database()
    try:
        missing_key = kmsd("restore", "--from", drill["file"], "--store", db.url)
        assert missing_key.returncode != 0 and "--root-key-file is needed" in missing_key.stderr
        done = kmsd("restore", "--from", drill["file"], "--store", db.url,
                    "--root-key-file", drill["key_file"])
        assert done.returncode == 0, done.stderr
        node = KmsdProcess(extra_args=["--store", db.url, "--root-key-file", str(drill["key_file"])]).start()
        try:
            check_restored(node, drill)
            # The restored store keeps the source's operator token (its hash is in the store),
            # and a backup of it through its node says where it came from.
            file = backup_of(node, drill["tmp"] / "postgres.kmsbackup",
                             drill["source"].data_dir / "admin-token")
            verified = kmsd("backup", "verify", file)
            assert verified.returncode == 0 and "from the postgres store" in verified.stdout
        finally:
            node.cleanup()
    finally:
        db.drop()


def test_a_stopped_data_dir_is_backed_up_and_a_held_one_refused(drill, tmp_path):
    server = KmsdProcess(data_dir=tmp_path / "stopped").start()
    key = create_key(server.client()).KeyId
    held = kmsd("backup", "--to", tmp_path / "held.kmsbackup", "--data-dir", server.data_dir)
    assert held.returncode != 0 and f"--endpoint http://{server.endpoint}" in held.stderr
    assert not (tmp_path / "held.kmsbackup").exists()
    server.stop()
    file = tmp_path / "stopped.kmsbackup"
    done = kmsd("backup", "--to", file, "--data-dir", server.data_dir)
    assert done.returncode == 0, done.stderr
    node = restored(file, tmp_path / "back", server.data_dir / "root.key")
    try:
        assert call(node.client(), "DescribeKey", KeyId=key).KeyMetadata.KeyId == key
    finally:
        node.cleanup()
        server.cleanup()


def test_the_backup_endpoint_needs_the_operator_token(drill):
    url = drill["source"].url + "/admin/v1/backup"
    assert requests.get(url, timeout=10).status_code == 401
    wrong = requests.get(url, headers={"Authorization": "Bearer kmsadm-wrong"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "Unauthorized"
    token = (drill["source"].data_dir / "admin-token").read_text().strip()
    good = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert good.status_code == 200
    assert good.headers["content-type"] == "application/octet-stream"
    assert good.content.startswith(b"KMSDBKUP")


def test_a_backup_is_audited_as_the_operators(tmp_path):
    audit_path = tmp_path / "audit.jsonl"
    server = KmsdProcess(data_dir=tmp_path / "audited", extra_args=["--audit-log", str(audit_path)]).start()
    try:
        backup_of(server, tmp_path / "audited.kmsbackup")
        records = [json.loads(line) for line in audit_path.read_text().splitlines()]
        backups = [r for r in records if r.get("action") == "Backup"]
        assert len(backups) == 1, records
        assert backups[0]["dialect"] == "admin" and backups[0]["outcome"] == "ok"
        assert backups[0]["credential_id"] == "operator-token"
    finally:
        server.cleanup()


def refused_restore(drill, file, key_file=None):
    """Restores `file` into a fresh data dir; asserts it is refused and nothing was written."""
    target = drill["tmp"] / f"refused-{time.monotonic_ns()}"
    done = kmsd("restore", "--from", file, "--data-dir", target,
                "--root-key-file", key_file or drill["key_file"])
    assert done.returncode != 0
    assert not target.exists(), "a refused restore writes nothing"
    return done.stderr


def test_a_truncated_backup_is_refused_by_verify_and_restore(drill):
    data = drill["file"].read_bytes()
    for cut in (0, 7, 12, 40, len(data) // 2, len(data) - 33, len(data) - 1):
        short = drill["tmp"] / f"cut-{cut}"
        short.write_bytes(data[:cut])
        done = kmsd("backup", "verify", short)
        assert done.returncode != 0
        assert "is not an intact backup" in done.stderr and "truncated" in done.stderr, done.stderr
    assert "truncated" in refused_restore(drill, drill["tmp"] / f"cut-{len(data) // 2}")


def test_a_tampered_backup_is_refused_by_verify_and_restore(drill):
    data = bytearray(drill["file"].read_bytes())
    at = data.index(drill["made"]["sym"].encode())
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    tampered = drill["tmp"] / "tampered"
    tampered.write_bytes(bytes(data))
    done = kmsd("backup", "verify", tampered)
    assert done.returncode != 0 and "digest does not match" in done.stderr, done.stderr
    assert "digest does not match" in refused_restore(drill, tampered)
    extra = drill["tmp"] / "extra"
    extra.write_bytes(drill["file"].read_bytes() + b"\n")
    assert "bytes follow the digest" in kmsd("backup", "verify", extra).stderr
    later = bytearray(drill["file"].read_bytes())
    later[8:10] = struct.pack(">H", 2)
    version = drill["tmp"] / "version"
    version.write_bytes(bytes(later))
    assert "format version is 2" in refused_restore(drill, version)
    notes = drill["tmp"] / "notes.txt"
    notes.write_text("not a backup\n")
    assert "not a kmsd backup file" in kmsd("backup", "verify", notes).stderr


def test_another_root_key_is_refused_before_anything_is_written(drill, tmp_path):
    other = KmsdProcess(data_dir=tmp_path / "other").start()
    other.stop()
    stderr = refused_restore(drill, drill["file"], other.data_dir / "root.key")
    assert "does not open" in stderr
    other.cleanup()


def test_a_restore_after_a_root_key_rotation_decrypts_old_ciphertext(tmp_path):
    """Backups on either side of `kmsd admin root-key rotate`, each restored with the same key
    file: the one taken before holds the old keyring, the one after the new; both decrypt."""
    source = KmsdProcess(data_dir=tmp_path / "source").start()
    try:
        kms = source.client()
        key = create_key(kms).KeyId
        blob = call(kms, "Encrypt", KeyId=key, Plaintext=base64.b64encode(b"old").decode()).CiphertextBlob
        before = backup_of(source, tmp_path / "before.kmsbackup")
        rotated = kmsd("admin", "--endpoint", source.url, "--token-file",
                       source.data_dir / "admin-token", "root-key", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        after = backup_of(source, tmp_path / "rotated.kmsbackup")
        for name, file in (("before", before), ("after", after)):
            node = restored(file, tmp_path / f"restored-{name}", source.data_dir / "root.key")
            try:
                plain = call(node.client(), "Decrypt", CiphertextBlob=blob).Plaintext
                assert base64.b64decode(plain) == b"old", name
            finally:
                node.cleanup()
    finally:
        source.cleanup()


def test_a_shamir_store_restores_without_its_shares_and_opens_with_them(tmp_path):
    import test_shamir
    shares = test_shamir.init(tmp_path / "source", 3, 2)
    source = KmsdProcess(data_dir=tmp_path / "source", extra_args=["--seal", "shamir"]).start(ready_status=503)
    try:
        for share in shares[:2]:
            test_shamir.unseal(source, share)
        kms = source.client()
        key = create_key(kms).KeyId
        blob = call(kms, "Encrypt", KeyId=key, Plaintext=base64.b64encode(b"shared").decode()).CiphertextBlob
        file = backup_of(source, tmp_path / "shamir.kmsbackup")
        token = tmp_path / "admin-token"
        token.write_bytes((source.data_dir / "admin-token").read_bytes())
    finally:
        source.cleanup()
    target = tmp_path / "restored"
    done = kmsd("restore", "--from", file, "--data-dir", target)
    assert done.returncode == 0, done.stderr
    assert "--seal shamir" in done.stdout + done.stderr
    assert not (target / "root.key").exists(), "a Shamir store gets no key file"
    node = KmsdProcess(data_dir=target, extra_args=["--seal", "shamir"]).start(ready_status=503)
    try:
        test_shamir.assert_sealed(node)
        for share in shares[1:]:
            test_shamir.unseal(node, share, token_file=token)
        plain = call(node.client(), "Decrypt", CiphertextBlob=blob).Plaintext
        assert base64.b64decode(plain) == b"shared"
    finally:
        node.cleanup()
